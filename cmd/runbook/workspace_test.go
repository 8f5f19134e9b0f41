package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// teamEnv is a bare remote and one machine: a state directory and a
// workspace cloned from the remote.
type teamEnv struct {
	bare string
	a    crashEnv
}

func newTeamEnv(t *testing.T) teamEnv {
	t.Helper()
	a := newCrashEnv(t)
	bare := filepath.Join(t.TempDir(), "team.git")
	git(t, a.work, "init", "-q", "--bare", bare)
	git(t, a.work, "remote", "add", "origin", bare)
	git(t, a.work, "push", "-q", "-u", "origin", "HEAD")
	os.WriteFile(filepath.Join(a.work, "release"), nil, 0o644)
	return teamEnv{bare: bare, a: a}
}

// machine is another machine's workspace (a clone of the remote as it is
// now) with a copy of a's state directory, as a take-over finds the run's
// journal.
func (e teamEnv) machine(t *testing.T) crashEnv {
	t.Helper()
	dir := t.TempDir()
	b := crashEnv{fixture: e.a.fixture, state: filepath.Join(dir, "state"), work: filepath.Join(dir, "work")}
	git(t, dir, "clone", "-q", e.bare, b.work)
	return b
}

func copyState(t *testing.T, from, to crashEnv) {
	t.Helper()
	src := filepath.Join(from.state, "crash-test", "journal")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(to.state, "crash-test"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to.state, "crash-test", "journal"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func head(t *testing.T, dir, rev string) string {
	t.Helper()
	return strings.TrimSpace(git(t, dir, "rev-parse", rev))
}

// TestWorkspaceFollowsTheRun: machine A pushes each checkpoint; machine B,
// whose workspace was cloned before, is refused with the commands that
// bring it to the run's last checkpoint, and runs once they are done;
// --accept-workspace runs on a workspace as it is and journals who said so.
func TestWorkspaceFollowsTheRun(t *testing.T) {
	e := newTeamEnv(t)
	b := e.machine(t) // cloned before the run
	c := e.machine(t)
	for _, step := range []string{"mark", "after"} {
		if r := runbook(t, nil, e.a.args("run", "--step", step, "--push-checkpoints", "origin")...); r.code != 0 {
			t.Fatalf("run --step %s: exit %d\n%s%s", step, r.code, r.out, r.err)
		}
		if got, want := head(t, e.bare, "HEAD"), head(t, e.a.work, "HEAD"); got != want {
			t.Fatalf("after step %s the remote is at %s, the workspace at %s", step, got, want)
		}
	}
	last := head(t, e.a.work, "HEAD")

	copyState(t, e.a, b)
	before := lines(t, filepath.Join(b.state, "crash-test", "journal"))
	r := runbook(t, nil, b.args("run", "--confirm-manual", "--push-checkpoints", "origin")...)
	told := "git -C " + b.work + " fetch origin && git -C " + b.work + " merge --ff-only " + last
	if r.code != exitEnv || !strings.Contains(r.err, told) || !strings.Contains(r.err, "(step after)") {
		t.Fatalf("a workspace behind the run: exit %d, want %d and %q\n%s%s", r.code, exitEnv, told, r.out, r.err)
	}
	if n := lines(t, filepath.Join(b.state, "crash-test", "journal")); n != before {
		t.Fatalf("the refused opening journaled %d records", n-before)
	}
	for _, part := range strings.Split(told, " && ") {
		git(t, b.work, strings.Fields(part)[3:]...)
	}
	if r := runbook(t, nil, b.args("run", "--confirm-manual", "--push-checkpoints", "origin")...); r.code != 0 {
		t.Fatalf("after the fetch: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if got, want := head(t, e.bare, "HEAD"), head(t, b.work, "HEAD"); got != want || got == last {
		t.Fatalf("machine B's checkpoint not pushed: remote %s, workspace %s", got, want)
	}

	copyState(t, b, c)
	r = runbook(t, nil, c.args("run", "--confirm-manual", "--accept-workspace")...)
	if r.code != 0 {
		t.Fatalf("--accept-workspace: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if j := c.journal(t); !strings.Contains(j, "workspace accepted as it is by tester") {
		t.Fatalf("the acceptance is not journaled:\n%s", j)
	}
}

// TestPushFailureIsShownWithoutCredentials: a remote that does not answer
// is a warning in the headless log and a journal note, the run goes on, and the
// URL's credentials appear nowhere.
func TestPushFailureIsShownWithoutCredentials(t *testing.T) {
	e := newTeamEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	const pass = "pa55-W0rd-xyz"
	remote := "http://ana:" + pass + "@" + addr + "/team.git"
	r := runbook(t, nil, e.a.args("run", "--step", "mark", "--push-checkpoints", remote)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
	}
	// The headless log (stdout) carries it as it carries every warning.
	if strings.Count(r.out, "warning: checkpoint ") != 1 || !strings.Contains(r.out, "mark checkpoint ") || !strings.Contains(r.out, "not pushed to http://***:***@"+addr+"/team.git") {
		t.Fatalf("no warning in the log:\n%s%s", r.out, r.err)
	}
	j := e.a.journal(t)
	if !strings.Contains(j, "not pushed to http://***:") {
		t.Fatalf("no journal note:\n%s", j)
	}
	for what, s := range map[string]string{"stdout": r.out, "stderr": r.err, "journal": j, "history": git(t, e.a.work, "log", "-p")} {
		if strings.Contains(s, pass) {
			t.Fatalf("the password is in the %s:\n%s", what, s)
		}
	}
}
