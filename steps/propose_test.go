package steps

import (
	"testing"
	"time"
)

func TestProposeBudgets(t *testing.T) {
	// a took 12m: 15m with a quarter added; b took 17m: 21m15s rounded up
	// to 25m; c failed: keeps its budget; d never ran: keeps its budget.
	r := newRunOnClock(t, "08:00").
		at("08:00", ev(EvStepStarted, "a")).at("08:12", ev(EvStepSucceeded, "a"), ev(EvStepStarted, "b")).
		at("08:29", ev(EvStepSucceeded, "b"), ev(EvStepStarted, "c")).at("08:30", Event{Kind: EvStepFailed, Step: "c", Err: "boom"})
	got := ProposeBudgets(timingRunbook(), r.run)
	want := []Proposal{
		{Step: "a", Actual: 12 * time.Minute, HasActual: true, Budget: 15 * time.Minute},
		{Step: "b", Actual: 17 * time.Minute, HasActual: true, Budget: 25 * time.Minute},
		{Step: "c", Budget: 30 * time.Minute, Kept: "keep: failed in that run"},
		{Step: "d", Budget: 15 * time.Minute, Kept: "keep: pending in that run"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d proposals, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("proposal %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// Seconds of work propose the smallest budget, five minutes.
	q := newRunOnClock(t, "08:00").at("08:00", ev(EvStepStarted, "a")).at("08:00:03", ev(EvStepSucceeded, "a"))
	if p := ProposeBudgets(timingRunbook(), q.run)[0]; p.Budget != 5*time.Minute || p.Actual != 3*time.Second {
		t.Errorf("3s of work: %+v", p)
	}
}
