package runbooks_test

import (
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

func planAt(h, m int) time.Time { return time.Date(2025, 10, 24, h, m, 0, 0, time.UTC) }

func planStep(id string, min int) runbooks.Step {
	return runbooks.Step{ID: id, Budget: time.Duration(min) * time.Minute}
}

// planRunbook: a 07:55 start before a 08:00 slot that its steps overrun,
// then a phase whose slot starts after a gap, then one that starts late
// because the phase before it overran.
func planRunbook() *runbooks.Runbook {
	return &runbooks.Runbook{
		Schedule: runbooks.Schedule{Start: planAt(7, 55), Location: time.UTC},
		Phases: []runbooks.Phase{
			{ID: "prep", SlotStart: planAt(7, 55), SlotEnd: planAt(8, 0), Steps: []runbooks.Step{planStep("final-prep", 5)}},
			{ID: "a", SlotStart: planAt(8, 0), SlotEnd: planAt(9, 0), Steps: []runbooks.Step{planStep("a1", 40), planStep("a2", 30)}},
			{ID: "b", SlotStart: planAt(9, 0), SlotEnd: planAt(9, 30), Steps: []runbooks.Step{planStep("b1", 15)}},
			{ID: "c", SlotStart: planAt(11, 0), SlotEnd: planAt(12, 0), Steps: []runbooks.Step{planStep("c1", 20), planStep("c2", 10)}},
		},
	}
}

func TestPlan(t *testing.T) {
	rb := planRunbook()
	plan := rb.Plan()
	type span struct{ id, start, end string }
	var got []span
	f := func(t time.Time) string { return t.Format("15:04") }
	for pi, pp := range plan {
		if pp.Phase != &rb.Phases[pi] {
			t.Errorf("phase %d does not point into the runbook", pi)
		}
		for si, ps := range pp.Steps {
			if ps.Phase != pi || ps.Index != si || ps.Step != &rb.Phases[pi].Steps[si] {
				t.Errorf("step %s indexes %d/%d", ps.Step.ID, ps.Phase, ps.Index)
			}
			got = append(got, span{ps.Step.ID, f(ps.Start), f(ps.End)})
		}
	}
	want := []span{
		{"final-prep", "07:55", "08:00"},
		{"a1", "08:00", "08:40"},
		{"a2", "08:40", "09:10"}, // runs past its slot
		{"b1", "09:10", "09:25"}, // starts late: a overran
		{"c1", "11:00", "11:20"}, // waits for its slot
		{"c2", "11:20", "11:30"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: got %v want %v", i, got[i], want[i])
		}
	}
	overruns := []time.Duration{0, 10 * time.Minute, 0, 0}
	for i, pp := range plan {
		if pp.Overrun != overruns[i] {
			t.Errorf("phase %s overrun %s; want %s", pp.Phase.ID, pp.Overrun, overruns[i])
		}
	}
	if f(plan[1].Start) != "08:00" || f(plan[1].End) != "09:10" {
		t.Errorf("phase a spans %s–%s", f(plan[1].Start), f(plan[1].End))
	}
}

func TestPlannedEndAndTotals(t *testing.T) {
	rb := planRunbook()
	if end := rb.PlannedEnd(); !end.Equal(planAt(12, 0)) {
		t.Errorf("planned end %v; want the last slot end", end)
	}
	// Steps that run past the last slot move the end.
	rb.Phases[3].Steps = append(rb.Phases[3].Steps, planStep("c3", 45))
	if end := rb.PlannedEnd(); !end.Equal(planAt(12, 15)) {
		t.Errorf("planned end %v; want the last step's end", end)
	}
	if got := rb.TotalBudget(); got != (5+40+30+15+20+10+45)*time.Minute {
		t.Errorf("total budget %s", got)
	}
	if got := rb.Phases[1].Budget(); got != 70*time.Minute {
		t.Errorf("phase a budget %s", got)
	}
	if got := rb.Phases[1].Slot(); got != time.Hour {
		t.Errorf("phase a slot %s", got)
	}
}

func TestPlanEmpty(t *testing.T) {
	rb := &runbooks.Runbook{}
	if len(rb.Plan()) != 0 || !rb.PlannedEnd().IsZero() || rb.TotalBudget() != 0 {
		t.Fatal("empty runbook has a plan")
	}
}
