package ui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/steps"
)

// journal reads the fixture's journal.
func (f *fixture) journal(t testing.TB) []steps.Event {
	t.Helper()
	evs, _, err := steps.ReadJournal(steps.JournalPath(f.dir, f.rb.ID))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// startSlow runs the slow step and waits until its process printed.
func startSlow(t *testing.T, f *fixture, m Model) (Model, chan tea.Msg) {
	t.Helper()
	m, cmd := update(t, m, keyMsg("enter"))
	if m.busy == nil {
		t.Fatal("not running")
	}
	done := make(chan tea.Msg, 1)
	go func(run tea.Cmd) { done <- run() }(cmd)
	for up := false; !up; {
		msg := f.out.drainCmd()().(outputMsg)
		m, _ = update(t, m, msg)
		for _, l := range msg.lines {
			up = up || l.Text == "started"
		}
	}
	return m, done
}

func TestCancelRunningStepJournalsWhoAndOffersNextSteps(t *testing.T) {
	f := openLab(t, slowRunbook(t), "")
	m := sized(t, f.model(false), 120, 40)
	m, done := startSlow(t, f, m)
	m = press(t, m, "x")
	if m.dlg == nil || m.dlg.Tag != tagCancel {
		t.Fatal("x while running did not ask")
	}
	// enter does not answer a yes/no question: only y does.
	m = press(t, m, "enter")
	if m.dlg == nil || m.busy == nil || m.busy.canceled {
		t.Fatal("enter answered the cancel question")
	}
	m, cmd := update(t, m, keyMsg("y"))
	if m.dlg != nil || m.busy == nil || !m.busy.canceled {
		t.Fatal("y did not ask the engine to cancel")
	}
	m = settle(t, m, cmd)
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the step did not stop after the cancel")
	}
	m, _ = update(t, m, msg)
	var cancelled *steps.Event
	for _, e := range f.journal(t) {
		if e.Kind == steps.EvStepCancelled {
			cancelled = &e
		}
	}
	if cancelled == nil || cancelled.Actor != "ana" || cancelled.Step != "p.wait" {
		t.Fatalf("journal has no cancel by ana: %+v", cancelled)
	}
	status := m.status
	for _, want := range []string{"p.wait cancelled", "Next: r retry, u undo, m mark done or s skip."} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q: %s", want, status)
		}
	}
	if strings.Contains(status, "v verify") {
		t.Errorf("status offers verify for a step without verify actions: %s", status)
	}
	// The cancelled step offers the dirty choice on enter, never a blind rerun.
	m = press(t, m, "enter")
	if m.dlg == nil || m.dlg.Tag != tagDirty || !strings.Contains(screen(m), "cancelled by ana") {
		t.Fatalf("enter on a cancelled step:\n%s", screen(m))
	}
	if m.Interrupted() {
		t.Error("a cancel is not an interrupted program")
	}
}

func TestCancelWithNothingRunningSaysSo(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "x")
	if m.dlg != nil || !strings.Contains(screen(m), "No step is running") {
		t.Fatalf("x while idle:\n%s", screen(m))
	}
}

// q asked while a step ran; the step then ended by itself: the open
// question has nothing left to interrupt, and the program quits as asked.
func TestQuitQuestionOpenWhenStepEndsQuits(t *testing.T) {
	f := openLab(t, slowRunbook(t), "")
	m := sized(t, f.model(false), 120, 40)
	m, done := startSlow(t, f, m)
	m = press(t, m, "q")
	if m.dlg == nil || m.dlg.Tag != tagQuit {
		t.Fatal("q while running did not ask")
	}
	if err := f.sess.Cancel("p.wait", "other"); err != nil {
		t.Fatal(err)
	}
	m, cmd := update(t, m, <-done)
	if _, quit := run(t, m, cmd); !quit || m.Interrupted() {
		t.Fatalf("quit=%v interrupted=%v after the step ended under the quit question", quit, m.Interrupted())
	}
}
