package steps

import (
	"context"
	"fmt"
	"strings"
)

// Op is one thing that can be done with a step: by the operator, or by a
// policy on the operator's behalf.
type Op uint8

// Operations on a step. OpAsk and OpWait are answers of Next, never
// requests: only a person can choose, or the step is running.
const (
	OpNone     Op = iota // nothing: the step is done (succeeded or skipped)
	OpStart              // run the step's do actions (a first run or a retry)
	OpConfirm            // confirm the manual action the step waits on
	OpVerify             // run the step's verify actions
	OpMarkDone           // declare the step done (a reason is journaled)
	OpSkip               // skip the step (a reason is journaled)
	OpUndo               // run the step's undo actions
	OpAsk                // a person must choose: Decision.Choices
	OpWait               // the step is running: wait, or cancel it
	OpApprove            // the step waits for approval: Do waits for it (or the rehearsal gives its own)
)

var opNames = [...]string{
	OpNone: "none", OpStart: "start", OpConfirm: "confirm", OpVerify: "verify",
	OpMarkDone: "mark done", OpSkip: "skip", OpUndo: "undo", OpAsk: "ask", OpWait: "wait",
	OpApprove: "wait for approval",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", o)
}

// Word is the operation as the operator reads it for a step in status st:
// starting a step that has already been tried is a retry.
func (o Op) Word(st Status) string {
	if o == OpStart && st != Pending {
		return "retry"
	}
	return o.String()
}

