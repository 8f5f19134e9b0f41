package runbooks

import "time"

// PlannedStep is a step placed on the schedule.
type PlannedStep struct {
	Phase, Index int // indexes into Runbook.Phases and Phase.Steps
	Step         *Step
	Start, End   time.Time
}

// PlannedPhase is a phase placed on the schedule. Its steps run back to back
// from the later of its slot start and the previous phase's last step.
type PlannedPhase struct {
	Phase      *Phase
	Start, End time.Time // of its steps, not of its slot
	Steps      []PlannedStep
	// Overrun is how far the phase's steps run past its slot end (0 if not).
	Overrun time.Duration
}

// Plan lays every step on the clock: steps follow one another; a phase
// never starts before its slot.
func (r *Runbook) Plan() []PlannedPhase {
	out := make([]PlannedPhase, 0, len(r.Phases))
	cursor := r.Schedule.Start
	for i := range r.Phases {
		p := &r.Phases[i]
		if p.SlotStart.After(cursor) {
			cursor = p.SlotStart
		}
		pp := PlannedPhase{Phase: p, Start: cursor}
		for j := range p.Steps {
			s := &p.Steps[j]
			ps := PlannedStep{Phase: i, Index: j, Step: s, Start: cursor, End: cursor.Add(s.Budget)}
			cursor = ps.End
			pp.Steps = append(pp.Steps, ps)
		}
		pp.End = cursor
		if cursor.After(p.SlotEnd) {
			pp.Overrun = cursor.Sub(p.SlotEnd)
		}
		out = append(out, pp)
	}
	return out
}

// PlannedEnd is when the window is planned to end: the later of the last
// slot end and the last planned step end.
func (r *Runbook) PlannedEnd() time.Time {
	var end time.Time
	for _, p := range r.Plan() {
		if p.End.After(end) {
			end = p.End
		}
		if p.Phase.SlotEnd.After(end) {
			end = p.Phase.SlotEnd
		}
	}
	return end
}

// TotalBudget is the sum of every step budget.
func (r *Runbook) TotalBudget() time.Duration {
	var d time.Duration
	for _, p := range r.Phases {
		d += p.Budget()
	}
	return d
}
