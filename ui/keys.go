package ui

// Keys: what a key press does. Whatever is on top (a dialog, the filter
// line, a full-screen view) takes the key first; the main screen turns it
// into an intent with the key map and acts on it. Signals and quitting
// live here too: they end in the same place as q.

import (
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui/components/dialog"
	"github.com/runbook-dev/runbook/ui/keymap"
)

// key handles a key press: whatever is on top takes it (a dialog, the
// filter line, a full-screen view); only the main screen reads the key map.
func (m Model) key(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	if m.quitting {
		if isInterrupt(msg) {
			// A second interrupt while the journal catches up: leave now.
			// The step stays dirty in the journal; the next start asks.
			m.forced = true
			return m, tea.Quit
		}
		m.setStatus(levelWarn, "Stopping %s: waiting for the journal to record it before exiting (ctrl+c quits now).", m.busyStep())
		return m, nil
	}
	if m.dlg != nil {
		if m.dlg.Tag == tagQuit && isInterrupt(msg) {
			// ctrl+c twice: the second answers the quit question.
			m.dlg = nil
			return m.interrupt()
		}
		d, res, cmd := m.dlg.Update(msg)
		m.dlg = &d
		if res.Done || res.Canceled {
			m.dlg = nil
			var next tea.Cmd
			if res.Done {
				next = m.answer(d, res)
			}
			m.layout()
			return m, tea.Batch(cmd, next)
		}
		m.layout()
		return m, cmd
	}
	if m.filtering {
		return m.filterKey(msg)
	}
	if m.over != ovNone {
		return m.overlayKey(msg)
	}
	if m.follow != nil {
		return m.followKey(msg)
	}
	in := m.keys.Resolve(msg)
	if m.run.Share.Stopped != "" && !viewOnly(in.Action) {
		// Taken over, or refused by the store: this session may look,
		// never act.
		m.setStatus(levelWarn, "This session no longer drives the run (%s). q quits; `runbook follow` shows the run as it goes on.", m.run.Share.Stopped)
		return m, nil
	}
	return m.act(in)
}

// viewOnly tells the intents that change nothing in the run: moving,
// looking, filtering, help and quit.
func viewOnly(a keymap.Action) bool {
	switch a {
	case keymap.Up, keymap.Down, keymap.PageUp, keymap.PageDown, keymap.Top, keymap.Bottom,
		keymap.NextPane, keymap.PrevPane, keymap.GuideFull, keymap.OutputFull, keymap.Help,
		keymap.Filter, keymap.Back, keymap.Quit, keymap.None:
		return true
	}
	return false
}

// act carries out one intent.
func (m Model) act(in keymap.Intent) (tea.Model, tea.Cmd) {
	switch in.Action {
	case keymap.Up, keymap.Down, keymap.PageUp, keymap.PageDown, keymap.Top, keymap.Bottom:
		return m, m.move(in.Action)
	case keymap.NextPane:
		m.focus = (m.focus + 1) % numPanes
		m.layout()
		return m, nil
	case keymap.PrevPane:
		m.focus = (m.focus + numPanes - 1) % numPanes
		m.layout()
		return m, nil
	case keymap.GuideFull:
		m.openOverlay(ovGuide)
		return m, m.needSelected()
	case keymap.OutputFull:
		m.openOverlay(ovOutput)
		return m, nil
	case keymap.Help:
		m.openOverlay(ovHelp)
		return m, nil
	case keymap.Filter:
		return m.openFilter()
	case keymap.Back:
		if m.timeline.Filter() != "" {
			m.timeline.SetFilter("")
			m.filter.SetValue("")
			m.setStatus(levelInfo, "Timeline filter cleared.")
			return m, m.needSelected()
		}
		return m, nil
	case keymap.Quit:
		if m.busy != nil {
			return m.open(dialog.NewConfirm("Quit while a step runs?",
				fmt.Sprintf("%s is running (%s). Quitting cancels it; runbook exits (code 130) once the journal has its end. ctrl+c again: the same.", m.busy.op.step, m.busy.op.kind)), tagQuit, m.busy.op.step)
		}
		m.quitting = true
		return m, tea.Quit
	case keymap.Cancel:
		return m.askCancel()
	}

	s, ok := m.selectedStep()
	if !ok {
		return m, nil
	}
	state := m.run.Step(s.ID)
	switch in.Action {
	case keymap.Enter:
		return m.enter(s, state)
	case keymap.Retry:
		switch state.Status {
		case steps.Pending:
			m.setStatus(levelInfo, "%s has not run yet: enter runs it.", s.ID)
			return m, nil
		case steps.Failed, steps.Undone, steps.Dirty:
			return m.start(op{kind: opStart, step: s.ID})
		}
		m.setStatus(levelWarn, "Cannot retry %s: it is %s. Next: %s", s.ID, state.Status, m.nextOps(s.ID))
		return m, nil
	case keymap.Verify:
		if len(s.Verify) == 0 {
			m.setStatus(levelWarn, "%s has no verify actions. Next: %s", s.ID, m.nextOps(s.ID))
			return m, nil
		}
		if err := m.legal(s.ID, steps.EvStepVerifying); err != nil {
			return m.refuse(s.ID, err)
		}
		return m.start(op{kind: opVerify, step: s.ID})
	case keymap.Undo:
		if err := m.legal(s.ID, steps.EvUndoStarted); err != nil {
			return m.refuse(s.ID, err)
		}
		prompt := fmt.Sprintf("Run the %d undo action(s) of %s?", len(s.Undo), s.ID)
		if len(s.Undo) == 0 {
			prompt = s.ID + " has no undo actions: it will only be recorded as undone. Go on?"
		}
		return m.open(dialog.NewConfirm("Undo "+s.Title, prompt), tagUndo, s.ID)
	case keymap.Skip:
		if err := m.legal(s.ID, steps.EvStepSkipped); err != nil {
			return m.refuse(s.ID, err)
		}
		d, cmd := dialog.NewInput("Skip "+s.Title, "Why is this step skipped? The reason is journaled.", "reason", true)
		mm, c := m.open(d, tagSkip, s.ID)
		return mm, tea.Batch(cmd, c)
	case keymap.MarkDone:
		if err := m.legal(s.ID, steps.EvStepMarkedDone); err != nil {
			return m.refuse(s.ID, err)
		}
		return m.askMarkDone(s)
	case keymap.Note:
		d, cmd := dialog.NewInput("Note on "+s.Title, "", "what happened, what you saw", true)
		mm, c := m.open(d, tagNote, s.ID)
		return mm, tea.Batch(cmd, c)
	case keymap.Tick:
		return m.tick(s, state, in.Item)
	}
	return m, nil
}

