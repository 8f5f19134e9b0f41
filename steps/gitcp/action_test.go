package gitcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// writeAction is a stand-in for a files action: it writes a workspace file,
// reports it touched and takes the time a real one would (on the fake
// clock).
type writeAction struct {
	Path    string `yaml:"path"`
	Content string `yaml:"content"`
	Takes   string `yaml:"takes"`
}

func (w *writeAction) Describe(*steps.Env) string { return "write " + w.Path }

func (w *writeAction) Run(_ context.Context, env *steps.Env) error {
	p := filepath.Join(env.Workspace, filepath.FromSlash(w.Path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(w.Content), 0o644); err != nil {
		return err
	}
	env.Touch(w.Path)
	if d, err := time.ParseDuration(w.Takes); err == nil {
		env.Clock.(*steps.FakeClock).Advance(d)
	}
	return nil
}

func testRegistry() *steps.Registry {
	r := steps.NewRegistry()
	Register(r)
	r.Register("test.write", func() steps.Action { return new(writeAction) })
	return r
}

const fixtureRunbook = `id: gitcp-fixture
title: Checkpoint fixture
schedule:
  date: "2025-10-24"
  timezone: UTC
  start: "08:00"
phases:
  - id: item2
    title: "Item 2: TLS/HTTPS"
    slot: "08:00-11:00"
    steps:
      - id: item2-certs
        title: Generate certificates
        budget: 5m
        guide: g.md
        do:
          - test.write: {path: certs/ca.crt, content: "CA certificate\n", takes: 4m12s}
          - test.write: {path: nginx/nginx.conf, content: "listen 443 ssl;\n"}
        undo:
          - git.restore: {}
`

func parseFixture(t *testing.T, src string) (*runbooks.Runbook, error) {
	t.Helper()
	return runbooks.Parse([]byte(src), "fixture.yaml", nil, runbooks.LoadOptions{
		Actions: testRegistry(),
		Guides:  fstest.MapFS{"g.md": {Data: []byte("# Guide\n\nText.\n")}},
	})
}

func TestRestoreActionYAML(t *testing.T) {
	rb, err := parseFixture(t, strings.Replace(fixtureRunbook, "git.restore: {}", "git.restore: {step: item2-certs, paths: [nginx/]}", 1))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := rb.Phases[0].Steps[0].Undo[0].Params.(*RestoreAction)
	if !ok || a.Step != "item2-certs" || !slices.Equal(a.Paths, []string{"nginx/"}) {
		t.Fatalf("decoded %#v", rb.Phases[0].Steps[0].Undo[0].Params)
	}
	for _, tc := range []struct{ change, want string }{
		{"git.restore: {pathz: [nginx/]}", `fixture.yaml:20:27: git.restore: unknown field "pathz"`},
		{"git.restore: {paths: nginx/}", "fixture.yaml:20:34: git.restore: string was used where sequence is expected"},
		{"git.restore: {paths: [../etc/]}", `fixture.yaml:20:13: git.restore: paths: "../etc/" is not a path inside the workspace`},
	} {
		_, err := parseFixture(t, strings.Replace(fixtureRunbook, "git.restore: {}", tc.change, 1))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.change, err, tc.want)
		}
	}
}

