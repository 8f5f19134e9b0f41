package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// uiRun runs the binary in a tmux pane through a shell that writes its exit
// status to a file, so a test can read the code the UI ended with.
type uiRun struct {
	*tmuxSession
	status string
}

func newUIRun(t *testing.T, w, h int, args ...string) uiRun {
	t.Helper()
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	script := filepath.Join(dir, "run.sh")
	body := "#!/bin/sh\n\"$@\"\necho $? > " + status + "\nsleep 60\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{script, "env", "TERM=xterm-256color", "NO_COLOR=1", "RUNBOOK_NO_BELL=1", bin}, args...)
	return uiRun{tmuxSession: newTmuxArgv(t, w, h, argv), status: status}
}

// exitCode waits for the program to end and returns its exit status.
func (r uiRun) exitCode(what string) string {
	r.t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(r.status); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
	}
	r.t.Fatalf("%s: the program did not exit; screen:\n%s", what, r.screen())
	return ""
}

// journalEvents reads the crash runbook's journal as events.
func journalEvents(t *testing.T, e crashEnv) []steps.Event {
	t.Helper()
	evs, _, err := steps.ReadJournal(filepath.Join(e.state, "crash-test", "journal"))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// startMark runs the crash runbook's first step from the UI and waits
// until its process runs.
func startMark(t *testing.T, r uiRun, e crashEnv) {
	t.Helper()
	r.waitScreen("the first frame", "Crash and resume test", "enter run")
	r.keys("Enter")
	waitFor(t, "enter to run the step", func() bool { return lines(t, filepath.Join(e.work, "marker")) == 1 })
	r.waitScreen("the step's output", "started")
}

// x, then y, cancels the running shell step: its process is killed, the
// journal records who cancelled, and the step offers what comes next.
func TestUICancelRunningShellStep(t *testing.T) {
	e := newCrashEnv(t)
	r := newUIRun(t, 120, 40, append([]string{"--date", "today"}, e.args("tui")[1:]...)...)
	startMark(t, r, e)
	r.keys("x")
	r.waitScreen("the cancel question", "Cancel mark?", "y yes")
	r.keys("y")
	scr := r.waitScreen("the cancelled step", "mark cancelled", "Next: r retry")
	if !strings.Contains(scr, "m mark done") || !strings.Contains(scr, "u undo") {
		t.Errorf("the cancelled step does not offer undo and mark done:\n%s", scr)
	}
	var cancel *steps.Event
	for _, ev := range journalEvents(t, e) {
		if ev.Kind == steps.EvStepCancelled && ev.Step == "mark" {
			cancel = &ev
		}
	}
	if cancel == nil || cancel.Actor != "tester" || cancel.At.IsZero() {
		t.Fatalf("journal has no cancel of mark by tester: %+v", cancel)
	}
	// The process was stopped, not left to wait for its release file.
	r.keys("q")
	if code := r.exitCode("q after the cancel"); code != "0" {
		t.Errorf("exit %s after quitting an idle UI, want 0", code)
	}
}

// q, then y, while a step runs: the step's end is journaled, then the
// program exits 130 (as headless does on SIGINT).
func TestUIQuitWhileRunningExits130(t *testing.T) {
	e := newCrashEnv(t)
	r := newUIRun(t, 120, 40, append([]string{"--date", "today"}, e.args("tui")[1:]...)...)
	startMark(t, r, e)
	r.keys("q")
	r.waitScreen("the quit question", "Quit while a step runs?")
	r.keys("y")
	if code := r.exitCode("quit while running"); code != "130" {
		t.Fatalf("exit %s, want 130", code)
	}
	evs := journalEvents(t, e)
	last := evs[len(evs)-1]
	if last.Step != "mark" || last.Kind != steps.EvStepFailed || !strings.Contains(last.Err, "interrupted") {
		t.Fatalf("the step's end is not the journal's last record: %+v", last)
	}
}

// ctrl+c asks; a second ctrl+c quits (it does not just close the question).
func TestUICtrlCTwiceForcesQuit(t *testing.T) {
	e := newCrashEnv(t)
	r := newUIRun(t, 120, 40, append([]string{"--date", "today"}, e.args("tui")[1:]...)...)
	startMark(t, r, e)
	r.keys("C-c")
	r.waitScreen("the quit question", "Quit while a step runs?")
	r.keys("C-c")
	if code := r.exitCode("ctrl+c twice"); code != "130" {
		t.Fatalf("exit %s, want 130", code)
	}
	evs := journalEvents(t, e)
	if last := evs[len(evs)-1]; last.Step != "mark" || last.Kind != steps.EvStepFailed {
		t.Fatalf("the step's end is not journaled: %+v", last)
	}
}

// A new run on a day that is not the planned one (the fixture is planned
// for 2025-10-24) first asks which day; today moves the window to today.
func TestUIFirstFrameAsksForTheDay(t *testing.T) {
	e := newCrashEnv(t)
	// The crash env holds its runs today; this one names no day.
	var args []string
	for _, a := range e.args("tui")[1:] {
		if a == "--date" || a == "today" {
			continue
		}
		args = append(args, a)
	}
	r := newUIRun(t, 80, 24, args...)
	scr := r.waitScreen("the day question", "Which day is this window on?", "2025-10-24", "today")
	if strings.Contains(scr, "Timeline") {
		t.Fatalf("the UI opened before the day was chosen:\n%s", scr)
	}
	if _, err := os.Stat(filepath.Join(e.state, "crash-test", "journal")); err == nil {
		if evs := journalEvents(t, e); len(evs) > 0 {
			t.Fatalf("journaled before the day was chosen: %+v", evs[0])
		}
	}
	r.keys("t")
	today := time.Now().UTC().Format("Mon 2 Jan")
	r.waitScreen("the UI on today's date", "Timeline", "window "+today)
	r.keys("q")
	if code := r.exitCode("q"); code != "0" {
		t.Fatalf("exit %s", code)
	}
	evs := journalEvents(t, e)
	if evs[0].Kind != steps.EvRunStarted || evs[0].Date != time.Now().UTC().Format("2006-01-02") {
		t.Fatalf("the run did not start on today: %+v", evs[0])
	}
}
