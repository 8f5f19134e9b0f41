package steps

import (
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// timingRunbook: 08:00–10:00 UTC, two phases of two steps.
//
//	p1 08:00–09:00  a 10m (undo 30m) 08:00–08:10, b 20m (undo 20m) 08:10–08:30
//	p2 09:00–10:00  c 30m (undo 20m) 09:00–09:30, d 15m (no undo) 09:30–09:45
func timingRunbook() *runbooks.Runbook {
	at := func(h, m int) time.Time { return time.Date(2025, 10, 24, h, m, 0, 0, time.UTC) }
	return &runbooks.Runbook{
		ID:       "timing",
		Schedule: runbooks.Schedule{Date: "2025-10-24", Location: time.UTC, Start: at(8, 0)},
		Phases: []runbooks.Phase{
			{ID: "p1", SlotStart: at(8, 0), SlotEnd: at(9, 0), Steps: []runbooks.Step{
				{ID: "a", Budget: 10 * time.Minute, UndoBudget: 30 * time.Minute},
				{ID: "b", Budget: 20 * time.Minute, UndoBudget: 20 * time.Minute},
			}},
			{ID: "p2", SlotStart: at(9, 0), SlotEnd: at(10, 0), Steps: []runbooks.Step{
				{ID: "c", Budget: 30 * time.Minute, UndoBudget: 20 * time.Minute},
				{ID: "d", Budget: 15 * time.Minute},
			}},
		},
	}
}

// runOnClock records events at the time of a fake clock.
type runOnClock struct {
	t   *testing.T
	clk *FakeClock
	run *Run
}

func newRunOnClock(t *testing.T, start string) *runOnClock {
	return &runOnClock{t: t, clk: NewFakeClock(clockAt(t, start)), run: NewRun()}
}

func clockAt(t *testing.T, hhmmss string) time.Time {
	t.Helper()
	layout := "15:04"
	if len(hhmmss) > 5 {
		layout = "15:04:05"
	}
	c, err := time.Parse(layout, hhmmss)
	if err != nil {
		t.Fatal(err)
	}
	return time.Date(2025, 10, 24, c.Hour(), c.Minute(), c.Second(), 0, time.UTC)
}

// at moves the clock to hh:mm and records events there.
func (r *runOnClock) at(hhmm string, evs ...Event) *runOnClock {
	r.t.Helper()
	r.clk.Set(clockAt(r.t, hhmm))
	for _, ev := range evs {
		ev.At = r.clk.Now()
		ev.Seq = r.run.LastSeq + 1
		if ev.Kind == EvStepSkipped || ev.Kind == EvStepMarkedDone {
			ev.Reason = "test"
		}
		if _, err := r.run.Apply(ev); err != nil {
			r.t.Fatalf("%s: %v", hhmm, err)
		}
	}
	return r
}

func ev(k EventKind, step string) Event { return Event{Kind: k, Step: step} }

func (r *runOnClock) timing() Timing {
	return ComputeTiming(timingRunbook(), r.run, r.clk.Now())
}

func TestTimingBeforeTheWindow(t *testing.T) {
	r := newRunOnClock(t, "07:30")
	tm := r.timing()
	want := Timing{
		Remaining:       75 * time.Minute,
		ProjectedFinish: clockAt(t, "09:15"), // the planned start plus every budget
		Buffer:          45 * time.Minute,
		Current:         "a",
		CurrentPhase:    0,
		Done:            0,
		Total:           4,
	}
	checkTiming(t, tm, want)
	if !tm.PlannedStart.Equal(clockAt(t, "08:00")) || !tm.PlannedEnd.Equal(clockAt(t, "10:00")) {
		t.Errorf("planned %v–%v", tm.PlannedStart, tm.PlannedEnd)
	}
	if tm.Phases[0].SlotLeft != 90*time.Minute || tm.Phases[1].SlotLeft != 150*time.Minute {
		t.Errorf("slot left %s, %s", tm.Phases[0].SlotLeft, tm.Phases[1].SlotLeft)
	}
	if tm.Phases[1].Budget != 45*time.Minute || tm.Phases[1].Total != 2 {
		t.Errorf("phase 2 %+v", tm.Phases[1])
	}
	s := tm.Phases[1].Steps[1]
	if s.ID != "d" || !s.PlannedStart.Equal(clockAt(t, "09:30")) || !s.PlannedEnd.Equal(clockAt(t, "09:45")) {
		t.Errorf("step d planned %+v", s)
	}
}

func TestTimingOnPlan(t *testing.T) {
	r := newRunOnClock(t, "08:00").at("08:00", ev(EvStepStarted, "a")).at("08:07")
	tm := r.timing()
	checkTiming(t, tm, Timing{
		Remaining:       68 * time.Minute, // 3 left of a, then 20+30+15
		ProjectedFinish: clockAt(t, "09:15"),
		Buffer:          45 * time.Minute,
		Current:         "a",
		Total:           4,
	})
	a := tm.Phases[0].Steps[0]
	if a.Elapsed != 7*time.Minute || a.Over || a.Status != Running {
		t.Errorf("step a %+v", a)
	}
	if tm.Phases[0].SlotLeft != 53*time.Minute {
		t.Errorf("slot left %s", tm.Phases[0].SlotLeft)
	}
}

func TestTimingOverBudgetIsBehind(t *testing.T) {
	r := newRunOnClock(t, "08:00").at("08:00", ev(EvStepStarted, "a")).at("08:16")
	tm := r.timing()
	checkTiming(t, tm, Timing{
		Remaining:       65 * time.Minute, // nothing left of a's budget
		ProjectedFinish: clockAt(t, "09:21"),
		Buffer:          39 * time.Minute,
		Variance:        6 * time.Minute,
		Current:         "a",
		Total:           4,
	})
	if !tm.Behind() || !tm.Phases[0].Steps[0].Over || tm.Phases[0].Steps[0].Elapsed != 16*time.Minute {
		t.Errorf("behind %v, step a %+v", tm.Behind(), tm.Phases[0].Steps[0])
	}
}

func TestTimingAhead(t *testing.T) {
	r := newRunOnClock(t, "08:00").
		at("08:00", ev(EvStepStarted, "a")).
		at("08:05", ev(EvStepSucceeded, "a"), ev(EvStepStarted, "b")).
		at("08:06")
	tm := r.timing()
	checkTiming(t, tm, Timing{
		Remaining:       64 * time.Minute, // 19 of b, 30, 15
		ProjectedFinish: clockAt(t, "09:10"),
		Buffer:          50 * time.Minute,
		Variance:        -5 * time.Minute, // b will end 08:25, planned 08:30
		Current:         "b",
		Done:            1,
		Total:           4,
		UndoNeeded:      30 * time.Minute, // a is done
	})
	if tm.Behind() || tm.Phases[0].Done != 1 {
		t.Errorf("behind %v, phase done %d", tm.Behind(), tm.Phases[0].Done)
	}
}

func TestTimingSkippedAndFailed(t *testing.T) {
	r := newRunOnClock(t, "08:00").
		at("08:00", ev(EvStepSkipped, "a"), ev(EvStepStarted, "b")).
		at("08:04", Event{Kind: EvStepFailed, Step: "b", Err: "x"}).
		at("08:10")
	tm := r.timing()
	checkTiming(t, tm, Timing{
		Remaining:       61 * time.Minute, // 16 of b, 30, 15; a skipped
		ProjectedFinish: clockAt(t, "09:11"),
		Buffer:          49 * time.Minute,
		Variance:        -4 * time.Minute, // 16 left of b from 08:10: 08:26, planned 08:30
		Current:         "b",
		Done:            1,
		Total:           4,
		UndoNeeded:      20 * time.Minute, // a failed step may have changed things; a skipped one did not
	})
}

func TestTimingFinished(t *testing.T) {
	r := newRunOnClock(t, "08:00").
		at("08:00", ev(EvStepStarted, "a")).at("08:10", ev(EvStepSucceeded, "a"), ev(EvStepStarted, "b")).
		at("08:30", ev(EvStepSucceeded, "b")).
		at("09:00", ev(EvStepStarted, "c")).at("09:30", ev(EvStepSucceeded, "c")).
		at("09:30", ev(EvStepSkipped, "d")).
		at("09:31", Event{Kind: EvRunFinished}).
		at("11:00")
	tm := r.timing()
	checkTiming(t, tm, Timing{
		ProjectedFinish: clockAt(t, "09:31"), // the real finish, not now
		Buffer:          29 * time.Minute,
		Variance:        -29 * time.Minute, // finished 09:31, planned 10:00
		CurrentPhase:    -1,
		Done:            4,
		Total:           4,
		UndoNeeded:      70 * time.Minute,
	})
	if tm.Phases[1].SlotLeft != -time.Hour {
		t.Errorf("slot left after the slot %s", tm.Phases[1].SlotLeft)
	}
}

func TestTimingUndoNeeded(t *testing.T) {
	r := newRunOnClock(t, "08:00").
		at("08:00", ev(EvStepStarted, "a")).at("08:10", ev(EvStepSucceeded, "a"))
	if got := r.timing().UndoNeeded; got != 30*time.Minute {
		t.Fatalf("after a: %s", got)
	}
	r.at("08:11", ev(EvUndoStarted, "a"))
	if got := r.timing().UndoNeeded; got != 0 {
		t.Fatalf("while a is undone: %s", got)
	}
	r.at("08:20", ev(EvUndoFinished, "a"))
	if got := r.timing().UndoNeeded; got != 0 {
		t.Fatalf("after a was undone: %s", got)
	}
	// Done again after an undo: its changes are back, and so is its undo.
	r.at("08:21", ev(EvStepStarted, "a")).at("08:25", ev(EvStepSucceeded, "a"))
	if got := r.timing().UndoNeeded; got != 30*time.Minute {
		t.Fatalf("after a was redone: %s", got)
	}
	r.at("08:25", ev(EvStepStarted, "b")).at("08:26", ev(EvStepDirty, "b"))
	if got := r.timing().UndoNeeded; got != 50*time.Minute {
		t.Fatalf("with b dirty: %s", got)
	}
	if got := r.timing().Current; got != "b" {
		t.Fatalf("current %q; want the dirty step", got)
	}
}

// TestPointOfNoReturn: the warning comes BEFORE the point, as soon as
// the time left no longer covers the current phase's remaining work plus
// undoing what is done; the point itself is PlannedEnd - UndoNeeded.
func TestPointOfNoReturn(t *testing.T) {
	// a and b done by 08:20 (undo 30m + 20m = 50m); c (30m) and d (15m)
	// of phase p2 are still to do: 45m of planned work. The window ends at
	// 10:00, so the point of no return is 09:10, and the warning starts
	// when less than 45m + 50m = 95m are left: after 08:25.
	base := func() *runOnClock {
		return newRunOnClock(t, "08:00").
			at("08:00", ev(EvStepStarted, "a")).at("08:10", ev(EvStepSucceeded, "a"), ev(EvStepStarted, "b")).
			at("08:20", ev(EvStepSucceeded, "b"))
	}
	tests := []struct {
		name     string
		now      string
		noReturn bool
		past     bool
		until    time.Duration
	}{
		{"a second before the warning", "08:24:59", false, false, 45*time.Minute + time.Second},
		{"at the warning's moment: 95m left for 95m", "08:25:00", false, false, 45 * time.Minute},
		{"a second after: the phase and the undo no longer fit", "08:25:01", true, false, 45*time.Minute - time.Second},
		{"a second before the point", "09:09:59", true, false, time.Second},
		{"at the point: the undo still just fits", "09:10:00", true, false, 0},
		{"a second past the point", "09:10:01", true, true, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			r.clk.Set(clockAt(t, tt.now))
			tm := r.timing()
			if tm.UndoNeeded != 50*time.Minute || tm.PhaseRemaining != 45*time.Minute {
				t.Fatalf("undo needed %s, phase remaining %s; want 50m, 45m", tm.UndoNeeded, tm.PhaseRemaining)
			}
			if want := clockAt(t, "09:10"); !tm.NoReturnAt.Equal(want) {
				t.Fatalf("point of no return at %s; want 09:10", tm.NoReturnAt.Format("15:04:05"))
			}
			if tm.NoReturn != tt.noReturn || tm.PastNoReturn != tt.past || tm.UntilNoReturn != tt.until {
				t.Fatalf("no return %v, past %v, until %s; want %v, %v, %s",
					tm.NoReturn, tm.PastNoReturn, tm.UntilNoReturn, tt.noReturn, tt.past, tt.until)
			}
		})
	}
	t.Run("the running step counts what is left of its budget", func(t *testing.T) {
		// c started at 09:00 and runs 5 minutes: 25m + 15m left in p2.
		r := base().at("09:00", ev(EvStepStarted, "c")).at("09:05")
		if tm := r.timing(); tm.PhaseRemaining != 40*time.Minute || !tm.NoReturn || tm.UntilNoReturn != 5*time.Minute {
			t.Fatalf("phase remaining %s, no return %v, until %s", tm.PhaseRemaining, tm.NoReturn, tm.UntilNoReturn)
		}
	})
	t.Run("behind with nothing to undo", func(t *testing.T) {
		r := newRunOnClock(t, "08:00").at("09:55", ev(EvStepStarted, "a")).at("09:58")
		tm := r.timing()
		if !tm.Behind() || tm.NoReturn || !tm.NoReturnAt.IsZero() {
			t.Fatalf("behind %v no return %v at %s", tm.Behind(), tm.NoReturn, tm.NoReturnAt)
		}
	})
	t.Run("early in the window: no warning", func(t *testing.T) {
		r := newRunOnClock(t, "08:00").at("08:00", ev(EvStepStarted, "a")).at("08:10", ev(EvStepSucceeded, "a"))
		if tm := r.timing(); tm.NoReturn {
			t.Fatalf("warned at 08:10 with 30m of undo and 110m left: until %s", tm.UntilNoReturn)
		}
	})
}

