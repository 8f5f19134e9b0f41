package ui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui/components/guide"
)

// opKind is a session call the UI makes for the operator.
type opKind uint8

const (
	opStart    opKind = iota + 1 // Session.Start: run (or retry) the step
	opConfirm                    // Session.Confirm: the manual action is done
	opVerify                     // Session.Verify
	opUndo                       // Session.Undo
	opMarkDone                   // Session.MarkDone (reason)
	opSkip                       // Session.Skip (reason)
	opNote                       // Session.Note (text)
	opTick                       // Session.Tick (item, checked)
	opWaitAppr                   // Session.Do(OpApprove): wait for the step's approvals
	opApprove                    // Session.Approve (who, text): an approval given here
	opAskAppr                    // Session.AskApproval: journal that the step waits for approval
)

func (k opKind) String() string {
	switch k {
	case opStart:
		return "run"
	case opConfirm:
		return "confirm"
	case opVerify:
		return "verify"
	case opUndo:
		return "undo"
	case opMarkDone:
		return "mark done"
	case opSkip:
		return "skip"
	case opNote:
		return "note"
	case opTick:
		return "tick"
	case opWaitAppr:
		return "wait for approval"
	case opApprove:
		return "approve"
	case opAskAppr:
		return "ask for approval"
	}
	return "op"
}

// long reports whether the op runs actions or commits a checkpoint: one
// at a time, cancellable, and it must end before the program may exit (a
// checkpoint cut off mid-write would leave the workspace's index locked).
func (k opKind) long() bool {
	return k == opStart || k == opConfirm || k == opVerify || k == opUndo || k == opSkip || k == opMarkDone || k == opWaitAppr
}

// op is one session call with its arguments.
type op struct {
	kind    opKind
	step    string
	text    string // reason, note, remark
	item    int
	checked bool
	who     string // the approver (opApprove)
	// dec, when set, is the engine's decision (Session.Next) this op
	// performs with Session.Do: the journal then says what every front
	// end says for that decision.
	dec *steps.Decision
}

// decisionOp is the op that performs an engine decision.
func decisionOp(d steps.Decision) op {
	kinds := map[steps.Op]opKind{steps.OpStart: opStart, steps.OpConfirm: opConfirm, steps.OpVerify: opVerify,
		steps.OpUndo: opUndo, steps.OpMarkDone: opMarkDone, steps.OpSkip: opSkip, steps.OpApprove: opWaitAppr}
	return op{kind: kinds[d.Op], step: d.Step, text: d.Reason, dec: &d}
}

// opDoneMsg reports a finished session call with the state after it.
type opDoneMsg struct {
	op   op
	err  error
	snap *steps.Run
	now  time.Time
}

// tickMsg is the once-a-second refresh: the clock and a fresh snapshot
// (steps change state while their actions run).
type tickMsg struct {
	snap *steps.Run
	now  time.Time
}

// describedMsg carries the plan of a step's actions in words.
type describedMsg struct {
	step string
	d    *guide.Described
}

// finishedMsg reports the run.finished record.
type finishedMsg struct {
	err  error
	snap *steps.Run
}

// runOpCmd calls the session. The context is the op's own: quitting
// cancels it and then waits for this command's message, which comes only
// after the session has journaled the outcome.
func runOpCmd(ctx context.Context, sess *steps.Session, clock steps.Clock, operator string, o op) tea.Cmd {
	return func() tea.Msg {
		var err error
		switch {
		case o.dec != nil:
			err = sess.Do(ctx, *o.dec)
		case o.kind == opStart:
			err = sess.Start(ctx, o.step)
		case o.kind == opConfirm:
			err = sess.Confirm(ctx, o.step, operator, o.text)
		case o.kind == opVerify:
			err = sess.Verify(ctx, o.step)
		case o.kind == opUndo:
			err = sess.Undo(ctx, o.step)
		case o.kind == opMarkDone:
			err = sess.MarkDone(ctx, o.step, o.text)
		case o.kind == opSkip:
			err = sess.Skip(ctx, o.step, o.text)
		case o.kind == opNote:
			err = sess.Note(o.step, o.text)
		case o.kind == opTick:
			err = sess.Tick(o.step, o.item, o.checked)
		case o.kind == opApprove:
			err = sess.Approve(o.step, o.who, o.text)
		case o.kind == opAskAppr:
			err = sess.AskApproval(o.step)
		}
		return opDoneMsg{op: o, err: err, snap: sess.Snapshot(), now: clock.Now()}
	}
}

// tickCmd schedules the next refresh.
func tickCmd(sess *steps.Session, clock steps.Clock) tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg {
		return tickMsg{snap: sess.Snapshot(), now: clock.Now()}
	})
}

// describeCmd describes a step's actions against the session's targets.
func describeCmd(sess *steps.Session, step runbooks.Step) tea.Cmd {
	return func() tea.Msg {
		return describedMsg{step: step.ID, d: guide.Describe(step, sess.Env(step.ID))}
	}
}

// finishCmd records the end of the run.
func finishCmd(sess *steps.Session) tea.Cmd {
	return func() tea.Msg {
		err := sess.Finish()
		return finishedMsg{err: err, snap: sess.Snapshot()}
	}
}
