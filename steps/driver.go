package steps

import (
	"context"
	"errors"
	"fmt"
)

// drive journals ev and then performs the effects Transition returned for
// it, and for every event that work records in turn, until none is left.
// It is the one place that runs actions and checkpoints: Session performs
// what the table asks for, nothing else. Actions run under a context that
// Cancel can cancel; checkpoints under ctx, so a cancel never cuts one.
func (s *Session) drive(ctx context.Context, ev Event) error {
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
		next, err := s.perform(ctx, actx, e)
		if err != nil {
			return err
		}
		effs = append(next, effs...)
	}
	return nil
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