func TestComputeTimingIsPure(t *testing.T) {
	r := newRunOnClock(t, "08:00").at("08:00", ev(EvStepStarted, "a")).at("08:07")
	before := r.run.Clone()
	a, b := r.timing(), r.timing()
	if a.ProjectedFinish != b.ProjectedFinish || a.Buffer != b.Buffer || a.Variance != b.Variance {
		t.Fatal("two calls disagree")
	}
	if r.run.Step("a").Status != before.Step("a").Status || len(r.run.Steps) != len(before.Steps) {
		t.Fatal("ComputeTiming changed the run")
	}
}

func checkTiming(t *testing.T, got, want Timing) {
	t.Helper()
	if got.Remaining != want.Remaining {
		t.Errorf("remaining %s; want %s", got.Remaining, want.Remaining)
	}
	if !got.ProjectedFinish.Equal(want.ProjectedFinish) {
		t.Errorf("projected finish %s; want %s", got.ProjectedFinish.Format("15:04:05"), want.ProjectedFinish.Format("15:04:05"))
	}
	if got.Buffer != want.Buffer {
		t.Errorf("buffer %s; want %s", got.Buffer, want.Buffer)
	}
	if got.Variance != want.Variance {
		t.Errorf("variance %s; want %s", got.Variance, want.Variance)
	}
	if got.Current != want.Current || got.CurrentPhase != want.CurrentPhase {
		t.Errorf("current %q in phase %d; want %q in %d", got.Current, got.CurrentPhase, want.Current, want.CurrentPhase)
	}
	if got.Done != want.Done || got.Total != want.Total {
		t.Errorf("done %d/%d; want %d/%d", got.Done, got.Total, want.Done, want.Total)
	}
	if got.UndoNeeded != want.UndoNeeded {
		t.Errorf("undo needed %s; want %s", got.UndoNeeded, want.UndoNeeded)
	}
	if got.NoReturn != want.NoReturn {
		t.Errorf("no return %v; want %v", got.NoReturn, want.NoReturn)
	}
}

