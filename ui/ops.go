package ui

// Operations: the session calls the operator's intents become, the dialogs
// that ask before them, and what the UI does when one finishes.

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui/common"
	"github.com/runbook-dev/runbook/ui/components/dialog"
)

// enter does what the step needs next: run it, confirm its manual action,
// or, when it is dirty, ask what to do — never a blind re-run.
func (m Model) enter(s runbooks.Step, state steps.StepState) (tea.Model, tea.Cmd) {
	if m.busy != nil && m.busy.op.step == s.ID {
		m.setStatus(levelInfo, "%s is running.", s.ID)
		return m, nil
	}
	// What enter does is the engine's decision, the same the headless
	// runner gets; only asking the person is the UI's.
	d, err := m.sess.Next(s.ID, steps.Policy{Confirm: true})
	if err != nil {
		m.setStatus(levelBad, "%s: %v", s.ID, err)
		return m, nil
	}
	switch {
	case d.Op == steps.OpStart:
		return m.start(decisionOp(d))
	case d.Op == steps.OpConfirm:
		open := 0
		for i := range s.Checklist {
			if !state.Checked[i] {
				open++
			}
		}
		if open > 0 {
			return m.open(dialog.NewConfirm("Confirm "+s.Title,
				fmt.Sprintf("%d of %d checklist items are not ticked. Confirm the step as done anyway?", open, len(s.Checklist))), tagConfirmManual, s.ID)
		}
		return m.start(decisionOp(d))
	case d.Op == steps.OpAsk && (state.Status == steps.Dirty || state.Status == steps.Failed):
		verify := ""
		if len(s.Verify) == 0 {
			verify = "no verify actions"
		}
		why := "The last session ended while this step was " + state.InFlight.String() + "; its outcome is unknown. Choose:"
		if state.Status == steps.Failed {
			why = "It was cancelled by " + state.CancelledBy + " while it ran; its outcome is unknown. Choose:"
		}
		return m.open(dialog.NewChoose("Dirty step: "+s.Title, why,
			[]dialog.Option{
				{Key: "v", Label: "verify: run its verify actions to find out", Disabled: verify},
				{Key: "r", Label: "retry: run it again from the start"},
				{Key: "m", Label: "mark done: it did finish (asks a reason)"},
				{Key: "u", Label: "undo: run its undo actions"},
			}), tagDirty, s.ID)
	case d.Op == steps.OpApprove:
		return m.approval(s, d)
	case d.Op == steps.OpNone:
		m.setStatus(levelInfo, "%s is %s: v verifies it again, u undoes it.", s.ID, state.Status)
		return m, nil
	}
	m.setStatus(levelInfo, "%s is %s.", s.ID, state.Status)
	return m, nil
}

func (m Model) askMarkDone(s runbooks.Step) (tea.Model, tea.Cmd) {
	d, cmd := dialog.NewInput("Mark done: "+s.Title, "Why is this step done? The reason is journaled.", "reason", true)
	mm, c := m.open(d, tagMarkDone, s.ID)
	return mm, tea.Batch(cmd, c)
}

// tick toggles a checklist item (-1: tick the next unticked one).
func (m Model) tick(s runbooks.Step, state steps.StepState, item int) (tea.Model, tea.Cmd) {
	if len(s.Checklist) == 0 {
		m.setStatus(levelInfo, "%s has no checklist.", s.ID)
		return m, nil
	}
	checked := true
	if item < 0 {
		item = -1
		for i := range s.Checklist {
			if !state.Checked[i] {
				item = i
				break
			}
		}
		if item < 0 {
			m.setStatus(levelInfo, "Every checklist item of %s is ticked.", s.ID)
			return m, nil
		}
	} else {
		if item >= len(s.Checklist) {
			m.setStatus(levelInfo, "%s has %d checklist items.", s.ID, len(s.Checklist))
			return m, nil
		}
		checked = !state.Checked[item]
	}
	return m.start(op{kind: opTick, step: s.ID, item: item, checked: checked})
}

// legal asks the pure state machine whether the event may happen now, so
// the operator is told before any dialog opens.
func (m Model) legal(id string, k steps.EventKind) error {
	_, _, err := steps.Transition(m.run.Step(id), steps.Event{Kind: k, Step: id, Reason: "-"})
	return err
}

