package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui/components/header"
)

// bells counts BEL writes among what a command sends to the terminal.
func bells(cmd tea.Cmd) int {
	if cmd == nil {
		return 0
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		n := 0
		for _, c := range msg {
			n += bells(c)
		}
		return n
	case tea.RawMsg:
		if s, ok := msg.Msg.(string); ok && s == bellSeq {
			return 1
		}
	}
	return 0
}

// A failing step rings the bell once; --no-bell keeps it quiet.
func TestBellOnFailureOnceAndNotWithNoBell(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		f := openLab(t, nil, "")
		m := New(Options{Session: f.sess, Clock: f.clock, Operator: "ana", Output: f.out, WorkDir: f.dir, NoBell: quiet})
		m = sized(t, m, 120, 40)
		m.timeline.Select("tls.nginx")
		m, cmd := update(t, m, keyMsg("enter"))
		// The op's message, then a tick: only the first rings.
		done, ok := cmd().(opDoneMsg)
		if !ok {
			t.Fatal("no op result")
		}
		m, cmd = update(t, m, done)
		want := 1
		if quiet {
			want = 0
		}
		if got := bells(cmd); got != want {
			t.Errorf("quiet=%v: %d bells after a failure, want %d", quiet, got, want)
		}
		_, cmd = update(t, m, tickMsg{snap: f.sess.Snapshot(), now: f.clock.Now()})
		if got := bells(cmd); got != 0 {
			t.Errorf("quiet=%v: the same failure rang again on the next tick", quiet)
		}
	}
}

// The bell's memory: what is already so when the UI opens does not ring;
// a step going over its budget and the point of no return ring once each.
func TestBellStateRingsOncePerEvent(t *testing.T) {
	tm := steps.Timing{Phases: []steps.PhaseTiming{{Steps: []steps.StepTiming{{ID: "a", Status: steps.Failed}, {ID: "b"}}}}}
	b := newBellState(tm)
	if b.changes(tm) {
		t.Error("a failure seen at start rang")
	}
	tm.Phases[0].Steps[1].Over = true
	if !b.changes(tm) || b.changes(tm) {
		t.Error("over budget must ring once")
	}
	tm.NoReturn = true
	if !b.changes(tm) || b.changes(tm) {
		t.Error("the point of no return must ring once")
	}
	tm.Phases[0].Steps[0].Status = steps.Running
	b.changes(tm)
	tm.Phases[0].Steps[0].Status = steps.Failed
	if !b.changes(tm) {
		t.Error("a retry that fails again must ring")
	}
}

// g/G and home/end go to the top and bottom of the timeline; f opens the
// guide full-screen, which g/G scroll and q closes.
func TestTopBottomKeysAndFullGuide(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "G")
	if got := m.timeline.Selected(); got != "tls.test" {
		t.Errorf("G selected %s", got)
	}
	m = press(t, m, "g")
	if got := m.timeline.Selected(); got != "prep.read" {
		t.Errorf("g selected %s", got)
	}
	m = press(t, m, "end")
	m = press(t, m, "home")
	if got := m.timeline.Selected(); got != "prep.read" {
		t.Errorf("home selected %s", got)
	}
	m = press(t, m, "f")
	if m.over != ovGuide {
		t.Fatal("f did not open the guide")
	}
	m = press(t, m, "G")
	if m.timeline.Selected() != "prep.read" {
		t.Error("G in the guide view moved the timeline")
	}
	m = press(t, m, "q")
	if m.over != ovNone {
		t.Error("q did not close the guide")
	}
}

// / filters the timeline as the operator types; enter keeps it, esc on the
// main screen clears it.
func TestSlashFiltersTimeline(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "/")
	if !m.filtering {
		t.Fatal("/ did not open the filter")
	}
	m = typeText(t, m, "proxy")
	m = press(t, m, "enter")
	if m.filtering || m.timeline.Steps() != 1 || m.timeline.Selected() != "tls.nginx" {
		t.Fatalf("filter proxy: %d steps, selected %s", m.timeline.Steps(), m.timeline.Selected())
	}
	s := screen(m)
	if !strings.Contains(s, "/proxy") || strings.Contains(s, "Read the guides") {
		t.Errorf("filtered timeline:\n%s", s)
	}
	m = press(t, m, "esc")
	if m.timeline.Steps() != 5 || m.timeline.Selected() != "tls.nginx" {
		t.Errorf("esc: %d steps, selected %s", m.timeline.Steps(), m.timeline.Selected())
	}
}

// The mouse wheel scrolls the pane under the pointer.
func TestWheelScrollsPaneUnderPointer(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	wheel := func(x, y int, b tea.MouseButton) tea.MouseWheelMsg {
		return tea.MouseWheelMsg{X: x, Y: y, Button: b}
	}
	// Over the timeline: the selection moves.
	m, _ = update(t, m, wheel(5, header.Height+3, tea.MouseWheelDown))
	if got := m.timeline.Selected(); got != "prep.env" {
		t.Errorf("wheel over the timeline selected %s", got)
	}
	// Over the guide: the guide scrolls, the selection stays.
	before := m.guide.ViewKey()
	m, _ = update(t, m, wheel(100, header.Height+3, tea.MouseWheelDown))
	if m.guide.ViewKey() == before || m.timeline.Selected() != "prep.env" {
		t.Errorf("wheel over the guide: offset %v → %v, selected %s", before, m.guide.ViewKey(), m.timeline.Selected())
	}
	// Under a dialog, the wheel does nothing.
	m = press(t, m, "s")
	sel := m.timeline.Selected()
	m, _ = update(t, m, wheel(5, header.Height+3, tea.MouseWheelDown))
	if m.timeline.Selected() != sel {
		t.Error("the wheel moved the timeline under a dialog")
	}
}

// Warnings from start-up are on screen, not only on stderr behind the
// alternate screen.
func TestStartupWarningsShownInTheUI(t *testing.T) {
	f := openLab(t, nil, "")
	m := New(Options{Session: f.sess, Clock: f.clock, Operator: "ana", Output: f.out, WorkDir: f.dir,
		Notices: []string{"no run lock on database target db (connection refused); the state directory's lock still holds"}})
	m = sized(t, m, 120, 40)
	if s := screen(m); !strings.Contains(s, "Warning: no run lock on database target db") {
		t.Errorf("warning not shown:\n%s", s)
	}
	if m.statusLevel != levelWarn {
		t.Error("a warning is not shown as one")
	}
}