// Before the window opens, steps worked on early leave the run on plan,
// running or between them: the pace does not flip to "ahead" while a
// step runs and back when it ends.
func TestTimingWorkBeforeTheWindowIsNotAhead(t *testing.T) {
	r := newRunOnClock(t, "07:30").at("07:30", ev(EvStepStarted, "a")).at("07:35")
	if tm := r.timing(); tm.Variance != 0 || tm.Current != "a" {
		t.Errorf("a running at 07:35 (planned 08:00–08:10): variance %s, current %s; want on plan", tm.Variance, tm.Current)
	}
	r.at("07:40", ev(EvStepSucceeded, "a")).at("07:41")
	if tm := r.timing(); tm.Variance != 0 || tm.Current != "b" {
		t.Errorf("between a and b at 07:41: variance %s, current %s; want on plan", tm.Variance, tm.Current)
	}
	// Once the window is open, starting early is ahead again.
	r.at("08:01", ev(EvStepStarted, "b")).at("08:02")
	if tm := r.timing(); tm.Variance != -9*time.Minute {
		t.Errorf("b running from 08:01 (planned 08:10–08:30): variance %s, want -9m", tm.Variance)
	}
}

// Every step done but the run not ended (nobody pressed finish, or the
// process died first): the finish is when the last step ended, not a
// projection that moves with the clock.
func TestTimingAllDoneNotEnded(t *testing.T) {
	r := newRunOnClock(t, "08:00").
		at("08:00", ev(EvStepStarted, "a")).at("08:10", ev(EvStepSucceeded, "a"), ev(EvStepStarted, "b")).
		at("08:30", ev(EvStepSucceeded, "b")).
		at("09:00", ev(EvStepStarted, "c")).at("09:30", ev(EvStepSucceeded, "c")).
		at("09:35", ev(EvStepSkipped, "d"))
	for _, now := range []string{"09:40", "11:00"} {
		tm := r.at(now).timing()
		if !tm.ProjectedFinish.Equal(clockAt(t, "09:35")) || tm.Buffer != 25*time.Minute || tm.Variance != -25*time.Minute {
			t.Errorf("at %s: finish %s, buffer %s, variance %s; want 09:35, +25m, -25m",
				now, tm.ProjectedFinish.Format("15:04"), tm.Buffer, tm.Variance)
		}
	}
}
