package ui

import (
	"context"
	"image/color"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/ui/components/guide"
)

func screen(m Model) string { return ansi.Strip(m.View().Content) }

func TestFirstFrame(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	s := screen(m)
	for _, want := range []string{
		"Lab change window", "ana  Fri 08:12:00 UTC",
		"Step 1/5 0:00/10:00", "slot 18m left", "finish 09:02", "buffer +58m",
		"Preparation", "Read the guides", "Configure the reverse proxy",
		"Before the window opens, read every guide once", // the rendered guide
		"Checklist 0/3", "[ ] 1. Read the TLS guide",
		"operator: Read the guides and tick each one", // the action described
		"No output yet", "enter run",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("first frame lacks %q:\n%s", want, s)
		}
	}
	lines := strings.Split(m.View().Content, "\n")
	if len(lines) != 40 {
		t.Errorf("frame has %d lines, want 40", len(lines))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 120 {
			t.Errorf("line %d is %d cells wide: %q", i, w, ansi.Strip(l))
		}
	}
}

func TestTooSmall(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 79, 30)
	if s := screen(m); !strings.Contains(s, "Terminal too small: 79×30") {
		t.Errorf("79 columns: %q", s)
	}
	m = sized(t, m, 80, 23)
	if s := screen(m); !strings.Contains(s, "Terminal too small: 80×23") {
		t.Errorf("23 rows: %q", s)
	}
	m = sized(t, m, 80, 24)
	s := screen(m)
	if strings.Contains(s, "too small") || !strings.Contains(s, "Read the guides") || !strings.Contains(s, "enter run") {
		t.Errorf("80×24 must be usable:\n%s", s)
	}
	lines := strings.Split(m.View().Content, "\n")
	if len(lines) != 24 {
		t.Errorf("80×24 frame has %d lines", len(lines))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line %d is %d cells wide", i, w)
		}
	}
}

// drainOutput feeds what the sink holds into the model, as the program's
// re-arming drain would.
func drainOutput(t *testing.T, m Model, o *Output) Model {
	t.Helper()
	for len(o.ch) > 0 {
		msg := o.drainCmd()()
		m, _ = update(t, m, msg)
	}
	return m
}

func TestEnterRunsShellStepAndStreamsOutput(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "j") // prep.env
	if got := m.timeline.Selected(); got != "prep.env" {
		t.Fatalf("selected %q after j", got)
	}
	m, cmd := update(t, m, keyMsg("enter"))
	if m.busy == nil || m.busy.op.kind != opStart || m.busy.op.step != "prep.env" {
		t.Fatalf("enter did not start prep.env: busy=%+v", m.busy)
	}
	if !strings.Contains(screen(m), "prep.env run in progress") {
		t.Errorf("status does not show the run:\n%s", screen(m))
	}
	m = settle(t, m, cmd)
	if m.busy != nil {
		t.Fatal("busy after the step finished")
	}
	if st := f.sess.Snapshot().Step("prep.env"); st.Status != steps.Succeeded {
		t.Fatalf("prep.env is %s (%s)", st.Status, st.LastErr)
	}
	m = drainOutput(t, m, f.out)
	s := screen(m)
	for _, want := range []string{"environment ok", "target http://127.0.0.1:8001", "── run prep.env", "✓ prep.env succeeded", "Output · prep.env"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
	// The selection moved on to the next step to do.
	if got := m.timeline.Selected(); got != "prep.read" {
		t.Errorf("selection after success = %q, want the current step prep.read", got)
	}
}

