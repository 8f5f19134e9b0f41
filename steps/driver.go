package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// drive journals ev and then performs the effects Transition returned for
// it, and for every event that work records in turn, until none is left.
// It is the one place that runs actions and checkpoints: Session performs
// what the table asks for, nothing else. Actions run under a context that
// Cancel can cancel; checkpoints under ctx, so a cancel never cuts one.
func (s *Session) drive(ctx context.Context, ev Event) error {
	// The run lock first: a step never starts while another session
	// holds the database.
	if err := s.keepDBLock(ctx, ev.Step); err != nil {
		return err
	}
	ev = s.checkpointRule(ev)
	effs, err := s.recordEffects(ev)
	if err != nil {
		return err
	}
	actx, done := s.begin(ctx, ev.Step)
	defer done()
	for len(effs) > 0 {
		e := effs[0]
		effs = effs[1:]
		if e.Kind != EffCheckpoint {
			// A side effect begins only once the store holds its start
			// (bounded: a store away lets the run go on locally).
			if err := s.awaitShared(ctx); err != nil {
				return err
			}
		}
		next, err := s.perform(ctx, actx, e)
		if err != nil {
			return err
		}
		effs = append(next, effs...)
	}
	// A step may have restarted the database or rotated its password:
	// the lock is taken again now, not only when the next step begins.
	return s.keepDBLock(ctx, ev.Step)
}

// checkpointRule marks the end of a step whose phase keeps no
// checkpoints, so that Transition asks for none.
func (s *Session) checkpointRule(ev Event) Event {
	switch ev.Kind {
	case EvStepSucceeded, EvStepMarkedDone, EvStepSkipped, EvUndoFinished:
		if p, _, err := s.step(ev.Step); err == nil && !p.Checkpoint {
			ev.NoCheckpoint = true
		}
	}
	return ev
}

// next journals the event an effect's work ended in and returns the
// effects it asks for.
func (s *Session) next(ev Event) ([]Effect, error) {
	return s.recordEffects(s.checkpointRule(ev))
}

// perform does one effect: runs actions or commits a checkpoint, journals
// how it ended, and returns the effects that record asks for.
func (s *Session) perform(ctx, actx context.Context, e Effect) ([]Effect, error) {
	phase, step, err := s.step(e.Step)
	if err != nil {
		return nil, err
	}
	id := e.Step
	switch e.Kind {
	case EffRunDo:
		if len(step.Do) == 0 && !e.Confirmed {
			// A step with no do actions is work for a person: it waits for
			// the operator like a manual action (Action -1: none of the list).
			return s.next(Event{Kind: EvStepAwaiting, Step: id, Action: -1})
		}
		out := s.output(id)
		defer out.Close()
		for i := e.From; i < len(step.Do); i++ {
			a := step.Do[i]
			err := s.runAction(actx, step, a, out, step.Retries)
			if IsNeedsOperator(err) {
				return s.next(Event{Kind: EvStepAwaiting, Step: id, Action: i})
			}
			if err != nil {
				return nil, s.fail(actx, id, EvStepFailed, actionLabel("do", i, a), err)
			}
		}
		if len(step.Verify) > 0 {
			return s.next(Event{Kind: EvStepVerifying, Step: id})
		}
		return s.next(Event{Kind: EvStepSucceeded, Step: id})
	case EffRunVerify:
		out := s.output(id)
		defer out.Close()
		for i, a := range step.Verify {
			if err := s.runAction(actx, step, a, out, 0); err != nil {
				if IsNeedsOperator(err) {
					err = errors.New("a manual action cannot verify: use mark done")
				}
				return nil, s.fail(actx, id, EvStepFailed, actionLabel("verify", i, a), err)
			}
		}
		return s.next(Event{Kind: EvStepSucceeded, Step: id})
	case EffRunUndo:
		out := s.output(id)
		defer out.Close()
		for i, a := range step.Undo {
			if err := s.runAction(actx, step, a, out, step.Retries); err != nil {
				var nop *NeedsOperatorError
				if errors.As(err, &nop) && (s.opt.ConfirmManualUndo || s.opt.Rehearsal) {
					if _, err := s.next(Event{Kind: EvNote, Step: id, Actor: s.opt.Operator, Note: manualUndoNote(s.opt.Rehearsal, nop.Prompt)}); err != nil {
						return nil, err
					}
					continue
				}
				if IsNeedsOperator(err) {
					err = fmt.Errorf("manual undo: %w; do it by hand, then undo again with manual undos confirmed", err)
				}
				return nil, s.fail(actx, id, EvUndoFailed, actionLabel("undo", i, a), err)
			}
		}
		return s.next(Event{Kind: EvUndoFinished, Step: id})
	case EffCheckpoint:
		return nil, s.checkpoint(ctx, phase, step)
	}
	return nil, fmt.Errorf("step %s: unknown effect %s", id, e.Kind)
}

// Start runs a step's do actions (a first run, or a retry after failure,
// undo or a dirty stop), then its verify actions. A manual action stops it
// in AwaitingOperator; Confirm continues.
func (s *Session) Start(ctx context.Context, id string) error {
	return s.start(ctx, id, s.opt.Operator)
}