// OpsText lists operations in words, "retry, verify, undo or mark done".
func OpsText(ops []Op, st Status) string {
	words := make([]string, len(ops))
	for i, o := range ops {
		words[i] = o.Word(st)
	}
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// opEvent is the journal event that begins each requestable operation;
// Transition's table decides from which statuses it may be requested.
var opEvent = []struct {
	op Op
	ev EventKind
}{
	{OpStart, EvStepStarted},
	{OpConfirm, EvStepConfirmed},
	{OpVerify, EvStepVerifying},
	{OpUndo, EvUndoStarted},
	{OpMarkDone, EvStepMarkedDone},
	{OpSkip, EvStepSkipped},
}

// Choices lists what may be done with a step in state st, in a fixed
// order (start, confirm, verify, undo, mark done, skip), straight from
// Transition's table: verify only when the step has verify actions, undo
// only when it has undo actions. A busy step has none (see Cancel).
func Choices(st StepState, hasVerify, hasUndo bool) []Op {
	if st.Status.Busy() {
		// Running → verifying is the driver's own move, not a choice:
		// a busy step can only be waited on or cancelled.
		return nil
	}
	var out []Op
	for _, oe := range opEvent {
		if (oe.op == OpVerify && !hasVerify) || (oe.op == OpUndo && !hasUndo) {
			continue
		}
		if _, _, err := Transition(st, Event{Kind: oe.ev, Step: "-", Actor: "-", Reason: "-"}); err == nil {
			out = append(out, oe.op)
		}
	}
	return out
}

// Policy is what a front end lets the engine decide without asking. The
// zero Policy decides only what needs no person: start a pending step,
// retry a failed one, and (in a rehearsal) confirm manual actions.
type Policy struct {
	// Actor is who decides; empty means the session's operator.
	Actor string
	// Confirm: a person at this front end asked for the step now (pressed
	// enter on it): a manual action it waits on is confirmed as theirs.
	Confirm bool
	// ConfirmManual confirms manual actions without review (headless
	// --confirm-manual); the journal says so.
	ConfirmManual bool
	// OnDirty is the standing choice for a step whose outcome is unknown
	// (dirty, or cancelled): OpVerify, OpStart, OpMarkDone or OpUndo.
	// OpNone asks.
	OnDirty Op
	// Reason is the operator's own words for a mark done or a confirm;
	// empty takes the policy's words.
	Reason string
}

// Decision is what happens next to a step and how the journal will say it.
// Do performs it; front ends show Why.
type Decision struct {
	Step   string
	Op     Op
	Actor  string // journaled as the event's actor
	Reason string // journaled reason (confirm remark, mark-done reason)
	// Choices: for OpAsk, what the person may choose (from Transition).
	Choices []Op
	// Status is the step's status when the decision was made.
	Status Status
	// Auto: the policy decided on its own (no person asked for this step).
	Auto bool
	// Why is one line for a log or status bar.
	Why string
}

// The words the journal carries for decisions a policy makes on the
// operator's behalf. They live here, once, so every front end writes the
// same record for the same decision.
const (
	rehearsalActor   = " (rehearsal auto-confirm)"
	rehearsalRemark  = "auto-confirmed in a rehearsal"
	unreviewedActor  = " (confirmed without review)"
	unreviewedRemark = "confirmed without review (--confirm-manual)"
	dirtyMarkReason  = "outcome unknown; marked done by the standing choice for dirty steps"
)

// Next decides what happens next to step id under policy p. It reads the
// step's state and does nothing; Do performs the decision.
func (s *Session) Next(id string, p Policy) (Decision, error) {
	_, step, err := s.step(id)
	if err != nil {
		return Decision{}, err
	}
	st, rehearsal := s.stepState(id)
	actor := p.Actor
	if actor == "" {
		actor = s.opt.Operator
	}
	d := Decision{Step: id, Status: st.Status, Actor: actor}
	choices := Choices(st, len(step.Verify) > 0, len(step.Undo) > 0)
	ask := func(why string) (Decision, error) {
		d.Op, d.Choices, d.Why = OpAsk, choices, why
		return d, nil
	}
	switch st.Status {
	case Succeeded, Skipped:
		d.Op, d.Why = OpNone, "is "+st.Status.String()
		return d, nil
	case Running, Verifying, Undoing:
		d.Op, d.Why = OpWait, "is "+st.Status.String()
		return d, nil
	case Pending, Undone:
		if short := ApprovalShort(step, st); short > 0 {
			return s.approvalDecision(d, step, short, rehearsal), nil
		}
		d.Op, d.Auto, d.Why = OpStart, !p.Confirm, "start"
		if st.Status == Undone {
			d.Why = "start again after its undo"
		}
		return d, nil
	case AwaitingOperator:
		switch {
		case p.Confirm:
			d.Op, d.Reason, d.Why = OpConfirm, p.Reason, "manual step confirmed by "+actor
		case rehearsal:
			d.Op, d.Auto = OpConfirm, true
			d.Actor, d.Reason, d.Why = actor+rehearsalActor, rehearsalRemark, "manual step auto-confirmed (rehearsal)"
		case p.ConfirmManual:
			d.Op, d.Auto = OpConfirm, true
			d.Actor, d.Reason, d.Why = actor+unreviewedActor, unreviewedRemark, "manual step confirmed without review (--confirm-manual)"
		default:
			return ask("waits for the operator to do its manual part and confirm it")
		}
		return d, nil
	case Failed, Dirty:
		if st.Status == Failed && st.CancelledBy == "" {
			d.Op, d.Auto = OpStart, !p.Confirm
			d.Why = fmt.Sprintf("retry (attempt %d) after: %s", st.Attempts+1, st.LastErr)
			return d, nil
		}
		what := "is dirty (started, outcome unknown)"
		if st.Status == Failed {
			what = "was cancelled by " + st.CancelledBy + " (outcome unknown)"
		}
		if p.OnDirty == OpNone {
			return ask(what + ": choose " + OpsText(choices, st.Status))
		}
		if !hasOp(choices, p.OnDirty) {
			return d, fmt.Errorf("step %s %s: %s is not possible (it can %s)", id, what, p.OnDirty.Word(st.Status), OpsText(choices, st.Status))
		}
		d.Op, d.Auto = p.OnDirty, true
		d.Why = what + ": " + p.OnDirty.Word(st.Status) + " (the standing choice for such steps)"
		if p.OnDirty == OpMarkDone {
			d.Reason = p.Reason
			if d.Reason == "" {
				d.Reason = dirtyMarkReason
			}
		}
		return d, nil
	}
	return d, fmt.Errorf("step %s is %s: nothing to decide", id, st.Status)
}

func hasOp(ops []Op, o Op) bool {
	for _, x := range ops {
		if x == o {
			return true
		}
	}
	return false
}

// Do performs a decision: the journal records Decision.Actor and Reason.
// OpNone and OpWait do nothing; OpAsk is an error (a person must choose).
func (s *Session) Do(ctx context.Context, d Decision) error {
	switch d.Op {
	case OpNone, OpWait:
		return nil
	case OpStart:
		return s.start(ctx, d.Step, d.Actor)
	case OpConfirm:
		return s.Confirm(ctx, d.Step, d.Actor, d.Reason)
	case OpVerify:
		return s.verify(ctx, d.Step, d.Actor)
	case OpMarkDone:
		return s.markDone(ctx, d.Step, d.Reason, d.Actor)
	case OpSkip:
		return s.skip(ctx, d.Step, d.Reason, d.Actor)
	case OpUndo:
		return s.undo(ctx, d.Step, d.Actor)
	case OpApprove:
		return s.awaitApprovals(ctx, d)
	case OpAsk:
		return fmt.Errorf("step %s: %s", d.Step, d.Why)
	}
	return fmt.Errorf("step %s: unknown operation %s", d.Step, d.Op)
}

// Advance decides what happens next to step id under p and does it: the
// headless runner's one call per turn.
func (s *Session) Advance(ctx context.Context, id string, p Policy) (Decision, error) {
	d, err := s.Next(id, p)
	if err != nil {
		return d, err
	}
	return d, s.Do(ctx, d)
}

// manualUndoNote is the note journaled when a policy takes a manual undo
// action as done.
func manualUndoNote(rehearsal bool, prompt string) string {
	return "manual undo taken as done (" + confirmWhy(rehearsal) + "): " + prompt
}

func confirmWhy(rehearsal bool) string {
	if rehearsal {
		return "rehearsal"
	}
	return "confirmed by the operator"
}
