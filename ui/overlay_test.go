package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/ui/components/dialog"
)

// actionKeys is every key of the main screen's key map, and ctrl+c.
var actionKeys = []string{
	"enter", "s", "r", "v", "u", "m", "n", "x", "space", "1", "2", "9",
	"up", "down", "k", "j", "pgup", "pgdown", "ctrl+u", "ctrl+d", "g", "G", "home", "end",
	"tab", "shift+tab", "f", "o", "/", "?", "esc", "q", "ctrl+c",
}

func pressKey(s string) tea.KeyPressMsg {
	switch s {
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "ctrl+u":
		return tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}
	case "ctrl+d":
		return tea.KeyPressMsg{Code: 'd', Mod: tea.ModCtrl}
	}
	return keyMsg(s)
}

// run runs a command and what it starts (as settle does), reporting
// whether it asked the program to quit.
func run(t *testing.T, m Model, cmd tea.Cmd) (Model, bool) {
	t.Helper()
	quit := false
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		// Timers (a cursor's blink) would hold the test up; what a key
		// sends to the session answers at once.
		ch := make(chan tea.Msg, 1)
		go func() { ch <- c() }()
		var got tea.Msg
		select {
		case got = <-ch:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		switch msg := got.(type) {
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case tea.QuitMsg:
			quit = true
		case opDoneMsg, describedMsg, finishedMsg, cancelAskedMsg:
			var next tea.Cmd
			m, next = update(t, m, msg)
			queue = append(queue, next)
		}
	}
	return m, quit
}

type overlayCase struct {
	name string
	open func(t *testing.T, m Model) Model
	// own are the keys that answer this overlay (they may act).
	own []string
	// view: a full-screen view, which q closes and never quits from.
	view bool
}

func openWith(keys ...string) func(*testing.T, Model) Model {
	return func(t *testing.T, m Model) Model {
		for _, k := range keys {
			m = press(t, m, k)
		}
		return m
	}
}

func openDialog(d dialog.Model, tag int) func(*testing.T, Model) Model {
	return func(t *testing.T, m Model) Model {
		mm, _ := m.open(d, tag, m.timeline.Selected())
		return mm.(Model)
	}
}

func overlayCases() []overlayCase {
	input := func(title string) dialog.Model { d, _ := dialog.NewInput(title, "why?", "reason", true); return d }
	return []overlayCase{
		{name: "help", open: openWith("?"), view: true},
		{name: "full guide", open: openWith("f"), view: true},
		{name: "full output", open: openWith("o"), view: true},
		{name: "output search", open: openWith("o", "/")},
		{name: "timeline filter", open: openWith("/")},
		{name: "skip reason", open: openWith("s")},
		{name: "note", open: openWith("n")},
		{name: "mark done reason", open: openDialog(input("Mark done"), tagMarkDone)},
		{name: "undo confirm", open: openDialog(dialog.NewConfirm("Undo", "Run the undo?"), tagUndo)},
		{name: "manual confirm", open: openDialog(dialog.NewConfirm("Confirm", "Unticked items"), tagConfirmManual)},
		{name: "quit confirm", open: openDialog(dialog.NewConfirm("Quit", "Quit?"), tagQuit), own: []string{"ctrl+c"}},
		{name: "cancel confirm", open: openDialog(dialog.NewConfirm("Cancel", "Cancel?"), tagCancel)},
		{name: "dirty chooser", open: openWith("enter"), own: []string{"enter", "v", "r", "m", "u"}},
	}
}

// Under every overlay, every key of the main screen does nothing to the
// run: no journal record is written, and q inside a view never quits.
func TestNoActionKeyActsUnderAnOverlay(t *testing.T) {
	f := dirtyLab(t)
	before := len(f.journal(t))
	// Models are values: each key is sent to a copy of the same opened
	// overlay (the panes' caches are shared, which only saves renders).
	base := sized(t, f.model(false), 120, 40)
	for _, oc := range overlayCases() {
		t.Run(oc.name, func(t *testing.T) {
			opened := oc.open(t, base)
			if opened.dlg == nil && opened.over == ovNone && !opened.filtering {
				t.Fatalf("%s did not open", oc.name)
			}
			for _, k := range actionKeys {
				if slices.Contains(oc.own, k) {
					continue
				}
				m := opened
				m, cmd := update(t, m, pressKey(k))
				m, quit := run(t, m, cmd)
				if n := len(f.journal(t)); n != before {
					t.Fatalf("key %q under %s wrote %d journal record(s)", k, oc.name, n-before)
				}
				if m.busy != nil {
					t.Fatalf("key %q under %s started %s", k, oc.name, m.busy.op.kind)
				}
				if quit && k != "ctrl+c" {
					t.Errorf("key %q under %s quit the program", k, oc.name)
				}
				if oc.view && k == "q" && (quit || m.over != ovNone) {
					t.Errorf("q under %s: quit=%v, view still open=%v (q closes the view)", oc.name, quit, m.over != ovNone)
				}
			}
		})
	}
}

// The footer shows the keys of what is on top, never the main screen's.
func TestFooterShowsKeysOfWhatIsOnTop(t *testing.T) {
	f := dirtyLab(t)
	base := sized(t, f.model(false), 120, 40)
	for _, oc := range overlayCases() {
		m := oc.open(t, base)
		foot := m.helpLine()
		for _, main := range []string{"s skip", "n note", "f guide", "/ filter"} {
			if strings.Contains(foot, main) {
				t.Errorf("%s: footer offers %q: %s", oc.name, main, foot)
			}
		}
	}
}
