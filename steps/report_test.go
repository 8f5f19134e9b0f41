package steps

import (
	"strings"
	"testing"
	"time"
)

// TestReportTotalsCompareTheSameSteps: with 2 of 4 steps done, the totals
// compare those two steps' budgets with their actual times, and the plan
// still ahead is a row of its own (not a day's budget against two steps).
func TestReportTotalsCompareTheSameSteps(t *testing.T) {
	r := newRunOnClock(t, "08:00").
		at("08:00", ev(EvStepStarted, "a")).at("08:12", ev(EvStepSucceeded, "a"), ev(EvStepStarted, "b")).
		at("08:27", ev(EvStepSucceeded, "b"))
	rb := timingRunbook()
	rb.Title = "Timing"
	var b strings.Builder
	if err := WriteReport(&b, rb, r.run, r.clk.Now(), NewRedactor()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		// a: 10m budget, 12m actual; b: 20m budget, 15m actual.
		"| **p1** | slot 08:00–09:00 | | **30:00** | **27:00** | −3:00 | 2/2 done |",
		"| **p2** | slot 09:00–10:00 | | **0:00** | **0:00** | — | 0/2 done, 45:00 remaining |",
		"| **total** (steps worked on) | | | **30:00** | **27:00** | −3:00 | 2/4 done |",
		"| **remaining** (not started) | | | **45:00** | — | | 2 steps |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks\n%s\nin:\n%s", want, out)
		}
	}
	// A running step counts in the totals with its time so far.
	r.at("09:00", ev(EvStepStarted, "c")).clk.Set(clockAt(t, "09:40"))
	b.Reset()
	WriteReport(&b, rb, r.run, r.clk.Now(), NewRedactor())
	if want := "| **total** (steps worked on) | | | **1:00:00** | **1:07:00** | +7:00 | 2/4 done |"; !strings.Contains(b.String(), want) {
		t.Errorf("with c running 40m of 30m, report lacks\n%s\nin:\n%s", want, b.String())
	}
}

// TestSettleMakesOrphansDirty: a step in flight in a journal nobody holds
// is dirty, as the next session will record it; a held one is left alone.
func TestSettleMakesOrphansDirty(t *testing.T) {
	r := newRunOnClock(t, "08:00").at("08:00", ev(EvStepStarted, "a")).at("08:04", Event{Kind: EvNote, Step: "a", Note: "x"})
	rb := timingRunbook()
	if got := Settle(rb, r.run, true).Step("a").Status; got != Running {
		t.Fatalf("held: %s", got)
	}
	s := Settle(rb, r.run, false)
	if got := s.Step("a"); got.Status != Dirty || got.InFlight != Running {
		t.Fatalf("not held: %s (in flight %s)", got.Status, got.InFlight)
	}
	if r.run.Step("a").Status != Running {
		t.Fatal("Settle changed the run it was given")
	}
	var b strings.Builder
	WriteReport(&b, rb, s, r.clk.Now().Add(time.Hour), NewRedactor())
	if !strings.Contains(b.String(), "| p1 | a —  | 08:00–08:10 | 10:00 | ") || !strings.Contains(b.String(), " dirty |") {
		t.Fatalf("report of the settled run:\n%s", b.String())
	}
}
