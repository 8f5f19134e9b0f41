package runbooks_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/shell"
)

// These tests run the embedded runbook's shell actions for real, with the
// host's tools (git, openssl, grep, find; docker, python3 and curl for the
// environment check), against files made exactly as the guides say. They
// prove that what a guide tells the operator to do passes the step's
// verify, and that the verify catches the mistake it is there for.

// needTools skips when a tool is missing, unless the environment promises
// the full set (RUNBOOK_REQUIRE_SERVICES), where a missing tool is a failure.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
				t.Fatalf("RUNBOOK_REQUIRE_SERVICES is set but %s is not on PATH: %v", tool, err)
			}
			t.Skipf("%s not on PATH (set RUNBOOK_REQUIRE_SERVICES to make this a failure)", tool)
		}
	}
}

// codeBlocks returns the fenced code blocks of a guide section whose info
// string is lang, in order.
func codeBlocks(t *testing.T, rb *runbooks.Runbook, ref, lang string) []string {
	t.Helper()
	file, anchor, _ := strings.Cut(ref, "#")
	sec, err := runbooks.GuideSection(rb.Guides, runbooks.GuideRef{File: file, Anchor: anchor})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur *strings.Builder
	for _, line := range strings.Split(sec, "\n") {
		switch {
		case cur == nil && line == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if len(out) == 0 {
		t.Fatalf("guide %s has no %s code block", ref, lang)
	}
	return out
}

type workspace struct {
	t   *testing.T
	dir string
	env *steps.Env
	out *bytes.Buffer
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{t: t, dir: dir, out: &bytes.Buffer{}}
	w.env = &steps.Env{
		Out:       w.out,
		Targets:   steps.Targets{"docker": os.Getenv("DOCKER_HOST"), "workspace": dir},
		Redact:    steps.NewRedactor(),
		Workspace: dir,
	}
	if w.env.Targets["docker"] == "" {
		w.env.Targets["docker"] = "unix:///var/run/docker.sock"
	}
	w.run("git", "init", "-q")
	return w
}

func (w *workspace) run(argv ...string) {
	w.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "STATE="+filepath.Join(w.dir, ".runbook"))
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func (w *workspace) write(rel, content string, mode os.FileMode) {
	w.t.Helper()
	p := filepath.Join(w.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		w.t.Fatal(err)
	}
}

// actions runs a step's list (do or verify) and returns the error of each
// shell action, keyed by its name.
func (w *workspace) actions(list []runbooks.Action) map[string]error {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := map[string]error{}
	for _, a := range list {
		ex, ok := a.Params.(*shell.Exec)
		if !ok {
			continue
		}
		res[a.Name] = ex.Run(ctx, w.env)
	}
	if len(res) == 0 {
		w.t.Fatal("no shell actions to run")
	}
	return res
}

func (w *workspace) wantPass(id string, res map[string]error) {
	w.t.Helper()
	for name, err := range res {
		if err != nil {
			w.t.Errorf("step %s, %q: %v\noutput:\n%s", id, name, err, w.out)
		}
	}
}

func (w *workspace) wantFail(id, name string, res map[string]error) {
	w.t.Helper()
	err, ok := res[name]
	if !ok {
		w.t.Fatalf("step %s has no action %q", id, name)
	}
	if err == nil {
		w.t.Errorf("step %s, %q passed, want a failure", id, name)
	}
}

func step(t *testing.T, rb *runbooks.Runbook, id string) runbooks.Step {
	t.Helper()
	pi, si, ok := rb.StepRef(id)
	if !ok {
		t.Fatalf("no step %s", id)
	}
	return rb.Phases[pi].Steps[si]
}

func TestEmbeddedPhase1CertificatesAsGuided(t *testing.T) {
	needTools(t, "git", "openssl", "find", "sh")
	rb := loadPhase1(t)
	s := step(t, rb, "item2-generate-certificates")
	w := newWorkspace(t)
	w.write(".gitignore", "nginx/certs/*.key\n", 0o644)
	if err := os.MkdirAll(filepath.Join(w.dir, "nginx/certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(w.dir, ".runbook"), 0o700); err != nil {
		t.Fatal(err)
	}
	sh := codeBlocks(t, rb, s.Guide.String(), "sh")
	ext := codeBlocks(t, rb, s.Guide.String(), "text")
	if len(sh) != 2 || len(ext) != 1 {
		t.Fatalf("guide %s: %d sh and %d text blocks, want 2 and 1", s.Guide, len(sh), len(ext))
	}
	w.write("nginx/certs/server.ext", ext[0], 0o644)
	w.run("sh", "-ec", sh[0])
	w.run("sh", "-ec", "cd nginx/certs\n"+sh[1])

	w.wantPass(s.ID, w.actions(s.Verify))

	if err := os.Chmod(filepath.Join(w.dir, "nginx/certs/server.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.wantFail(s.ID, "Private key is mode 0600", w.actions(s.Verify))

	// The commit step's verify: the key must stay out of git.
	c := step(t, rb, "item2-commit-verification")
	w.write("nginx/conf.d/default.conf", "# placeholder\n", 0o644)
	w.run("git", "add", "-A")
	w.run("git", "commit", "-q", "-m", "item 2")
	w.wantPass(c.ID, w.actions(c.Verify))
	w.run("git", "add", "-f", "nginx/certs/server.key")
	w.wantFail(c.ID, "Server key is not tracked", w.actions(c.Verify))
}

func TestEmbeddedPhase1NginxConfigAsGuided(t *testing.T) {
	needTools(t, "git", "grep")
	rb := loadPhase1(t)
	s := step(t, rb, "item2-nginx-configuration")
	w := newWorkspace(t)
	conf := strings.Join(codeBlocks(t, rb, s.Guide.String(), "nginx"), "\n")
	w.write("nginx/conf.d/default.conf", conf, 0o644)
	w.wantPass(s.ID, w.actions(s.Verify))

	w.write("nginx/conf.d/default.conf", strings.Replace(conf, "TLSv1.2 TLSv1.3", "TLSv1.1 TLSv1.2 TLSv1.3", 1), 0o644)
	w.wantFail(s.ID, "TLS 1.2 and 1.3 only", w.actions(s.Verify))
}

func TestEmbeddedPhase1MigrationsAsGuided(t *testing.T) {
	needTools(t, "git", "grep")
	rb := loadPhase1(t)
	s := step(t, rb, "item3-create-migrations")
	w := newWorkspace(t)
	sql := codeBlocks(t, rb, s.Guide.String(), "sql")
	if len(sql) != 2 {
		t.Fatalf("guide %s: %d sql blocks, want 2 (up, down)", s.Guide, len(sql))
	}
	w.write("db/migrations/001_security_extensions.up.sql", sql[0], 0o644)
	w.write("db/migrations/001_security_extensions.down.sql", sql[1], 0o644)
	w.wantPass(s.ID, w.actions(s.Verify))

	w.write("db/migrations/001_security_extensions.up.sql", "CREATE EXTENSION pgcrypto;\n", 0o644)
	w.wantFail(s.ID, "Up migration creates pgaudit", w.actions(s.Verify))
}

func TestEmbeddedPhase1TemplatesAsGuided(t *testing.T) {
	needTools(t, "git", "find")
	rb := loadPhase1(t)
	s := step(t, rb, "item4-create-templates")
	w := newWorkspace(t)
	ignore := codeBlocks(t, rb, s.Guide.String(), "text")
	w.write(".gitignore", ignore[0], 0o644)
	w.wantPass(s.ID, w.actions(s.Verify))

	// The integration step's file check, with the secret written as guided
	// (umask 077).
	i := step(t, rb, "item4-tests-integrate")
	w.write("secrets/db_password", "0123456789abcdef\n", 0o600)
	res := w.actions(i.Verify[:1])
	w.wantPass(i.ID, res)
	if err := os.Chmod(filepath.Join(w.dir, "secrets/db_password"), 0o640); err != nil {
		t.Fatal(err)
	}
	w.wantFail(i.ID, "Secret file is mode 0600", w.actions(i.Verify[:1]))

	w.write(".gitignore", "nginx/certs/*.key\n", 0o644)
	w.wantFail(s.ID, "secrets/ is ignored by git", w.actions(s.Verify))
}

// The environment check of the preparation phase, run for real. It needs a
// Docker engine as well as the tools.
func TestEmbeddedPhase1EnvironmentCheck(t *testing.T) {
	needTools(t, "docker", "openssl", "python3", "curl", "git")
	rb := loadPhase1(t)
	s := step(t, rb, "prep-verify-environment")
	w := newWorkspace(t)
	res := w.actions(s.Do)
	if err := res["Docker engine answers"]; err != nil && os.Getenv("RUNBOOK_REQUIRE_SERVICES") == "" {
		t.Skipf("no Docker engine at %s (set RUNBOOK_REQUIRE_SERVICES to make this a failure): %v", w.env.Targets["docker"], err)
	}
	w.wantPass(s.ID, res)

	// Outside a git repository the last check must fail.
	w.env.Workspace = t.TempDir()
	w.wantFail(s.ID, "Workspace is a git repository", w.actions(s.Do))
}
