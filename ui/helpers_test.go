package ui

import (
	"os"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/ui/components/guide"
)

// labStart is the fake clock's start: twelve minutes into the window.
var labStart = time.Date(2025, 10, 24, 8, 12, 0, 0, time.UTC)

// loadLab parses the fixture runbook under testdata/lab.
func loadLab(t testing.TB) *runbooks.Runbook {
	t.Helper()
	rb, err := runbooks.Load(os.DirFS("testdata/lab"), "runbook.yaml", runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatalf("load fixture runbook: %v", err)
	}
	return rb
}

type fixture struct {
	rb    *runbooks.Runbook
	sess  *steps.Session
	clock *steps.FakeClock
	out   *Output
	dir   string
}

// openLab opens a session on the fixture in a fresh state directory, its
// output wired to an Output sink as the CLI does.
func openLab(t testing.TB, rb *runbooks.Runbook, dir string) *fixture {
	t.Helper()
	return openLabMode(t, rb, dir, false)
}

func openLabMode(t testing.TB, rb *runbooks.Runbook, dir string, rehearsal bool) *fixture {
	t.Helper()
	if rb == nil {
		rb = loadLab(t)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	f := &fixture{rb: rb, clock: steps.NewFakeClock(labStart), out: NewOutput(0), dir: dir}
	red := steps.NewRedactor()
	targets, _, err := steps.ResolveTargets(rb, nil, func(string) string { return "" }, red)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := steps.Open(steps.Options{
		Runbook: rb, StateDir: dir, Clock: f.clock, Operator: "ana", Host: "lab", PID: os.Getpid(),
		Targets: targets, Redactor: red, Output: f.out.Send, Rehearsal: rehearsal,
	})
	if err != nil {
		t.Fatalf("open session: %v", err)
	}
	f.sess = sess
	t.Cleanup(func() {
		f.out.Close()
		sess.Close()
	})
	return f
}

func (f *fixture) model(noColor bool) Model {
	return New(Options{Session: f.sess, Clock: f.clock, Operator: "ana", Output: f.out, NoColor: noColor, WorkDir: f.dir, NoBell: true})
}

// update feeds one message and returns the model.
func update(t testing.TB, m Model, msg tea.Msg) (Model, tea.Cmd) {
	t.Helper()
	mm, cmd := m.Update(msg)
	out, ok := mm.(Model)
	if !ok {
		t.Fatalf("Update returned %T", mm)
	}
	return out, cmd
}

// settle runs a command and feeds back the messages of this package's own
// commands (session calls, guide renders, descriptions) until none is left.
// Terminal queries, ticks, output drains and cursor blinks are not run: the
// tests feed those explicitly.
func settle(t testing.TB, m Model, cmd tea.Cmd) Model {
	t.Helper()
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case opDoneMsg, describedMsg, guide.RenderedMsg, finishedMsg:
			var next tea.Cmd
			m, next = update(t, m, msg)
			queue = append(queue, next)
		}
	}
	return m
}

// sized is a model that has had its window size and everything that asks for.
func sized(t testing.TB, m Model, w, h int) Model {
	t.Helper()
	m, cmd := update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	return settle(t, m, cmd)
}

func keyMsg(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(s)
	if len(r) != 1 {
		panic("key: " + s)
	}
	k := tea.KeyPressMsg{Code: r[0], Text: s}
	if r[0] >= 'A' && r[0] <= 'Z' {
		k.Code, k.ShiftedCode, k.Mod = r[0]+('a'-'A'), r[0], tea.ModShift
	}
	return k
}

// typeText types text into an open dialog.
func typeText(t testing.TB, m Model, s string) Model {
	t.Helper()
	for _, r := range s {
		m, _ = update(t, m, tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	return m
}

// press feeds a key and settles what it started.
func press(t testing.TB, m Model, k string) Model {
	t.Helper()
	m, cmd := update(t, m, keyMsg(k))
	return settle(t, m, cmd)
}