// move scrolls or moves the selection in the focused pane.
func (m *Model) move(a keymap.Action) tea.Cmd {
	page := max(m.bodyH-4, 1)
	target := m.focus
	switch {
	case m.over == ovGuide:
		target = paneGuide
	case m.compact() && target != paneTimeline:
		target = m.rightPane()
	}
	switch target {
	case paneTimeline:
		switch a {
		case keymap.Up:
			m.timeline.Move(-1)
		case keymap.Down:
			m.timeline.Move(1)
		case keymap.PageUp:
			m.timeline.Move(-page)
		case keymap.PageDown:
			m.timeline.Move(page)
		case keymap.Top:
			m.timeline.Move(-m.timeline.Steps())
		case keymap.Bottom:
			m.timeline.Move(m.timeline.Steps())
		}
		return m.needSelected()
	case paneGuide:
		switch a {
		case keymap.Up:
			m.guide.Scroll(-1)
		case keymap.Down:
			m.guide.Scroll(1)
		case keymap.PageUp:
			m.guide.Scroll(-page)
		case keymap.PageDown:
			m.guide.Scroll(page)
		case keymap.Top:
			m.guide.Home()
		case keymap.Bottom:
			m.guide.End()
		}
	case paneOutput:
		switch a {
		case keymap.Up:
			m.out.Scroll(1)
		case keymap.Down:
			m.out.Scroll(-1)
		case keymap.PageUp:
			m.out.Scroll(page)
		case keymap.PageDown:
			m.out.Scroll(-page)
		case keymap.Top:
			m.out.Top()
		case keymap.Bottom:
			m.out.Follow()
		}
	}
	return nil
}

// interruptMsg is a SIGINT or SIGTERM that arrived while a step runs.
type interruptMsg struct{}

// Filter is the program filter the CLI installs with tea.WithFilter.
// Bubble Tea turns SIGINT and SIGTERM into messages that end the program at
// once; while a step runs that would leave its outcome out of the journal.
// Filter makes them a confirmed quit instead: the step is interrupted, and
// the program ends once the session has journaled it.
func Filter(m tea.Model, msg tea.Msg) tea.Msg {
	switch msg.(type) {
	case tea.InterruptMsg, tea.QuitMsg:
		// A forced quit (ctrl+c while waiting for the journal) passes.
		if mm, ok := m.(Model); ok && mm.busy != nil && !mm.forced {
			return interruptMsg{}
		}
	}
	return msg
}

// interrupt stops the running step and quits once it is journaled.
func (m Model) interrupt() (tea.Model, tea.Cmd) {
	if m.busy == nil {
		m.quitting = true
		return m, tea.Quit
	}
	if !m.quitting {
		m.quitting = true
		m.interrupted = true
		m.dlg = nil
		m.busy.cancel()
		m.layout()
	}
	m.setStatus(levelWarn, "Stopping %s: waiting for the journal to record it before exiting.", m.busy.op.step)
	return m, nil
}
