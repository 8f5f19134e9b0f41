package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// checkpoints lists the workspace's commits, oldest first, by subject with
// the work times left out (they differ from run to run).
func checkpoints(t *testing.T, e crashEnv) []string {
	t.Helper()
	times := regexp.MustCompile(` in \S+ of \S+$`)
	var out []string
	for _, s := range strings.Split(strings.TrimSpace(git(t, e.work, "log", "--reverse", "--format=%s")), "\n") {
		out = append(out, times.ReplaceAllString(s, ""))
	}
	return out
}

// TestKillInsideCheckpointThenResume kills the real binary inside a
// checkpoint (new index in index.lock, branch not moved), once during a
// run and once during a rollback; each time the next call with --take-over
// clears the dead run's lock, makes the owed checkpoint and goes on, and
// the workspace ends with the same commits as an uninterrupted run's.
func TestKillInsideCheckpointThenResume(t *testing.T) {
	ok := func(e crashEnv, env []string, args ...string) {
		t.Helper()
		if r := runbook(t, env, e.args(args[0], args[1:]...)...); r.code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, r.code, r.out, r.err)
		}
	}
	killed := func(e crashEnv, args ...string) {
		t.Helper()
		r := runbook(t, []string{"RUNBOOK_CRASH_IN_CHECKPOINT=2"}, e.args(args[0], args[1:]...)...)
		if r.code != -1 {
			t.Fatalf("%v with a kill in checkpoint 2: exit %d, want killed\n%s%s", args, r.code, r.out, r.err)
		}
		if _, err := os.Stat(filepath.Join(e.work, ".git", "index.lock")); err != nil {
			t.Fatalf("the kill did not land inside a checkpoint (no index.lock): %v", err)
		}
	}

	a := newCrashEnv(t)
	os.WriteFile(filepath.Join(a.work, "release"), nil, 0o644)
	ok(a, nil, "run", "--confirm-manual")
	ok(a, nil, "rollback", "--to", "start", "--confirm-manual")
	want := checkpoints(t, a)

	b := newCrashEnv(t)
	os.WriteFile(filepath.Join(b.work, "release"), nil, 0o644)
	killed(b, "run", "--confirm-manual")
	ok(b, nil, "run", "--take-over", "--confirm-manual")
	killed(b, "rollback", "--to", "start", "--confirm-manual")
	ok(b, nil, "rollback", "--take-over", "--to", "start", "--confirm-manual")
	if got := checkpoints(t, b); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history after the kills:\n%s\nwant (uninterrupted):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if j := b.journal(t); strings.Count(j, "index.lock") < 2 || !strings.Contains(j, "cleared") {
		t.Errorf("the journal does not note the cleared locks:\n%s", j)
	}
	if len(want) < 6 {
		t.Fatalf("only %d checkpoints in the uninterrupted run: %q", len(want), want)
	}
}