func TestManualStepAwaitsConfirmAndChecklist(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "enter")
	if st := m.run.Step("prep.read"); st.Status != steps.AwaitingOperator {
		t.Fatalf("prep.read is %s after enter", st.Status)
	}
	if s := screen(m); !strings.Contains(s, "Read the guides and tick each one") || !strings.Contains(s, "enter confirm") {
		t.Errorf("awaiting screen lacks the prompt or the confirm hint:\n%s", s)
	}
	m = press(t, m, "space")
	m = press(t, m, "3")
	st := f.sess.Snapshot().Step("prep.read")
	if !st.Checked[0] || st.Checked[1] || !st.Checked[2] {
		t.Fatalf("checklist after space and 3: %v", st.Checked)
	}
	m = press(t, m, "3") // toggles back
	if f.sess.Snapshot().Step("prep.read").Checked[2] {
		t.Fatal("3 did not untick item 3")
	}
	// Unticked items: enter asks before confirming; n keeps waiting.
	m = press(t, m, "enter")
	if m.dlg == nil || m.dlg.Tag != tagConfirmManual {
		t.Fatalf("enter with unticked items did not ask: %+v", m.dlg)
	}
	if !strings.Contains(screen(m), "2 of 3 checklist items are not ticked") {
		t.Errorf("confirm dialog text:\n%s", screen(m))
	}
	m = press(t, m, "n")
	if m.dlg != nil || f.sess.Snapshot().Step("prep.read").Status != steps.AwaitingOperator {
		t.Fatal("n must close the dialog and leave the step waiting")
	}
	m = press(t, m, "space")
	m = press(t, m, "space")
	m = press(t, m, "enter")
	st = f.sess.Snapshot().Step("prep.read")
	if st.Status != steps.Succeeded || st.Actor != "ana" {
		t.Fatalf("prep.read after confirm: %s by %q", st.Status, st.Actor)
	}
	if got := m.timeline.Selected(); got != "prep.env" {
		t.Errorf("selection after confirm = %q, want prep.env", got)
	}
}

func TestSkipRequiresReason(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m.timeline.Select("tls.nginx")
	m = press(t, m, "s")
	if m.dlg == nil || m.dlg.Tag != tagSkip {
		t.Fatal("s did not ask for a reason")
	}
	m = press(t, m, "enter")
	if m.dlg == nil || !strings.Contains(screen(m), "a reason is required") {
		t.Fatalf("empty reason accepted:\n%s", screen(m))
	}
	m = typeText(t, m, "proxy stays in lab")
	m = press(t, m, "enter")
	if m.dlg != nil {
		t.Fatal("dialog still open")
	}
	st := f.sess.Snapshot().Step("tls.nginx")
	if st.Status != steps.Skipped || st.Reason != "proxy stays in lab" {
		t.Fatalf("tls.nginx: %s, reason %q", st.Status, st.Reason)
	}
	events, _, err := steps.ReadJournal(f.sess.JournalFile())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events {
		found = found || ev.Kind == steps.EvStepSkipped && ev.Step == "tls.nginx" && ev.Reason == "proxy stays in lab" && ev.Actor == "ana"
	}
	if !found {
		t.Error("the skip and its reason are not in the journal")
	}
	// Skipping it again is refused before any dialog opens.
	m.timeline.Select("tls.nginx")
	m = press(t, m, "s")
	if m.dlg != nil || !strings.Contains(screen(m), "cannot skip a step that is skipped") {
		t.Errorf("second skip:\n%s", screen(m))
	}
}

func TestEscCancelsDialog(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "n")
	m = typeText(t, m, "half a note")
	m = press(t, m, "esc")
	if m.dlg != nil {
		t.Fatal("esc did not close the dialog")
	}
	if n := len(f.sess.Snapshot().Step("prep.read").Notes); n != 0 {
		t.Fatalf("a cancelled note was recorded (%d notes)", n)
	}
	m = press(t, m, "n")
	m = typeText(t, m, "coffee first")
	m = press(t, m, "enter")
	notes := f.sess.Snapshot().Step("prep.read").Notes
	if len(notes) != 1 || notes[0].Text != "coffee first" || notes[0].By != "ana" {
		t.Fatalf("notes: %+v", notes)
	}
	if !strings.Contains(screen(m), "Notes (1), last by ana: coffee first") {
		t.Errorf("note not shown:\n%s", screen(m))
	}
}