func (s *Session) start(ctx context.Context, id, actor string) error {
	_, _, err := s.step(id)
	if err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	st, _ := s.stepState(id)
	return s.drive(ctx, Event{Kind: EvStepStarted, Step: id, Attempt: st.Attempts + 1, Actor: actor})
}

// Confirm records that the operator did the manual action the step awaits,
// and continues the step.
func (s *Session) Confirm(ctx context.Context, id, actor, remark string) error {
	if _, _, err := s.step(id); err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	st, _ := s.stepState(id)
	_, step, _ := s.step(id)
	if st.Manual >= len(step.Do) || (st.Manual >= 0 && step.Do[st.Manual].Type != "manual") {
		// The runbook changed while the step waited: the index no longer
		// points at the manual action it waited on.
		return fmt.Errorf("step %s: the runbook changed since it began waiting for the operator; retry it from the start or mark it done", id)
	}
	return s.drive(ctx, Event{Kind: EvStepConfirmed, Step: id, Actor: actor, Reason: remark, Action: st.Manual})
}

// Verify runs a step's verify actions: after a dirty stop, or to re-check.
func (s *Session) Verify(ctx context.Context, id string) error {
	return s.verify(ctx, id, s.opt.Operator)
}

func (s *Session) verify(ctx context.Context, id, actor string) error {
	_, step, err := s.step(id)
	if err != nil {
		return err
	}
	if len(step.Verify) == 0 {
		return fmt.Errorf("step %s has no verify actions: retry it, mark it done or undo it", id)
	}
	s.work.Lock()
	defer s.work.Unlock()
	return s.drive(ctx, Event{Kind: EvStepVerifying, Step: id, Actor: actor})
}

// StepError is a step that failed or was cancelled; the failure is
// journaled. Error() names the step and the action; Hint() says what the
// operator can do next.
type StepError struct {
	Step string
	// Err is the failure, redacted, beginning with the action's label.
	Err error
	// Action names the failing action: `do "apply compose"` when it has a
	// name:, else `do 2 (shell)`.
	Action string
	// Status is where the step stands now (Failed after a failure or a
	// cancel).
	Status Status
	// CancelledBy names who cancelled the step (empty for a failure).
	CancelledBy string
	// Next lists what may be done with the step now, from Transition's
	// table and the step's actions (see Choices).
	Next []Op
}

func (e *StepError) Error() string { return "step " + e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// Hint is the next thing the operator can do, in words: "next: retry,
// verify, undo, mark done or skip". Empty when nothing is possible.
func (e *StepError) Hint() string {
	if len(e.Next) == 0 {
		return ""
	}
	return "next: " + OpsText(e.Next, e.Status)
}

// actionLabel names an action in a failure: by its name: when it has one.
func actionLabel(list string, i int, a runbooks.Action) string {
	if a.Name != "" {
		return fmt.Sprintf("%s %q", list, a.Name)
	}
	return fmt.Sprintf("%s %d (%s)", list, i+1, a.Type)
}

// fail journals the end of a step's work that did not succeed: cancelled
// when the operator cancelled it (Cancel), else failed (kind). ctx is the
// context the actions ran under.
func (s *Session) fail(ctx context.Context, id string, kind EventKind, label string, cause error) error {
	msg := termsafe.Text(label + ": " + cause.Error())
	ev := Event{Kind: kind, Step: id}
	var c *CancelledError
	switch {
	case errors.As(context.Cause(ctx), &c):
		ev.Kind, ev.Actor = EvStepCancelled, c.By
		ev.Note = "cancel asked at " + c.At.UTC().Format(time.RFC3339Nano)
		// The action's own error is the cancel seen from inside it
		// ("sh: context canceled"): say which action was cut off, and
		// what it was doing, without the context's words.
		msg = label + " was cut off"
		detail := cause.Error()
		for _, noise := range []string{context.Canceled.Error(), c.Error()} {
			detail = strings.TrimSuffix(detail, ": "+noise)
			if detail == noise {
				detail = ""
			}
		}
		if detail != "" {
			msg += ": " + detail
		}
		msg = termsafe.Text(msg)
	case errors.Is(cause, context.Canceled):
		msg = "interrupted by the operator: " + msg
	}
	ev.Err = msg
	if err := s.record(ev); err != nil {
		return errors.Join(cause, err)
	}
	_, step, _ := s.step(id)
	st, _ := s.stepState(id)
	if ev.Kind == EvStepCancelled {
		msg = st.LastErr
	}
	return &StepError{
		Step: id, Err: errors.New(s.opt.Redactor.String(msg)), Action: label,
		Status: st.Status, CancelledBy: st.CancelledBy,
		Next: Choices(st, len(step.Verify) > 0, len(step.Undo) > 0),
	}
}

// CancelledError is the cause of a context cancelled by Session.Cancel.
type CancelledError struct {
	By string
	At time.Time
}

func (e *CancelledError) Error() string { return "cancelled by " + e.By }

// inFlight is the step whose actions run now.
type inFlight struct {
	step   string
	cancel context.CancelCauseFunc
}

// begin marks step id's actions as running under a context that Cancel
// can cancel; done (idempotent) ends that.
func (s *Session) begin(ctx context.Context, id string) (context.Context, func()) {
	actx, cancel := context.WithCancelCause(ctx)
	f := &inFlight{step: id, cancel: cancel}
	s.mu.Lock()
	s.cur = f
	s.mu.Unlock()
	return actx, func() {
		s.mu.Lock()
		if s.cur == f {
			s.cur = nil
		}
		s.mu.Unlock()
	}
}

// Cancel cancels the actions of step id that run now: their context is
// cancelled (a shell action's process group is killed, a query cancelled,
// a wait stopped). It returns at once; the call running the step returns
// a *StepError once the journal holds EvStepCancelled (actor: by). The
// step is then Failed and offers retry, verify, undo or mark done. A
// checkpoint already under way is not cut.
func (s *Session) Cancel(id, by string) error {
	if strings.TrimSpace(by) == "" {
		return errors.New("cancel: who cancels is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.cur.step != id {
		st := s.run.Step(id)
		return fmt.Errorf("step %s is %s, not running: nothing to cancel", id, st.Status)
	}
	s.cur.cancel(&CancelledError{By: by, At: s.opt.Clock.Now()})
	return nil
}

// Running is the step whose actions run now, or "".
func (s *Session) Running() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return ""
	}
	return s.cur.step
}

