package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// tmuxSession runs the real binary in a tmux pseudo-terminal of a fixed
// size: keys go in with send-keys, screen text comes out with capture-pane.
type tmuxSession struct {
	t    *testing.T
	name string
	sock string
}

func newTmux(t *testing.T, w, h int, env []string, args ...string) *tmuxSession {
	t.Helper()
	cmdline := []string{"env"}
	cmdline = append(cmdline, env...)
	cmdline = append(cmdline, bin)
	return newTmuxArgv(t, w, h, append(cmdline, args...))
}

// newTmuxArgv runs argv in a tmux pane of w×h cells.
func newTmuxArgv(t *testing.T, w, h int, cmdline []string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatalf("tmux is required for the pseudo-terminal test: %v", err)
		}
		t.Skip("tmux not installed (set RUNBOOK_REQUIRE_SERVICES=1 to make this a failure)")
	}
	s := &tmuxSession{t: t, name: "rb", sock: filepath.Join(t.TempDir(), "tmux.sock")}
	tmuxArgs := []string{"-S", s.sock, "-f", "/dev/null", "new-session", "-d", "-s", s.name,
		"-x", strconv.Itoa(w), "-y", strconv.Itoa(h), "exec " + strings.Join(quoteAll(cmdline), " ")}
	if out, err := exec.Command("tmux", tmuxArgs...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	// Keep the pane after the program exits, so its last screen can be read.
	s.tmux("set-option", "-t", s.name, "remain-on-exit", "on")
	t.Cleanup(func() { exec.Command("tmux", "-S", s.sock, "kill-server").Run() })
	return s
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.tmux("capture-pane", "-p", "-t", s.name) }

func (s *tmuxSession) keys(keys ...string) {
	s.tmux(append([]string{"send-keys", "-t", s.name}, keys...)...)
}

// waitScreen waits until the screen shows every want string.
func (s *tmuxSession) waitScreen(what string, want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		scr := s.screen()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(scr, w)
		}
		if ok {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s (%q); screen:\n%s", what, want, scr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *tmuxSession) dead() bool {
	out := s.tmux("list-panes", "-t", s.name, "-F", "#{pane_dead}")
	return strings.TrimSpace(out) == "1"
}

// TestTerminalUIInPseudoTerminal drives the real binary: the first frame
// shows the timeline, the guide and the clocks; enter runs a step whose
// output streams into the output pane; q quits.
func TestTerminalUIInPseudoTerminal(t *testing.T) {
	e := newCrashEnv(t)
	s := newTmux(t, 120, 40, []string{"TERM=xterm-256color", "NO_COLOR=1"},
		append([]string{"--date", "today"}, e.args("tui")[1:]...)...)
	scr := s.waitScreen("the first frame",
		"Crash and resume test",          // header
		"Timeline",                       // timeline pane
		"Append to the marker",           // first step in the timeline and the guide
		"Appends run to the marker file", // the guide, rendered (no backticks)
		"0:00/5:00",                      // the step clock against its budget
		"enter run")                      // the help bar
	if strings.Contains(scr, "too small") {
		t.Fatalf("120x40 is reported too small:\n%s", scr)
	}
	s.keys("Enter")
	waitFor(t, "enter to run the step", func() bool { return lines(t, filepath.Join(e.work, "marker")) == 1 })
	s.waitScreen("the step's output in the output pane", "│started")
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	s.waitScreen("the step to finish", "released", "1/3")
	s.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for !s.dead() {
		if time.Now().After(deadline) {
			t.Fatalf("q did not quit; screen:\n%s", s.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
	j := e.journal(t)
	if !strings.Contains(j, "k=step.succeeded\ts=mark") {
		t.Fatalf("journal has no success of the step run from the UI:\n%s", j)
	}
}

// TestEmbeddedRunbookFirstFrame is `make run` in a 120x40 terminal: the
// first frame shows the timeline, the first step's rendered guide and the
// clocks.
func TestEmbeddedRunbookFirstFrame(t *testing.T) {
	state := t.TempDir()
	s := newTmux(t, 120, 40, []string{"TERM=xterm-256color"}, "--state", state, "--date", "today", "--operator", "ana")
	scr := s.waitScreen("the first frame",
		"Phase 1 security hardening",       // header
		"Timeline",                         // timeline pane
		"Preparation (before 08:00)",       // first phase
		"Read the Phase 1 quick reference", // first step, selected
		"Phase 1 quick reference",          // its guide, rendered
		"0:00/30:00",                       // step clock against its budget
		"finish",                           // projected finish
		"buffer",                           // buffer left
		"q quit")                           // the help bar
	if strings.Contains(scr, "##") {
		t.Errorf("guide shown as raw markdown:\n%s", scr)
	}
	s.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for !s.dead() {
		if time.Now().After(deadline) {
			t.Fatalf("q did not quit; screen:\n%s", s.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSignalExitsWith130: SIGTERM (a closed session, a kill) ends the UI
// with the documented code. (ctrl-c typed in the UI is a key: it quits.)
// The shell around the program writes its exit status to a file; the
// program's pid comes from the lock it holds.
func TestSignalExitsWith130(t *testing.T) {
	e := newCrashEnv(t)
	status := filepath.Join(t.TempDir(), "status")
	script := filepath.Join(t.TempDir(), "run.sh")
	body := "#!/bin/sh\n\"$@\"\necho $? > " + status + "\nsleep 60\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newTmuxArgv(t, 100, 30, append([]string{script, "env", "TERM=xterm-256color", bin, "--date", "today"}, e.args("tui")[1:]...))
	s.waitScreen("the first frame", "Crash and resume test")
	info, held, err := steps.ReadLock(filepath.Join(e.state, "crash-test"))
	if err != nil || !held {
		t.Fatalf("lock: %+v held %v err %v", info, held, err)
	}
	if err := syscall.Kill(info.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var got string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(status); err == nil && len(b) > 0 {
			got = strings.TrimSpace(string(b))
			break
		}
	}
	if got != "130" {
		t.Fatalf("exit status %q, want 130; screen:\n%s", got, s.screen())
	}
}