func TestFailedStepShowsErrorAndRetries(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m.timeline.Select("tls.nginx")
	m = press(t, m, "enter")
	st := f.sess.Snapshot().Step("tls.nginx")
	if st.Status != steps.Failed {
		t.Fatalf("tls.nginx is %s", st.Status)
	}
	s := screen(m)
	if !strings.Contains(s, "run tls.nginx: step tls.nginx: do 1 (shell): sh exited 1, expected 0") || !strings.Contains(s, "Error: do 1 (shell)") || !strings.Contains(s, "enter retry") {
		t.Errorf("failure not shown:\n%s", s)
	}
	m = press(t, m, "r")
	if st := f.sess.Snapshot().Step("tls.nginx"); st.Attempts != 2 || st.Status != steps.Failed {
		t.Fatalf("after r: %s, %d attempts", st.Status, st.Attempts)
	}
	m = drainOutput(t, m, f.out)
	if strings.Count(screen(m), "nginx: configuration test failed") != 2 {
		t.Errorf("output of both attempts expected:\n%s", screen(m))
	}
	// Retry of a step that never ran is refused with a hint.
	m.timeline.Select("tls.test")
	m = press(t, m, "r")
	if !strings.Contains(screen(m), "tls.test has not run yet: enter runs it") {
		t.Errorf("retry of a pending step:\n%s", screen(m))
	}
}

func TestUndoAsksThenRuns(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m.timeline.Select("tls.certs")
	m = press(t, m, "enter")
	if st := f.sess.Snapshot().Step("tls.certs"); st.Status != steps.Succeeded {
		t.Fatalf("tls.certs is %s", st.Status)
	}
	m.timeline.Select("tls.certs")
	m = press(t, m, "u")
	if m.dlg == nil || m.dlg.Tag != tagUndo {
		t.Fatal("u did not ask")
	}
	m = press(t, m, "y")
	if st := f.sess.Snapshot().Step("tls.certs"); st.Status != steps.Undone {
		t.Fatalf("tls.certs is %s after undo", st.Status)
	}
	m = drainOutput(t, m, f.out)
	if !strings.Contains(screen(m), "removing certificates") {
		t.Errorf("undo output missing:\n%s", screen(m))
	}
	// Pending steps cannot be undone: refused by the state machine.
	m.timeline.Select("tls.test")
	m = press(t, m, "u")
	if m.dlg != nil || !strings.Contains(screen(m), "cannot undo a step that is pending") {
		t.Errorf("undo of a pending step:\n%s", screen(m))
	}
}

// dirtyLab leaves a journal in which tls.certs started and never ended, as
// after a crash, and reopens it.
func dirtyLab(t *testing.T) *fixture {
	t.Helper()
	rb := loadLab(t)
	dir := t.TempDir()
	j, _, _, err := steps.OpenJournal(steps.JournalPath(dir, rb.ID), nil)
	if err != nil {
		t.Fatal(err)
	}
	at := labStart.Add(-10 * time.Minute)
	for _, ev := range []steps.Event{
		{Kind: steps.EvRunStarted, At: at, Runbook: rb.ID, Digest: rb.Digest, Actor: "ana", Host: "lab", PID: 1},
		{Kind: steps.EvStepStarted, At: at.Add(time.Minute), Step: "tls.certs", Attempt: 1, Actor: "ana"},
	} {
		if _, err := j.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	f := openLab(t, rb, dir)
	if got := f.sess.Recovered.Dirty; len(got) != 1 || got[0] != "tls.certs" {
		t.Fatalf("recovered dirty %v", got)
	}
	return f
}

func TestDirtyStepOpensChooserNeverReruns(t *testing.T) {
	f := dirtyLab(t)
	m := sized(t, f.model(false), 120, 40)
	if got := m.timeline.Selected(); got != "tls.certs" {
		t.Errorf("the dirty step is not selected: %q", got)
	}
	s := screen(m)
	for _, want := range []string{"1 dirty step(s): tls.certs", "! Generate certificates", "Dirty: the last session ended while this step was running", "enter choose"} {
		if !strings.Contains(s, want) {
			t.Errorf("resume screen lacks %q:\n%s", want, s)
		}
	}
	m = press(t, m, "enter")
	if m.dlg == nil || m.dlg.Tag != tagDirty {
		t.Fatal("enter on a dirty step did not open the chooser")
	}
	if f.sess.Snapshot().Step("tls.certs").Attempts != 1 {
		t.Fatal("enter re-ran the dirty step")
	}
	s = screen(m)
	for _, want := range []string{"verify: run its verify actions", "retry: run it again", "mark done: it did finish", "undo: run its undo actions"} {
		if !strings.Contains(s, want) {
			t.Errorf("chooser lacks %q:\n%s", want, s)
		}
	}
	m = press(t, m, "v")
	st := f.sess.Snapshot().Step("tls.certs")
	if st.Status != steps.Succeeded || st.Attempts != 1 {
		t.Fatalf("after verify: %s, %d attempts", st.Status, st.Attempts)
	}
	m = drainOutput(t, m, f.out)
	if strings.Contains(screen(m), "cert line") {
		t.Error("verify ran the do actions")
	}
}

func TestDirtyChooserMarkDoneAsksReason(t *testing.T) {
	f := dirtyLab(t)
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "enter")
	m = press(t, m, "down") // cursor to retry
	m = press(t, m, "down") // mark done
	m = press(t, m, "enter")
	if m.dlg == nil || m.dlg.Tag != tagMarkDone {
		t.Fatalf("mark done did not ask for a reason: %+v", m.dlg)
	}
	m = typeText(t, m, "certs are on disk")
	m = press(t, m, "enter")
	st := f.sess.Snapshot().Step("tls.certs")
	if st.Status != steps.Succeeded || st.Reason != "certs are on disk" || st.Attempts != 1 {
		t.Fatalf("after mark done: %s %q %d", st.Status, st.Reason, st.Attempts)
	}
}

