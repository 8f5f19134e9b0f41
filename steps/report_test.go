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

// TestCountKilled: a step killed 7 minutes into its work (its log says
// so) counts those 7 minutes, in the timing and the report alike.
func TestCountKilled(t *testing.T) {
	r := newRunOnClock(t, "08:00").at("08:00", ev(EvStepStarted, "a"))
	rb := timingRunbook()
	dirty := Settle(rb, r.run, false)
	if got := dirty.Step("a").Elapsed(clockAt(t, "09:00")); got != 0 {
		t.Fatalf("before: %s", got)
	}
	seen := map[string]time.Time{"a": clockAt(t, "08:07")}
	k := CountKilled(dirty, func(id string) time.Time { return seen[id] })
	if got := k.Step("a").Elapsed(clockAt(t, "09:00")); got != 7*time.Minute {
		t.Fatalf("killed attempt counts %s, want 7m", got)
	}
	if dirty.Step("a").Elapsed(clockAt(t, "09:00")) != 0 {
		t.Fatal("CountKilled changed the run it was given")
	}
	if tm := ComputeTiming(rb, k, clockAt(t, "09:00")); tm.Phases[0].Steps[0].Elapsed != 7*time.Minute {
		t.Fatalf("timing sees %s", tm.Phases[0].Steps[0].Elapsed)
	}
	var b strings.Builder
	WriteReport(&b, rb, k, clockAt(t, "09:00"), NewRedactor())
	if !strings.Contains(b.String(), "| p1 | a —  | 08:00–08:10 | 10:00 | 7:00 | −3:00 | dirty |") {
		t.Fatalf("report:\n%s", b.String())
	}
	// Output older than the journal's last moment, or none: nothing added.
	for _, at := range []time.Time{{}, clockAt(t, "07:59")} {
		if got := CountKilled(dirty, func(string) time.Time { return at }); got != dirty {
			t.Fatalf("with last output %s the run changed", at)
		}
	}
}
