package runbooks

import (
	"fmt"
	"time"
)

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
		pp := PlannedPhase{Phase: p, Start: cursor, Steps: make([]PlannedStep, 0, len(p.Steps))}
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
func (r *Runbook) PlannedEnd() time.Time { return PlanEnd(r.Plan()) }

// PlanEnd is PlannedEnd of a plan already made (the plan is the costly part).
func PlanEnd(plan []PlannedPhase) time.Time {
	var end time.Time
	for _, p := range plan {
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

// OnDate returns a copy of the runbook whose schedule is moved to another
// day (YYYY-MM-DD): the same clock times in the same time zone. A team
// rehearses on one day and runs the window on another; the runbook keeps
// the date it was planned for.
func (r *Runbook) OnDate(date string) (*Runbook, error) {
	day, err := time.ParseInLocation("2006-01-02", date, r.Schedule.Location)
	if err != nil {
		return nil, fmt.Errorf("date %q: expected YYYY-MM-DD", date)
	}
	old, err := time.ParseInLocation("2006-01-02", r.Schedule.Date, r.Schedule.Location)
	if err != nil {
		return nil, fmt.Errorf("runbook date %q: %w", r.Schedule.Date, err)
	}
	y, m, d := day.Date()
	oy, om, od := old.Date()
	shift := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		// Whole days by the calendar, so clock times survive DST changes.
		return t.AddDate(y-oy, int(m-om), d-od)
	}
	c := *r
	c.Schedule.Date = date
	c.Schedule.Start = shift(r.Schedule.Start)
	c.Phases = make([]Phase, len(r.Phases))
	for i, p := range r.Phases {
		p.SlotStart, p.SlotEnd = shift(p.SlotStart), shift(p.SlotEnd)
		c.Phases[i] = p
	}
	return &c, nil
}