func TestDirtyChooserDisablesVerifyWithoutVerifyActions(t *testing.T) {
	rb := loadLab(t)
	dir := t.TempDir()
	j, _, _, err := steps.OpenJournal(steps.JournalPath(dir, rb.ID), nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Append(steps.Event{Kind: steps.EvRunStarted, At: labStart, Runbook: rb.ID, Actor: "ana"})
	j.Append(steps.Event{Kind: steps.EvStepStarted, At: labStart, Step: "tls.nginx", Attempt: 1})
	j.Close()
	f := openLab(t, rb, dir)
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "enter")
	if m.dlg == nil || m.dlg.Cursor() != 1 {
		t.Fatalf("cursor should start on retry, the first enabled option: %+v", m.dlg)
	}
	m = press(t, m, "v")
	if m.dlg == nil || !strings.Contains(screen(m), "no verify actions") {
		t.Fatalf("verify without verify actions was accepted:\n%s", screen(m))
	}
	if f.sess.Snapshot().Step("tls.nginx").Status != steps.Dirty {
		t.Fatal("the step changed")
	}
}

func TestQuitIdleExitsAtOnce(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	_, cmd := update(t, m, keyMsg("q"))
	if cmd == nil {
		t.Fatal("q returned no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("q while idle did not quit")
	}
}

// slowRunbook has one step that runs until it is stopped.
func slowRunbook(t testing.TB) *runbooks.Runbook {
	t.Helper()
	fsys := fstest.MapFS{
		"rb.yaml": {Data: []byte(`id: slow
title: Slow window
schedule: {date: "2025-10-24", timezone: UTC, start: "08:00"}
phases:
  - id: p
    title: Phase
    slot: "08:00-09:00"
    checkpoint: false
    steps:
      - id: p.wait
        title: Wait for a long time
        budget: 5m
        guide: g.md#wait
        do:
          - shell:
              argv: [sh, -c, "echo started; exec sleep 600"]
`)},
		"g.md": {Data: []byte("# Wait\n\nIt waits.\n")},
	}
	rb, err := runbooks.Load(fsys, "rb.yaml", runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

func TestQuitWhileRunningCancelsAndWaitsForJournal(t *testing.T) {
	f := openLab(t, slowRunbook(t), "")
	m := sized(t, f.model(false), 120, 40)
	m, cmd := update(t, m, keyMsg("enter"))
	if m.busy == nil {
		t.Fatal("not running")
	}
	done := make(chan tea.Msg, 1)
	go func(run tea.Cmd) { done <- run() }(cmd)
	// Wait until the step's process is up: its first line arrives.
	for up := false; !up; {
		for _, l := range f.out.drainCmd()().(outputMsg).lines {
			up = up || l.Text == "started"
		}
	}
	m = press(t, m, "q")
	if m.dlg == nil || m.dlg.Tag != tagQuit {
		t.Fatal("q while running did not ask")
	}
	if !strings.Contains(screen(m), "p.wait is running (run). Quitting cancels it") {
		t.Errorf("quit dialog:\n%s", screen(m))
	}
	m, cmd = update(t, m, keyMsg("y"))
	if cmd != nil {
		if _, ok := cmd().(tea.QuitMsg); ok {
			t.Fatal("quit before the running step was journaled")
		}
	}
	if !m.quitting {
		t.Fatal("not quitting after y")
	}
	m, _ = update(t, m, keyMsg("q"))
	if !strings.Contains(screen(m), "waiting for the journal") {
		t.Errorf("screen while stopping:\n%s", screen(m))
	}
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the step did not stop after its context was cancelled")
	}
	st := f.sess.Snapshot().Step("p.wait")
	if st.Status != steps.Failed || !strings.Contains(st.LastErr, "interrupted by the operator") {
		t.Fatalf("journaled state after quit: %s %q", st.Status, st.LastErr)
	}
	_, cmd = update(t, m, msg)
	if cmd == nil {
		t.Fatal("no quit after the step was journaled")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("the journaled stop did not quit")
	}
}

func TestQuitDialogNoKeepsRunning(t *testing.T) {
	f := openLab(t, slowRunbook(t), "")
	m := sized(t, f.model(false), 120, 40)
	m, cmd := update(t, m, keyMsg("enter"))
	ctx := m.busy
	done := make(chan tea.Msg, 1)
	go func(run tea.Cmd) { done <- run() }(cmd)
	m = press(t, m, "q")
	m = press(t, m, "n")
	if m.quitting || m.dlg != nil || m.busy == nil {
		t.Fatalf("n must keep the step running: quitting=%v dlg=%v busy=%v", m.quitting, m.dlg, m.busy)
	}
	// Another long op is refused while one runs.
	m = press(t, m, "v")
	ctx.cancel()
	<-done
}

func TestBackgroundColorRestyles(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	s, _ := m.selectedStep()
	if !m.guide.Cached(m.guide.KeyFor(s.Guide, "dark")) {
		t.Fatal("dark guide not rendered")
	}
	m, cmd := update(t, m, tea.BackgroundColorMsg{Color: color.White})
	if m.theme.Dark {
		t.Fatal("white background still dark")
	}
	if cmd == nil {
		t.Fatal("no re-render for the light background")
	}
	m = settle(t, m, cmd)
	if !m.guide.Cached(m.guide.KeyFor(s.Guide, "light")) {
		t.Fatal("light guide not rendered")
	}
}

// The selected step's guide is asked for at Init, before the window's
// size arrives; a resize wraps it again without rendering it again.
func TestGuideRenderedOnceAcrossResizes(t *testing.T) {
	f := openLab(t, nil, "")
	m := f.model(false)
	s, _ := m.selectedStep()
	k := m.guide.KeyFor(s.Guide, "dark")
	_ = m.Init() // its commands tick and drain: not run here
	if m.guide.Cached(k) || m.guide.Need(m.rb.Guides, s.Guide, "dark") != nil {
		t.Fatal("Init did not ask for the selected step's guide")
	}
	// The render Init asked for arrives before the window's size.
	m, _ = update(t, m, guide.RenderCmd(m.rb.Guides, s.Guide, k)())
	m = sized(t, m, 120, 40)
	if !m.guide.Cached(k) {
		t.Fatal("guide not rendered")
	}
	for _, w := range []int{100, 160, 120} {
		var cmd tea.Cmd
		m, cmd = update(t, m, tea.WindowSizeMsg{Width: w, Height: 40})
		if findRender(cmd) {
			t.Errorf("width %d: the guide was rendered again", w)
		}
		m = settle(t, m, cmd)
		_, rw := m.columns()
		for i, l := range strings.Split(m.View().Content, "\n") {
			if ansi.StringWidth(l) > w {
				t.Fatalf("width %d: line %d is %d cells wide", w, i, ansi.StringWidth(l))
			}
		}
		if got := m.guide.Width(); got != rw-2 {
			t.Errorf("width %d: guide pane %d wide, want %d", w, got, rw-2)
		}
	}
}

func findRender(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			if findRender(c) {
				return true
			}
		}
	case guide.RenderedMsg:
		return true
	}
	return false
}