// TestSessionCheckpointsAndUndoes drives the engine's session with this
// package as its checkpointer: the step's checkpoint commits its files and
// the journal with the step's time, the phase is tagged, and the undo
// (git.restore) puts the files back and is committed in turn.
func TestSessionCheckpointsAndUndoes(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"nginx/nginx.conf": "listen 80;\n"})
	state := t.TempDir()
	rb, err := parseFixture(t, fixtureRunbook)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := Open(dir, WithRunbook(rb.ID), WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	clock := steps.NewFakeClock(t0)
	var out []string
	s, err := steps.Open(steps.Options{
		Runbook: rb, StateDir: state, Workspace: dir, Clock: clock, Operator: "tester",
		Checkpointer: repo, Output: func(_, line string) { out = append(out, line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Start(ctx, "item2-certs"); err != nil {
		t.Fatal(err)
	}
	st := s.Snapshot().Step("item2-certs")
	if st.Status != steps.Succeeded || st.Commit == "" {
		t.Fatalf("step %s, checkpoint %q", st.Status, st.Commit)
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")); got != st.Commit {
		t.Errorf("journaled checkpoint %s, HEAD %s", st.Commit, got)
	}
	if got := git(t, dir, "log", "-1", "--format=%s"); got != "runbook: item2-certs Generate certificates — succeeded in 4m12s of 5m\n" {
		t.Errorf("subject %q", got)
	}
	if got := git(t, dir, "show", "--name-status", "--format=", "HEAD"); got != "A\t.runbook-journal/gitcp-fixture.journal\nA\tcerts/ca.crt\nM\tnginx/nginx.conf\n" {
		t.Errorf("checkpoint holds:\n%s", got)
	}
	// The committed journal is the journal up to the step's success (the
	// checkpoint record itself follows the commit).
	committed := git(t, dir, "show", "HEAD:.runbook-journal/gitcp-fixture.journal")
	live, err := os.ReadFile(s.JournalFile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(live), committed) || len(committed) == 0 || len(live) == len(committed) {
		t.Errorf("committed journal (%d bytes) is not a proper prefix of the live one (%d bytes)", len(committed), len(live))
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "runbook/gitcp-fixture/item2^{commit}")); got != st.Commit {
		t.Errorf("phase tag at %s", got)
	}

	clock.Advance(time.Minute)
	if err := s.Undo(ctx, "item2-certs"); err != nil {
		t.Fatal(err)
	}
	st = s.Snapshot().Step("item2-certs")
	if st.Status != steps.Undone {
		t.Fatalf("after undo: %s", st.Status)
	}
	if exists(dir, "certs/ca.crt") || read(t, dir, "nginx/nginx.conf") != "listen 80;\n" {
		t.Error("undo did not restore the workspace")
	}
	if got := git(t, dir, "log", "-1", "--format=%s"); got != "runbook: undo item2-certs Generate certificates — undone\n" {
		t.Errorf("undo subject %q", got)
	}
	if got := git(t, dir, "show", "--name-status", "--format=", "HEAD"); got != "M\t.runbook-journal/gitcp-fixture.journal\nD\tcerts/ca.crt\nM\tnginx/nginx.conf\n" {
		t.Errorf("undo checkpoint holds:\n%s", got)
	}
	if got := porcelain(t, dir); got != "" {
		t.Errorf("status after the undo:\n%s", got)
	}
	if !slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, "restored certs/ca.crt") }) {
		t.Errorf("undo output:\n%s", strings.Join(out, "\n"))
	}
	assertConsistent(t, dir)
}

func TestRestoreActionRun(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"app/config.ini": "password = " + plantedPassword + "\n"})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "app/config.ini", "password = [from a secret file]\n")
	if _, err := r.Commit(context.Background(), request(0, time.Minute, "app/config.ini")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	env := &steps.Env{Out: &buf, Workspace: dir, Step: "item2-certs", Touched: new(steps.PathSet), Redact: steps.NewRedactor()}
	a := &RestoreAction{}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := a.Describe(env); !strings.Contains(d, "step item2-certs's last checkpoint") || !strings.Contains(d, dir) {
		t.Errorf("Describe = %q", d)
	}
	if err := a.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if got := env.Touched.List(); !slices.Equal(got, []string{"app/config.ini"}) {
		t.Errorf("touched %v", got)
	}
	if !strings.Contains(read(t, dir, "app/config.ini"), plantedPassword) {
		t.Error("file not restored")
	}
	if strings.Contains(buf.String(), plantedPassword) || !strings.Contains(buf.String(), "restored app/config.ini") {
		t.Errorf("output:\n%s", buf.String())
	}

	// No workspace; a step without a checkpoint.
	err = a.Run(context.Background(), &steps.Env{Step: "x"})
	if err == nil || !strings.Contains(err.Error(), "needs a workspace repository") {
		t.Errorf("without workspace: %v", err)
	}
	err = (&RestoreAction{Step: "nope"}).Run(context.Background(), env)
	if !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("unknown step: %v", err)
	}
}

func TestRunbookOf(t *testing.T) {
	state := t.TempDir()
	env := &steps.Env{StateDir: state, Step: "s1", SaveDir: filepath.Join(steps.RunDir(state, "rb-1"), "saved", "s1")}
	if got := runbookOf(env); got != "rb-1" {
		t.Errorf("runbookOf = %q", got)
	}
	env.SaveDir = filepath.Join(state, "elsewhere")
	if got := runbookOf(env); got != "" {
		t.Errorf("runbookOf(unknown layout) = %q", got)
	}
}

func ExampleFormatDuration() {
	fmt.Println(FormatDuration(4*time.Minute+12*time.Second), FormatDuration(5*time.Minute), FormatDuration(90*time.Minute))
	// Output: 4m12s 5m 1h30m
}
