package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the runbook binary built once for the tests that drive it as a
// process (crashes, locks, the pseudo-terminal).
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runbook-bin-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "runbook")
	// The crashtest tag arms the fault hooks the crash tests use; the
	// release binary has none.
	if err := goBuild(bin, ".", "crashtest"); err != nil {
		os.RemoveAll(dir)
		panic("build runbook: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goBuild builds pkg into out as `make build` builds the release binary:
// statically, without cgo (CGO_ENABLED=0), so that the tests drive what
// ships; tags are added build tags.
func goBuild(out, pkg string, tags ...string) error {
	args := []string{"build"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	return nil
}

type result struct {
	out, err string
	code     int
}

func runbook(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{o.String(), e.String(), code}
}

// waitFor polls a condition; it fails the test after the deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killProcessesIn kills what still runs in dir: the step processes of a
// runner the test killed with SIGKILL live on, as after a real crash, and
// must not outlive the test (they would hold its files and locks).
func killProcessesIn(t *testing.T, dir string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cwd, err := os.Readlink(filepath.Join(p, "cwd"))
		if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(p)); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func lines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

type crashEnv struct {
	fixture, state, work string
}

func newCrashEnv(t *testing.T) crashEnv {
	t.Helper()
	fixture, err := filepath.Abs("../../testdata/cli/crash.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := crashEnv{fixture: fixture, state: filepath.Join(dir, "state"), work: filepath.Join(dir, "work")}
	if err := os.MkdirAll(e.work, 0o755); err != nil {
		t.Fatal(err)
	}
	// The workspace is a repository: every step ends in a checkpoint there.
	git(t, e.work, "init", "-q")
	git(t, e.work, "commit", "-q", "--allow-empty", "-m", "before")
	// Whatever happens, let an orphaned step process finish.
	t.Cleanup(func() { os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644) })
	return e
}

func (e crashEnv) args(cmd string, extra ...string) []string {
	a := []string{cmd}
	if cmd == "run" {
		a = append(a, "--headless")
	}
	// The fixture is planned for another day: the tests hold the window
	// today, as an operator must say (a new headless run refuses without).
	a = append(a, "-f", e.fixture, "--state", e.state, "--workspace", e.work, "--operator", "tester", "--target", "dir="+e.work, "--date", "today")
	return append(a, extra...)
}

func (e crashEnv) journal(t *testing.T) string {
	data, err := os.ReadFile(filepath.Join(e.state, "crash-test", "journal"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (e crashEnv) status(t *testing.T) statusJSON {
	t.Helper()
	r := runbook(t, nil, e.args("status", "--json")...)
	if r.code != 0 {
		t.Fatalf("status: exit %d: %s", r.code, r.err)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.out)
	}
	return st
}

func TestKillDuringShellStepThenResume(t *testing.T) {
	e := newCrashEnv(t)
	cmd := exec.Command(bin, e.args("run")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(e.work, "marker")
	waitFor(t, "the step to write its marker", func() bool { return lines(t, marker) == 1 })
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no chance to journal
		t.Fatal(err)
	}
	cmd.Wait()

	st := e.status(t)
	if len(st.Dirty) != 1 || st.Dirty[0] != "mark" {
		t.Fatalf("status after kill: dirty = %v, want [mark]\n%+v", st.Dirty, st)
	}
	if st.Lock == nil || st.Lock.Held || st.Lock.Holder != "tester" {
		t.Fatalf("status after kill: lock = %+v, want a stale lock of tester", st.Lock)
	}

	// The dead holder's lock is not taken silently.
	r := runbook(t, nil, e.args("run")...)
	if r.code != exitLocked || !strings.Contains(r.err, "stale lock") || !strings.Contains(r.err, "--take-over") {
		t.Fatalf("reopen without --take-over: exit %d, stderr %q; want exit 3 naming the stale lock", r.code, r.err)
	}
	// Taken over, the dirty step is shown and not re-run.
	r = runbook(t, nil, e.args("run", "--take-over")...)
	if r.code != exitNeedsOp || !strings.Contains(r.err, "step mark is dirty") {
		t.Fatalf("reopen with --take-over: exit %d, stderr %q; want exit 4 for the dirty step", r.code, r.err)
	}
	if n := lines(t, marker); n != 1 {
		t.Fatalf("after reopen the step ran %d times, want 1", n)
	}
	if !strings.Contains(e.journal(t), "k=step.dirty\ts=mark") {
		t.Fatalf("journal has no step.dirty record:\n%s", e.journal(t))
	}
	// The operator chooses verify: the marker proves the step's work.
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	r = runbook(t, nil, e.args("run", "--on-dirty=verify", "--confirm-manual")...)
	if r.code != 0 {
		t.Fatalf("resume with --on-dirty=verify: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if n := lines(t, marker); n != 1 {
		t.Fatalf("the dirty step ran %d times in all, want 1", n)
	}
	if n := lines(t, filepath.Join(e.work, "after")); n != 1 {
		t.Fatalf("the next step ran %d times, want 1", n)
	}
	st = e.status(t)
	if !st.Finished || st.Done != st.Total || len(st.Dirty) != 0 {
		t.Fatalf("status at the end: %+v", st)
	}
	if !strings.Contains(e.journal(t), "confirm-manual") {
		t.Fatal("the journal does not record that the manual step was confirmed by --confirm-manual")
	}
}

func TestKillDuringJournalWrite(t *testing.T) {
	// Records of a fresh run: 1 run.started, 2 step.started mark,
	// 3 step.verifying mark, 4 step.succeeded mark, 5 step.started after.
	for _, tc := range []struct {
		record    int
		wantDirty []string
		afterRan  int // lines in the "after" file right after the crash
	}{
		{record: 4, wantDirty: []string{"mark"}}, // torn outcome: mark is dirty
		{record: 5, wantDirty: []string{}},       // torn start: after never began
		{record: 2, wantDirty: []string{}},       // torn start of the first step
	} {
		t.Run("record"+strconv.Itoa(tc.record), func(t *testing.T) {
			e := newCrashEnv(t)
			os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
			r := runbook(t, []string{"RUNBOOK_CRASH_AT_RECORD=" + strconv.Itoa(tc.record)}, e.args("run")...)
			if r.code != -1 { // killed by SIGKILL
				t.Fatalf("the runner was not killed mid-write: exit %d\n%s%s", r.code, r.out, r.err)
			}
			j := e.journal(t)
			if strings.HasSuffix(j, "\n") {
				t.Fatalf("journal does not end in a torn record:\n%q", j[max(0, len(j)-200):])
			}
			markerBefore := lines(t, filepath.Join(e.work, "marker"))
			if n := lines(t, filepath.Join(e.work, "after")); n != tc.afterRan {
				t.Fatalf("after the crash the next step ran %d times, want %d", n, tc.afterRan)
			}
			st := e.status(t)
			if st.Torn == "" {
				t.Fatal("status does not report the torn journal tail")
			}
			if strings.Join(st.Dirty, ",") != strings.Join(tc.wantDirty, ",") {
				t.Fatalf("dirty = %v, want %v", st.Dirty, tc.wantDirty)
			}
			r = runbook(t, nil, e.args("run", "--take-over", "--on-dirty=verify", "--confirm-manual")...)
			if r.code != 0 {
				t.Fatalf("resume: exit %d\n%s%s", r.code, r.out, r.err)
			}
			if !strings.Contains(r.out, "dropped") {
				t.Fatalf("resume does not report the torn record:\n%s", r.out)
			}
			// The torn record was cut and kept aside; the journal is whole.
			j = e.journal(t)
			if !strings.HasSuffix(j, "\n") || strings.Count(j, "k=run.started") != 1 {
				t.Fatalf("journal after resume is not whole:\n%s", j)
			}
			torn, _ := filepath.Glob(filepath.Join(e.state, "crash-test", "journal.torn-*"))
			if len(torn) != 1 {
				t.Fatalf("torn tail kept in %d files, want 1", len(torn))
			}
			// No step ran twice.
			want := max(markerBefore, 1)
			if n := lines(t, filepath.Join(e.work, "marker")); n != want {
				t.Fatalf("marker step ran %d times, want %d", n, want)
			}
			if n := lines(t, filepath.Join(e.work, "after")); n != 1 {
				t.Fatalf("after step ran %d times, want 1", n)
			}
		})
	}
}

func TestSecondRunnerIsRefused(t *testing.T) {
	e := newCrashEnv(t)
	cmd := exec.Command(bin, e.args("run")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
		cmd.Wait()
	}()
	waitFor(t, "the first runner to start its step", func() bool { return lines(t, filepath.Join(e.work, "marker")) == 1 })
	r := runbook(t, nil, e.args("run", "--operator", "second")...)
	host, _ := os.Hostname()
	want := "locked by tester on " + host + " (pid " + strconv.Itoa(cmd.Process.Pid) + ")"
	if r.code != exitLocked || !strings.Contains(r.err, want) {
		t.Fatalf("second runner: exit %d, stderr %q; want exit 3 and %q", r.code, r.err, want)
	}
	// status works beside a live session and names the holder.
	st := e.status(t)
	if st.Lock == nil || !st.Lock.Held || st.Lock.PID != cmd.Process.Pid {
		t.Fatalf("status lock = %+v", st.Lock)
	}
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		// The manual step stops the first runner with exit 1.
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
			t.Fatalf("first runner: %v", err)
		}
	}
}

func TestHeadlessManualNeedsConfirmation(t *testing.T) {
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	r := runbook(t, nil, e.args("run")...)
	if r.code != exitFailed || !strings.Contains(r.err, "step confirm is manual") {
		t.Fatalf("without --confirm-manual: exit %d, stderr %q", r.code, r.err)
	}
	st := e.status(t)
	if st.Steps[2].Status.String() != "awaiting operator" {
		t.Fatalf("manual step status %s, want awaiting operator", st.Steps[2].Status)
	}
	r = runbook(t, nil, e.args("run", "--confirm-manual")...)
	if r.code != 0 {
		t.Fatalf("with --confirm-manual: exit %d\n%s%s", r.code, r.out, r.err)
	}
	r = runbook(t, nil, e.args("report")...)
	if r.code != 0 || !strings.Contains(r.out, "| one | mark — ") || !strings.Contains(r.out, "3/3 done") {
		t.Fatalf("report: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// One checkpoint per step in the workspace, each naming its step.
	log := git(t, e.work, "log", "--format=%s")
	for _, step := range []string{"mark", "after", "confirm"} {
		if strings.Count(log, "runbook: "+step+" ") != 1 {
			t.Errorf("workspace log has no single checkpoint for %s:\n%s", step, log)
		}
	}
	if tags := git(t, e.work, "tag"); !strings.Contains(tags, "runbook/crash-test/one") || !strings.Contains(tags, "runbook/crash-test/two") {
		t.Errorf("phase tags missing: %q", tags)
	}
}

func TestStateFilesArePrivate(t *testing.T) {
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	runbook(t, nil, e.args("run", "--confirm-manual")...)
	err := filepath.Walk(e.state, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