var sgrColour = regexp.MustCompile(`\x1b\[[0-9;]*(38|48);`)

func TestNoColorDrawsWithoutColour(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(true), 120, 40)
	m = press(t, m, "j")
	m = press(t, m, "enter")
	m = drainOutput(t, m, f.out)
	v := m.View().Content
	if loc := sgrColour.FindStringIndex(v); loc != nil {
		t.Errorf("NO_COLOR frame sets a colour at %d: %q", loc[0], v[max(loc[0]-20, 0):min(loc[1]+20, len(v))])
	}
	if !strings.Contains(ansi.Strip(v), "✓ Check the environment") {
		t.Errorf("status icons must carry the meaning without colour:\n%s", ansi.Strip(v))
	}
}

func TestPanesFocusAndScroll(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "tab")
	if m.focus != paneGuide {
		t.Fatalf("focus after tab: %s", m.focus)
	}
	sel := m.timeline.Selected()
	m = press(t, m, "j")
	if m.timeline.Selected() != sel || m.guide.View(m.guideProps()) == "" {
		t.Error("j in the guide pane moved the selection")
	}
	m = press(t, m, "shift+tab")
	m = press(t, m, "shift+tab")
	if m.focus != paneOutput {
		t.Fatalf("focus after two shift+tab: %s", m.focus)
	}
	m = press(t, m, "f")
	if m.over != ovGuide || !strings.Contains(screen(m), "esc to close") {
		t.Fatal("f did not open the guide full-screen")
	}
	m = press(t, m, "q")
	if m.over != ovNone {
		t.Fatal("q did not close the full-screen guide")
	}
	m = press(t, m, "?")
	if m.over != ovHelp || !strings.Contains(screen(m), "awaiting operator") {
		t.Fatalf("? did not show the full help with the status legend:\n%s", screen(m))
	}
	m = press(t, m, "?")
	if m.over != ovNone {
		t.Fatal("? did not close the help")
	}
}