// runAction runs one action with the step's timeout, retrying a failure up
// to retries times.
func (s *Session) runAction(ctx context.Context, step runbooks.Step, a runbooks.Action, out io.Writer, retries int) error {
	act, ok := a.Params.(Action)
	if !ok {
		return fmt.Errorf("action %s at %s cannot run (type %T)", a.Type, a.Pos, a.Params)
	}
	env := s.env(step.ID, out)
	timeout := step.Timeout
	if timeout == 0 {
		timeout = DefaultActionTimeout
	}
	var err error
	for try := 0; try <= retries; try++ {
		if try > 0 {
			env.Printf("retry %d of %d after: %v", try, retries, err)
		}
		label := a.Type
		if a.Name != "" {
			label = a.Name
		}
		env.Printf("▸ %s", label)
		s.debugf("action start: step %s: %s", step.ID, label)
		actx, cancel := context.WithTimeout(ctx, timeout)
		err = act.Run(actx, env)
		s.syncSaved(step.ID) // the undo's data follows the run (share_saved.go)
		s.debugf("action end: step %s: %s: %v", step.ID, label, err)
		if err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		cancel()
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			// The action did not say it was cancelled (a killed child says
			// "signal: killed"); keep the cause, so the failure is recorded
			// as an interruption.
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if err == nil || IsNeedsOperator(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (s *Session) env(step string, out io.Writer) *Env {
	st, _ := s.stepState(step)
	return &Env{
		Out: out, Targets: s.opt.Targets, Redact: s.opt.Redactor,
		Workspace: s.opt.Workspace, StateDir: s.opt.StateDir, Step: step,
		Rehearsal: s.opt.Rehearsal, Clock: s.opt.Clock, StepStarted: st.StartedAt,
		SaveDir: filepath.Join(RunDir(s.opt.StateDir, s.opt.Runbook.ID), "saved", step),
		Touched: s.touchedSet(step),
	}
}

func (s *Session) touchedSet(step string) *PathSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.touched == nil {
		s.touched = map[string]*PathSet{}
	}
	ps, ok := s.touched[step]
	if !ok {
		ps = new(PathSet)
		s.touched[step] = ps
	}
	return ps
}

// Env describes the environment a step's actions see, for plan views.
func (s *Session) Env(step string) *Env { return s.env(step, io.Discard) }

// Undo runs a step's undo actions.
func (s *Session) Undo(ctx context.Context, id string) error {
	return s.undo(ctx, id, s.opt.Operator)
}

func (s *Session) undo(ctx context.Context, id, actor string) error {
	if _, _, err := s.step(id); err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	if err := s.checkSavedHere(id); err != nil {
		return err
	}
	return s.drive(ctx, Event{Kind: EvUndoStarted, Step: id, Actor: actor})
}

// MarkDone declares a dirty, failed or awaiting step done. It waits for a
// running step: its checkpoint must not sweep up that step's files.
func (s *Session) MarkDone(ctx context.Context, id, reason string) error {
	return s.markDone(ctx, id, reason, s.opt.Operator)
}

func (s *Session) markDone(ctx context.Context, id, reason, actor string) error {
	if _, _, err := s.step(id); err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	return s.drive(ctx, Event{Kind: EvStepMarkedDone, Step: id, Reason: reason, Actor: actor})
}

// Skip skips a step; the reason is required and recorded. Like MarkDone,
// it waits for a running step.
func (s *Session) Skip(ctx context.Context, id, reason string) error {
	return s.skip(ctx, id, reason, s.opt.Operator)
}

func (s *Session) skip(ctx context.Context, id, reason, actor string) error {
	if _, _, err := s.step(id); err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	return s.drive(ctx, Event{Kind: EvStepSkipped, Step: id, Reason: reason, Actor: actor})
}
