package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// Moment is a notable moment of a run, for notifications: derived here,
// once, from what the session journals (a record is durable before its
// moment is told) and from the clock (a step over its budget, the point of
// no return near). Kind is one of runbooks.NotifyEvents.
type Moment struct {
	Kind   string
	Step   string
	Actor  string
	Host   string
	Detail string
	At     time.Time
}

// Moment kinds: the names runbooks.NotifyEvents lists.
const (
	MomentRunStarted     = "run_started"
	MomentRunResumed     = "run_resumed"
	MomentRunTakenOver   = "run_taken_over"
	MomentApprovalNeeded = "approval_needed"
	MomentStepFailed     = "step_failed"
	MomentOverBudget     = "step_over_budget"
	MomentNoReturnNear   = "point_of_no_return_near"
	MomentRunFinished    = "run_finished"
)

// moments remembers what has been told, so each step's overrun and the
// point of no return are told once.
type moments struct {
	over     map[string]bool
	noReturn bool
}

// record is the moments one durable record shows. prevOperator is who
// drove the run before the record (a resume by someone else is a
// take-over).
func (m *moments) record(rb *runbooks.Runbook, ev Event, run *Run, prevOperator string, now time.Time) []Moment {
	var out []Moment
	mo := func(kind, detail string) {
		out = append(out, Moment{Kind: kind, Step: ev.Step, Actor: ev.Actor, Host: ev.Host, Detail: detail, At: ev.At})
	}
	switch ev.Kind {
	case EvRunStarted:
		mo(MomentRunStarted, "")
	case EvRunResumed:
		if prevOperator != "" && ev.Actor != prevOperator {
			mo(MomentRunTakenOver, "taken over from "+prevOperator)
		} else {
			mo(MomentRunResumed, ev.Note)
		}
	case EvApprovalAsked:
		mo(MomentApprovalNeeded, ev.Note)
	case EvStepFailed:
		mo(MomentStepFailed, ev.Err)
	case EvUndoFailed:
		mo(MomentStepFailed, "undo: "+ev.Err)
	case EvRunFinished:
		mo(MomentRunFinished, "")
	}
	if ev.Kind == EvStepSucceeded || ev.Kind == EvStepFailed {
		if _, step, ok := rb.Step(ev.Step); ok {
			out = append(out, m.overBudget(step, run.Step(ev.Step), now)...)
		}
	}
	if ev.Kind != EvRunStarted && ev.Kind != EvRunFinished {
		out = append(out, m.clock(rb, run, now)...)
	}
	return out
}

// tick is the moments the clock alone brings: the step at work over its
// budget, the point of no return near.
func (m *moments) tick(rb *runbooks.Runbook, run *Run, now time.Time) []Moment {
	var out []Moment
	for _, step := range rb.Steps() {
		if st := run.Step(step.ID); st.Status.Busy() || st.Status == AwaitingOperator {
			out = append(out, m.overBudget(step, st, now)...)
		}
	}
	return append(out, m.clock(rb, run, now)...)
}

func (m *moments) overBudget(step runbooks.Step, st StepState, now time.Time) []Moment {
	el := st.Elapsed(now)
	if m.over[step.ID] || el <= step.Budget {
		return nil
	}
	if m.over == nil {
		m.over = map[string]bool{}
	}
	m.over[step.ID] = true
	return []Moment{{Kind: MomentOverBudget, Step: step.ID, At: now,
		Detail: fmt.Sprintf("%s has taken %s of its %s budget", step.ID, FormatClock(el.Truncate(time.Second)), FormatClock(step.Budget))}}
}

func (m *moments) clock(rb *runbooks.Runbook, run *Run, now time.Time) []Moment {
	if run.Finished || run.StartedAt.IsZero() {
		return nil
	}
	t := ComputeTiming(rb, run, now)
	if !t.NoReturn || m.noReturn {
		return nil
	}
	m.noReturn = true
	detail := "a rollback no longer fits in the window"
	if !t.PastNoReturn && !t.NoReturnAt.IsZero() {
		detail = fmt.Sprintf("rollback must start by %s to end within the window (%s left)", t.NoReturnAt.In(rb.Schedule.Location).Format("15:04"), FormatClock(t.UntilNoReturn.Truncate(time.Second)))
	}
	return []Moment{{Kind: MomentNoReturnNear, Step: t.Current, At: now, Detail: detail}}
}

// tell hands moments to Options.Notify (mu held).
func (s *Session) tell(ms []Moment) {
	if s.opt.Notify == nil {
		return
	}
	for _, m := range ms {
		s.opt.Notify(m)
	}
}

// startBackground starts what runs beside the steps: journaling followers'
// notes (Options.Notes) and the notification clock (Options.Notify).
func (s *Session) startBackground() {
	if s.opt.Notes == nil && s.opt.Notify == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.bg = cancel
	if s.opt.Notes != nil {
		s.bgDone.Add(1)
		go func() {
			defer s.bgDone.Done()
			s.journalNotes(ctx)
		}()
	}
	if s.opt.Notify != nil {
		every := s.opt.NotifyEvery
		if every <= 0 {
			every = 15 * time.Second
		}
		s.bgDone.Add(1)
		go func() {
			defer s.bgDone.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					s.NotifyClock()
				}
			}
		}()
	}
}

func (s *Session) stopBackground() {
	if s.bg != nil {
		s.bg()
		s.bgDone.Wait()
	}
}

// NotifyClock tells the moments the clock brings now (a step over budget,
// the point of no return near); the session calls it on its own every
// Options.NotifyEvery.
func (s *Session) NotifyClock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal == nil || s.opt.Notify == nil {
		return
	}
	s.tell(s.watch.tick(s.opt.Runbook, s.run, s.opt.Clock.Now()))
}