func TestTimelineFollowsSelectionOnLongRunbook(t *testing.T) {
	f := openLab(t, generated(t, 500), "")
	m := sized(t, f.model(false), 120, 40)
	for range 120 {
		m, _ = update(t, m, keyMsg("j"))
	}
	if got := m.timeline.Selected(); got != "s.120" {
		t.Fatalf("selected %q", got)
	}
	if !strings.Contains(screen(m), "Step number 120 ") {
		t.Errorf("selected step not in view:\n%s", screen(m))
	}
	m, _ = update(t, m, keyMsg("end"))
	if got := m.timeline.Selected(); got != "s.499" {
		t.Fatalf("end selected %q", got)
	}
}

func TestOutputSinkDropsWhenFullAndSaysSo(t *testing.T) {
	o := NewOutput(10)
	for range 100 {
		o.Send("x", "line")
	}
	msg := o.drainCmd()().(outputMsg)
	if len(msg.lines) != 10 || msg.dropped != 90 {
		t.Fatalf("got %d lines, %d dropped", len(msg.lines), msg.dropped)
	}
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	m, _ = update(t, m, msg)
	if !strings.Contains(screen(m), "90 lines arrived faster than the screen") {
		t.Errorf("drops not shown:\n%s", screen(m))
	}
	o.Close()
	o.Send("x", "after close")
	if got := o.drainCmd()(); got != nil {
		t.Errorf("drain after close returned %T", got)
	}
}