func (m Model) refuse(id string, err error) (tea.Model, tea.Cmd) {
	m.setStatus(levelWarn, "%s: %v. Next: %s", id, err, m.nextOps(id))
	return m, nil
}

func (m Model) open(d dialog.Model, tag int, step string) (tea.Model, tea.Cmd) {
	d.Tag, d.Step = tag, step
	d.SetStyles(m.st)
	m.dlg = &d
	m.layout()
	return m, nil
}

// answer acts on a submitted dialog.
func (m *Model) answer(d dialog.Model, res dialog.Result) tea.Cmd {
	var (
		mm  tea.Model
		cmd tea.Cmd
	)
	switch d.Tag {
	case tagSkip:
		mm, cmd = m.start(op{kind: opSkip, step: d.Step, text: res.Value})
	case tagMarkDone:
		mm, cmd = m.start(op{kind: opMarkDone, step: d.Step, text: res.Value})
	case tagNote:
		mm, cmd = m.start(op{kind: opNote, step: d.Step, text: res.Value})
	case tagUndo:
		mm, cmd = m.start(op{kind: opUndo, step: d.Step})
	case tagConfirmManual:
		mm, cmd = m.decide(d.Step, steps.Policy{Confirm: true, Reason: "confirmed with unticked checklist items"})
	case tagDirty:
		switch res.Choice {
		case 0:
			mm, cmd = m.decide(d.Step, steps.Policy{OnDirty: steps.OpVerify})
		case 1:
			mm, cmd = m.decide(d.Step, steps.Policy{OnDirty: steps.OpStart})
		case 2:
			pi, si, _ := m.rb.StepRef(d.Step)
			mm, cmd = m.askMarkDone(m.rb.Phases[pi].Steps[si])
		case 3:
			mm, cmd = m.decide(d.Step, steps.Policy{OnDirty: steps.OpUndo})
		}
	case tagQuit:
		mm, cmd = m.interrupt()
	case tagCancel:
		mm, cmd = m.cancelRunning(d.Step)
	case tagFollowApprove, tagFollowNote:
		return m.followAnswer(d, res)
	case tagApprove:
		mm, cmd = m.approveHere(d.Step, res.Value)
	}
	if mm != nil {
		*m = mm.(Model)
	}
	return cmd
}

