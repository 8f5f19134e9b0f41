package steps

import (
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// StepTiming is one step against its budget.
type StepTiming struct {
	ID           string
	Status       Status
	Budget       time.Duration
	Elapsed      time.Duration
	Over         bool // elapsed beyond budget
	PlannedStart time.Time
	PlannedEnd   time.Time
}

// PhaseTiming is one phase against its slot.
type PhaseTiming struct {
	ID          string
	SlotStart   time.Time
	SlotEnd     time.Time
	SlotLeft    time.Duration // until slot end from now (negative: overrun)
	Budget      time.Duration
	Done, Total int
	Steps       []StepTiming
}

// Timing is the whole window as of one moment.
type Timing struct {
	Now          time.Time
	PlannedStart time.Time
	PlannedEnd   time.Time
	// Remaining is the budget of every step not yet done (the running
	// step counts what is left of its budget).
	Remaining time.Duration
	// ProjectedFinish is now (or the planned start, if later) plus Remaining.
	ProjectedFinish time.Time
	// Buffer is PlannedEnd - ProjectedFinish (negative: the window is short).
	Buffer time.Duration
	// Variance is how far the current step runs behind its plan (positive)
	// or ahead of it (negative).
	Variance time.Duration
	// Current is the step being worked on or next, and its phase index.
	Current      string
	CurrentPhase int
	Done, Total  int
	// UndoNeeded is the undo budget of every step that has been done and
	// not undone: what a rollback from here would take.
	UndoNeeded time.Duration
	// NoReturnAt is the point of no return: the last moment at which a
	// rollback of what has been done still ends within the window
	// (PlannedEnd - UndoNeeded). Zero when nothing done needs undoing.
	NoReturnAt time.Time
	// UntilNoReturn is how long until NoReturnAt (negative: past it).
	UntilNoReturn time.Duration
	// PhaseRemaining is the budget left of the current phase's steps not
	// yet done (the running step counts what is left of its budget).
	PhaseRemaining time.Duration
	// NoReturn warns BEFORE the point: the time left in the window no
	// longer covers finishing the current phase's planned work and then
	// undoing what has been done (PlannedEnd - now < PhaseRemaining +
	// UndoNeeded). It stays set once the point has passed (PastNoReturn).
	NoReturn bool
	// PastNoReturn: the point has passed; a rollback no longer fits.
	PastNoReturn bool
	Phases       []PhaseTiming
}

// Behind reports whether the run is behind its plan.
func (t Timing) Behind() bool { return t.Variance > 0 }

// ComputeTiming places the run on the clock. It is pure: same inputs, same
// figures.
func ComputeTiming(rb *runbooks.Runbook, run *Run, now time.Time) Timing {
	plan := rb.Plan()
	t := Timing{Now: now, PlannedStart: rb.Schedule.Start, PlannedEnd: runbooks.PlanEnd(plan), CurrentPhase: -1, Phases: make([]PhaseTiming, 0, len(plan))}
	var current *StepTiming
	var currentState StepState
	var lastEnd time.Time // when the last step done ended
	for pi, pp := range plan {
		ph := PhaseTiming{Steps: make([]StepTiming, 0, len(pp.Steps)), ID: pp.Phase.ID, SlotStart: pp.Phase.SlotStart, SlotEnd: pp.Phase.SlotEnd, SlotLeft: pp.Phase.SlotEnd.Sub(now), Budget: pp.Phase.Budget(), Total: len(pp.Steps)}
		for _, ps := range pp.Steps {
			st := run.Step(ps.Step.ID)
			stt := StepTiming{ID: ps.Step.ID, Status: st.Status, Budget: ps.Step.Budget, Elapsed: st.Elapsed(now), PlannedStart: ps.Start, PlannedEnd: ps.End}
			stt.Over = stt.Elapsed > stt.Budget
			t.Total++
			if st.Status.Done() {
				ph.Done++
				t.Done++
				if st.FinishedAt.After(lastEnd) {
					lastEnd = st.FinishedAt
				}
			} else {
				left := stt.Budget - stt.Elapsed
				if left < 0 {
					left = 0
				}
				t.Remaining += left
			}
			// A step done again after an undo has its changes back, and so
			// its undo counts again.
			if st.Status == Succeeded || st.Status == Failed || st.Status == Dirty {
				t.UndoNeeded += ps.Step.UndoBudget
			}
			ph.Steps = append(ph.Steps, stt)
		}
		t.Phases = append(t.Phases, ph)
		_ = pi
	}
	// The current step: the first one in flight or waiting, else the first
	// not done.
	for pi := range t.Phases {
		for si := range t.Phases[pi].Steps {
			s := &t.Phases[pi].Steps[si]
			if s.Status.Busy() || s.Status == AwaitingOperator || s.Status == Dirty {
				current, t.CurrentPhase = s, pi
				break
			}
		}
		if current != nil {
			break
		}
	}
	if current == nil {
		for pi := range t.Phases {
			for si := range t.Phases[pi].Steps {
				if s := &t.Phases[pi].Steps[si]; !s.Status.Done() {
					current, t.CurrentPhase = s, pi
					break
				}
			}
			if current != nil {
				break
			}
		}
	}
	base := now
	if t.PlannedStart.After(base) {
		base = t.PlannedStart
	}
	t.ProjectedFinish = base.Add(t.Remaining)
	allDone := t.Total > 0 && t.Done == t.Total
	switch {
	case run.Finished && t.Remaining == 0:
		// The window is over: its finish is a fact, not a projection.
		t.ProjectedFinish = run.FinishedAt
	case allDone && !lastEnd.IsZero():
		// Every step is done but nobody ended the run yet: the work
		// finished when its last step did, not at every new now.
		t.ProjectedFinish = lastEnd
	}
	t.Buffer = t.PlannedEnd.Sub(t.ProjectedFinish)
	if current != nil {
		t.Current = current.ID
		currentState = run.Step(current.ID)
		// When will the current step end if it takes its budget?
		end := now.Add(current.Budget - current.Elapsed)
		if current.Elapsed > current.Budget {
			end = now
		}
		if currentState.StartedAt.IsZero() && now.Before(current.PlannedStart) {
			end = current.PlannedStart.Add(current.Budget)
		}
		t.Variance = end.Sub(current.PlannedEnd)
		if t.Variance < 0 && now.Before(t.PlannedStart) {
			// Work done before the window opens does not put the run
			// ahead: between steps it waits for their planned starts
			// (the rule above), so counting a running step's early end
			// would flip the pace to "ahead" and back with every step.
			t.Variance = 0
		}
	} else if len(plan) > 0 && (run.Finished || allDone) {
		t.Variance = t.ProjectedFinish.Sub(t.PlannedEnd)
	}
	if t.CurrentPhase >= 0 {
		for _, s := range t.Phases[t.CurrentPhase].Steps {
			if !s.Status.Done() {
				t.PhaseRemaining += max(s.Budget-s.Elapsed, 0)
			}
		}
	}
	if t.UndoNeeded > 0 && !run.Finished {
		t.NoReturnAt = t.PlannedEnd.Add(-t.UndoNeeded)
		t.UntilNoReturn = t.NoReturnAt.Sub(now)
		t.NoReturn = t.PlannedEnd.Sub(now) < t.PhaseRemaining+t.UndoNeeded
		t.PastNoReturn = t.UntilNoReturn < 0
	}
	return t
}