func TestSanitize(t *testing.T) {
	cases := map[string]string{
		"plain":                              "plain",
		"\x1b[31mred\x1b[0m":                 "red",
		"a\tb":                               "a    b",
		"progress\r100%":                     "progress100%",
		"bell\a":                             "bell",
		"c1\u009bcontrol":                    "c1control",
		"ünïcödé ✓":                          "ünïcödé ✓",
		"\x1b]8;;http://x\x07ln\x1b]8;;\x07": "ln",
	}
	for in, want := range cases {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFinishRecordedWhenAllDone(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	ctx := context.Background()
	for _, id := range []string{"prep.read", "prep.env", "tls.certs", "tls.nginx"} {
		if err := f.sess.Skip(ctx, id, "not in this test"); err != nil {
			t.Fatal(err)
		}
	}
	m.timeline.Select("tls.test")
	m = press(t, m, "s")
	m = typeText(t, m, "done by hand")
	m = press(t, m, "enter")
	if !f.sess.Snapshot().Finished {
		t.Fatal("run.finished not recorded after the last step")
	}
	if !strings.Contains(screen(m), "Run finished") || !strings.Contains(screen(m), "All steps done") {
		t.Errorf("finish not shown:\n%s", screen(m))
	}
}

func TestTickRefreshesFromSnapshot(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	// Work done outside the model (another command) shows on the next tick.
	if err := f.sess.Start(context.Background(), "prep.read"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(4*time.Minute + 5*time.Second)
	m, cmd := update(t, m, tickMsg{snap: f.sess.Snapshot(), now: f.clock.Now()})
	if cmd == nil {
		t.Fatal("tick did not re-arm")
	}
	s := screen(m)
	if !strings.Contains(s, "Step 1/5 4:05/10:00") || !strings.Contains(s, "08:16:05") || !strings.Contains(s, "◆ Read the guides") {
		t.Errorf("tick did not refresh:\n%s", s)
	}
}

func TestSignalWhileRunningBecomesConfirmedQuit(t *testing.T) {
	f := openLab(t, slowRunbook(t), "")
	m := sized(t, f.model(false), 120, 40)
	// Idle: signals pass through and end the program.
	if _, ok := Filter(m, tea.InterruptMsg{}).(tea.InterruptMsg); !ok {
		t.Fatal("an idle program must take SIGINT as it is")
	}
	m, cmd := update(t, m, keyMsg("enter"))
	done := make(chan tea.Msg, 1)
	go func(run tea.Cmd) { done <- run() }(cmd)
	for _, sig := range []tea.Msg{tea.InterruptMsg{}, tea.QuitMsg{}} {
		if _, ok := Filter(m, sig).(interruptMsg); !ok {
			t.Fatalf("%T while a step runs was not turned into a stop", sig)
		}
	}
	m, cmd = update(t, m, Filter(m, tea.InterruptMsg{}))
	if cmd != nil || !m.quitting {
		t.Fatal("the stop must wait for the journal")
	}
	msg := <-done
	if st := f.sess.Snapshot().Step("p.wait"); st.Status != steps.Failed {
		t.Fatalf("p.wait is %s", st.Status)
	}
	m, cmd = update(t, m, msg)
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("no quit after the journaled stop")
	}
	// The program's own quit passes the filter once nothing runs.
	if _, ok := Filter(m, tea.QuitMsg{}).(tea.QuitMsg); !ok {
		t.Fatal("the final quit was held back")
	}
}

func TestTornJournalTailIsReported(t *testing.T) {
	rb := loadLab(t)
	dir := t.TempDir()
	path := steps.JournalPath(dir, rb.ID)
	j, _, _, err := steps.OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Append(steps.Event{Kind: steps.EvRunStarted, At: labStart, Runbook: rb.ID, Actor: "ana"})
	j.Close()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"v":1,"seq":2,"kind":"step.sta`)
	fh.Close()
	f := openLab(t, rb, dir)
	if f.sess.Recovered.Torn == nil {
		t.Fatal("the engine did not report the torn tail")
	}
	m := sized(t, f.model(false), 120, 40)
	if !strings.Contains(screen(m), "Journal tail was damaged and set aside") {
		t.Errorf("torn tail not shown:\n%s", screen(m))
	}
}

func TestRehearsalAutoConfirmsManualSteps(t *testing.T) {
	f := openLabMode(t, nil, "", true)
	m := sized(t, f.model(false), 120, 40)
	m = press(t, m, "enter")
	st := f.sess.Snapshot().Step("prep.read")
	// The engine's words, the same the headless runner journals.
	if st.Status != steps.Succeeded || st.Actor != "ana (rehearsal auto-confirm)" {
		t.Fatalf("manual step in a rehearsal after enter: %s by %q", st.Status, st.Actor)
	}
	data, err := os.ReadFile(f.sess.JournalFile())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "auto-confirmed in a rehearsal") {
		t.Fatal("the journal does not say the step was auto-confirmed")
	}
	if !strings.Contains(screen(m), "REHEARSAL") {
		t.Errorf("the header does not say this is a rehearsal:\n%s", screen(m))
	}
}