// start issues a session call. Long calls (those that run actions) are one
// at a time and get a context that quitting cancels.
func (m Model) start(o op) (tea.Model, tea.Cmd) {
	ctx := context.Background()
	if o.kind.long() {
		if m.busy != nil {
			m.setStatus(levelWarn, "%s is still running (%s): one step at a time.", m.busy.op.step, m.busy.op.kind)
			return m, nil
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		m.busy = &busy{op: o, cancel: cancel}
		now := m.clock.Now().In(m.location())
		m.out.Mark(o.step, fmt.Sprintf("── %s %s · %s ──", o.kind, o.step, now.Format("15:04:05")))
		m.out.Follow()
		// The status line says what runs (statusLine) until something
		// else is said.
		m.setStatus(levelInfo, "")
	}
	return m, runOpCmd(ctx, m.sess, m.clock, m.opt.Operator, o)
}

func (m Model) location() *time.Location {
	if m.rb.Schedule.Location != nil {
		return m.rb.Schedule.Location
	}
	return time.UTC
}

func (m Model) busyStep() string {
	if m.busy == nil {
		return "the step"
	}
	return m.busy.op.step
}

// opDone takes in a finished session call.
func (m Model) opDone(msg opDoneMsg) (tea.Model, tea.Cmd) {
	wasSelected := m.timeline.Selected() == msg.op.step
	canceled := false
	if m.busy != nil && msg.op.kind.long() && m.busy.op == msg.op {
		canceled = m.busy.canceled
		m.busy.cancel()
		m.busy = nil
	}
	m.setRun(msg.snap, msg.now)
	if m.quitting && m.busy == nil {
		return m, tea.Quit
	}
	if m.busy == nil && m.dlg != nil && m.dlg.Tag == tagQuit {
		// q was pressed while the step ran; it has ended on its own, so
		// nothing is left to interrupt: quit as asked.
		m.dlg = nil
		m.quitting = true
		return m, tea.Quit
	}
	if m.busy == nil && m.dlg != nil && m.dlg.Tag == tagCancel {
		// Nothing is left to cancel.
		m.dlg = nil
		m.layout()
	}
	id := msg.op.step
	state := m.run.Step(id)
	switch {
	case canceled:
		m.setStatus(levelWarn, "%s cancelled (%s) by %s. Next: %s", id, msg.op.kind, m.operator(), m.nextOps(id))
	case msg.err != nil:
		m.setStatus(levelBad, "%s %s: %s", msg.op.kind, id, m.failure(id, msg.err))
	case msg.op.kind == opNote:
		m.setStatus(levelOK, "Note added to %s.", id)
	case msg.op.kind == opAskAppr:
		// The dialog asking who approves is open; nothing to say.
	case msg.op.kind == opWaitAppr && m.busy == nil && state.Status == steps.Pending:
		// The operator asked for the step (enter); its approvals are in
		// the journal now, so it starts, as headless does.
		m.setStatus(levelOK, "%s", approvedStatus(id, state))
		return m.decide(id, steps.Policy{Confirm: true})
	case msg.op.kind == opApprove || msg.op.kind == opWaitAppr:
		m.setStatus(levelOK, "%s", approvedStatus(id, state))
	case msg.op.kind == opTick:
		m.setStatus(levelInfo, "Checklist item %d of %s %s.", msg.op.item+1, id, map[bool]string{true: "ticked", false: "unticked"}[msg.op.checked])
	case state.Status == steps.AwaitingOperator && m.busy == nil && m.policyConfirm(id) != nil:
		// The engine's policy confirms it on its own (a rehearsal); the
		// journal says so in the engine's words.
		d := m.policyConfirm(id)
		m.setStatus(levelInfo, "%s: %s.", id, d.Why)
		return m.start(decisionOp(*d))
	case state.Status == steps.AwaitingOperator:
		m.setStatus(levelWarn, "%s waits for you: %s Then press enter to confirm.", id, m.prompt(id, state))
	case state.Status == steps.Succeeded:
		stt := m.stepTiming(id)
		m.setStatus(levelOK, "✓ %s succeeded: %s used of %s.", id, common.Dur(stt.Elapsed), common.Dur(stt.Budget))
	default:
		m.setStatus(levelInfo, "%s is %s.", id, state.Status)
	}
	if w := pushNotice(state); w != "" && msg.err == nil && !canceled { // pushnotice.go
		m.setStatus(levelWarn, "%s %s", m.status, w)
	}
	cmds := []tea.Cmd{m.ring()}
	// The selection moves on with the run when it was on the finished step.
	if wasSelected && msg.err == nil && (state.Status.Done() || state.Status == steps.Undone) && m.timing.Current != "" && m.timing.Current != id {
		m.timeline.Select(m.timing.Current)
		cmds = append(cmds, m.needSelected())
	}
	if m.timing.Total > 0 && m.timing.Done == m.timing.Total && !m.run.Finished && msg.err == nil {
		cmds = append(cmds, finishCmd(m.sess))
	}
	return m, tea.Batch(cmds...)
}

// decide starts what the engine decides for step id under p, or says why
// it cannot.
func (m Model) decide(id string, p steps.Policy) (tea.Model, tea.Cmd) {
	d, err := m.sess.Next(id, p)
	if err != nil {
		m.setStatus(levelBad, "%s: %v", id, err)
		return m, nil
	}
	if d.Op == steps.OpAsk || d.Op == steps.OpNone || d.Op == steps.OpWait {
		m.setStatus(levelInfo, "%s %s.", id, d.Why)
		return m, nil
	}
	return m.start(decisionOp(d))
}

// policyConfirm is the engine's own confirmation of the manual action step
// id waits on (a rehearsal), or nil when a person must confirm.
func (m Model) policyConfirm(id string) *steps.Decision {
	d, err := m.sess.Next(id, steps.Policy{})
	if err != nil || d.Op != steps.OpConfirm || !d.Auto {
		return nil
	}
	return &d
}

// prompt is what the manual action a step waits on asks for.
func (m Model) prompt(id string, state steps.StepState) string {
	pi, si, ok := m.rb.StepRef(id)
	if !ok {
		return ""
	}
	s := m.rb.Phases[pi].Steps[si]
	if state.Manual >= 0 && state.Manual < len(s.Do) {
		if man, ok := s.Do[state.Manual].Params.(*steps.Manual); ok {
			p := strings.TrimSpace(man.Prompt)
			if p != "" && !strings.HasSuffix(p, ".") {
				p += "."
			}
			return p
		}
	}
	return "do the manual part."
}
