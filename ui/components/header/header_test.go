package header

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui/styles"
)

var day = time.Date(2025, 10, 24, 0, 0, 0, 0, time.UTC)

func runbook() *runbooks.Runbook {
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	return &runbooks.Runbook{
		Title:    "Window",
		Schedule: runbooks.Schedule{Date: "2025-10-24", Location: time.UTC, Start: at(8, 0)},
		Phases: []runbooks.Phase{{
			ID: "a", Title: "A", SlotStart: at(8, 0), SlotEnd: at(9, 0),
			Steps: []runbooks.Step{
				{ID: "a.1", Title: "One", Budget: 20 * time.Minute, UndoBudget: 30 * time.Minute},
				{ID: "a.2", Title: "Two", Budget: 20 * time.Minute},
			},
		}},
	}
}

func view(t *testing.T, run *steps.Run, now time.Time, w int) (string, string) {
	t.Helper()
	rb := runbook()
	v := View(Props{Runbook: rb, Run: run, Timing: steps.ComputeTiming(rb, run, now), Operator: "ana", Styles: styles.New(styles.Theme{Dark: true}), Width: w})
	if n := strings.Count(v, "\n") + 1; n != Height {
		t.Fatalf("%d lines, want %d", n, Height)
	}
	for i, l := range strings.Split(v, "\n") {
		if ansi.StringWidth(l) > w {
			t.Errorf("line %d is %d wide (max %d): %q", i, ansi.StringWidth(l), w, ansi.Strip(l))
		}
	}
	return v, ansi.Strip(v)
}

func started(at time.Time) *steps.Run {
	r := steps.NewRun()
	r.Apply(steps.Event{Kind: steps.EvRunStarted, At: at})
	return r
}

func TestClocks(t *testing.T) {
	run := started(day.Add(8 * time.Hour))
	run.Apply(steps.Event{Kind: steps.EvStepStarted, Step: "a.1", At: day.Add(8 * time.Hour)})
	_, s := view(t, run, day.Add(8*time.Hour+5*time.Minute), 120)
	for _, want := range []string{"Window", "ana  Fri 08:05:00 UTC", "Step 1/2 5:00/20:00", "slot 55m left", "finish 08:40", "buffer +20m", "on plan", "0/2 steps   0%", "window Fri 24 Oct 08:00–09:00"} {
		if !strings.Contains(s, want) {
			t.Errorf("header lacks %q:\n%s", want, s)
		}
	}
}

func TestBehindAndOverBudgetInRed(t *testing.T) {
	run := started(day.Add(8 * time.Hour))
	run.Apply(steps.Event{Kind: steps.EvStepStarted, Step: "a.1", At: day.Add(8 * time.Hour)})
	v, s := view(t, run, day.Add(8*time.Hour+25*time.Minute), 120)
	if !strings.Contains(s, "Step 1/2 25:00/20:00 over") || !strings.Contains(s, "behind 5m") {
		t.Errorf("over budget / behind not shown:\n%s", s)
	}
	red := styles.New(styles.Theme{Dark: true}).Bad.Render("behind 5m")
	if !strings.Contains(v, red) {
		t.Errorf("behind is not in the bad colour: %q", v)
	}
	run2 := started(day.Add(8 * time.Hour))
	run2.Apply(steps.Event{Kind: steps.EvStepStarted, Step: "a.1", At: day.Add(8 * time.Hour)})
	run2.Apply(steps.Event{Kind: steps.EvStepSucceeded, Step: "a.1", At: day.Add(8*time.Hour + 5*time.Minute)})
	run2.Apply(steps.Event{Kind: steps.EvStepStarted, Step: "a.2", At: day.Add(8*time.Hour + 6*time.Minute)})
	v, s = view(t, run2, day.Add(8*time.Hour+16*time.Minute), 120)
	if !strings.Contains(s, "ahead 14m") || !strings.Contains(v, styles.New(styles.Theme{Dark: true}).OK.Render("ahead 14m")) {
		t.Errorf("ahead not shown in the ok colour:\n%s", s)
	}
}

func TestPointOfNoReturn(t *testing.T) {
	run := started(day.Add(8 * time.Hour))
	run.Apply(steps.Event{Kind: steps.EvStepStarted, Step: "a.1", At: day.Add(8 * time.Hour)})
	run.Apply(steps.Event{Kind: steps.EvStepSucceeded, Step: "a.1", At: day.Add(8*time.Hour + 40*time.Minute)})
	_, s := view(t, run, day.Add(8*time.Hour+45*time.Minute), 120)
	if !strings.Contains(s, "⚠ Point of no return: undoing what is done takes 30m, the window has 15m left") {
		t.Errorf("no warning:\n%s", s)
	}
}

func TestNarrowKeepsPaceAndDropsLabels(t *testing.T) {
	run := started(day.Add(8 * time.Hour))
	run.Apply(steps.Event{Kind: steps.EvStepStarted, Step: "a.1", At: day.Add(8 * time.Hour)})
	_, s := view(t, run, day.Add(8*time.Hour+25*time.Minute), 80)
	line := strings.Split(s, "\n")[1]
	for _, want := range []string{"1/2 25:00/20:00", "fin 08:45", "buf +15m", "behind 5m"} {
		if !strings.Contains(line, want) {
			t.Errorf("80 columns lacks %q: %q", want, line)
		}
	}
	_, s = view(t, run, day.Add(8*time.Hour+25*time.Minute), 40)
	line = strings.Split(s, "\n")[1]
	if !strings.Contains(line, "25:00/20:00") || !strings.Contains(line, "behind 5m") {
		t.Errorf("40 columns must keep the step timer and the pace: %q", line)
	}
}

func TestAllDone(t *testing.T) {
	run := started(day.Add(8 * time.Hour))
	for _, id := range []string{"a.1", "a.2"} {
		run.Apply(steps.Event{Kind: steps.EvStepSkipped, Step: id, Reason: "x", At: day.Add(8 * time.Hour)})
	}
	_, s := view(t, run, day.Add(8*time.Hour+10*time.Minute), 120)
	if !strings.Contains(s, "All steps done") || !strings.Contains(s, "2/2 steps 100%") {
		t.Errorf("%s", s)
	}
}

func TestClockShowsTheDateOnAnotherDay(t *testing.T) {
	run := started(day.Add(8 * time.Hour))
	_, s := view(t, run, day.Add(24*time.Hour+9*time.Hour), 120)
	if !strings.Contains(s, "Sat 25 Oct 09:00:00 UTC") {
		t.Errorf("next day without its date:\n%s", s)
	}
}

func TestScoreRisesInTheHeader(t *testing.T) {
	rb := runbook()
	rb.Score = &runbooks.ScoreModel{Title: "Security", Target: 95, Areas: []runbooks.ScoreArea{
		{ID: "api", Weight: 40, Baseline: 100}, {ID: "transport", Weight: 60, Baseline: 50},
	}}
	rb.Phases[0].Steps[0].Raises = map[string]int{"transport": 100}
	now := day.Add(8*time.Hour + 5*time.Minute)
	run := started(day.Add(8 * time.Hour))
	props := func() Props {
		return Props{Runbook: rb, Run: run, Timing: steps.ComputeTiming(rb, run, now), Score: steps.ComputeScore(rb, run),
			Styles: styles.New(styles.Theme{Dark: true}), Width: 120}
	}
	if v := ansi.Strip(View(props())); !strings.Contains(v, "score 70→70/95") {
		t.Fatalf("before: %s", v)
	}
	run.Apply(steps.Event{Seq: 2, Kind: steps.EvStepStarted, Step: "a.1", At: now})
	run.Apply(steps.Event{Seq: 3, Kind: steps.EvStepSucceeded, Step: "a.1", At: now})
	if v := ansi.Strip(View(props())); !strings.Contains(v, "score 70→100/95") {
		t.Fatalf("after: %s", v)
	}
}

// A window on another day never shows clock figures counted in days (a
// fresh machine opened a runbook planned 402 days ago with "slot over by
// 402d18h │ buffer -402d17h"): it says which day the window is on.
func TestWindowOnAnotherDayCountsNoDays(t *testing.T) {
	later := day.AddDate(1, 1, 6).Add(10 * time.Hour)
	for _, w := range []int{80, 120, 200} {
		run := steps.NewRun()
		_, s := view(t, run, later, w)
		if strings.Contains(s, "d0") || strings.Contains(s, "d1") || strings.Contains(s, "d2") || strings.Contains(s, "behind") || strings.Contains(s, "buffer") {
			t.Errorf("width %d: figures counted in days:\n%s", w, s)
		}
		if !strings.Contains(s, "24 Oct") || !strings.Contains(s, "not today") {
			t.Errorf("width %d: the window's day is not named:\n%s", w, s)
		}
	}
	// The same window on its day keeps its figures.
	_, s := view(t, steps.NewRun(), day.Add(7*time.Hour), 120)
	if strings.Contains(s, "not today") || !strings.Contains(s, "buffer") {
		t.Errorf("on its day:\n%s", s)
	}
}

// TestSharedRunStatus: a store that lags behind, and a session taken
// over, are said on the first line, beside who drives.
func TestSharedRunStatus(t *testing.T) {
	now := day.Add(8*time.Hour + 5*time.Minute)
	for _, tc := range []struct {
		share steps.ShareStatus
		want  string
	}{
		{steps.ShareStatus{Run: "r"}, "Window"},
		{steps.ShareStatus{Run: "r", Behind: 4, Since: day.Add(8 * time.Hour).Local()}, "not shared since " + day.Add(8*time.Hour).Local().Format("15:04") + " (4 events)  ana"},
		{steps.ShareStatus{Run: "r", Stopped: "taken over by bo on laptop-b at 08:04:00: this session is stopped"}, "taken over by bo on laptop-b"},
	} {
		run := started(day.Add(8 * time.Hour))
		run.Share = tc.share
		for _, w := range []int{120, 60} {
			_, s := view(t, run, now, w)
			line := strings.Split(s, "\n")[0]
			if w == 120 && !strings.Contains(line, tc.want) {
				t.Errorf("width %d: first line lacks %q: %q", w, tc.want, line)
			}
			if !strings.Contains(line, "ana") {
				t.Errorf("width %d: who drives is gone: %q", w, line)
			}
		}
	}
}

// The evening before the window (less than a day before it, so its clocks
// are shown): the slot says when it opens, not how long is left of it
// counted from now, and the finish names its day.
func TestEveningBeforeTheWindow(t *testing.T) {
	_, s := view(t, steps.NewRun(), day.Add(-3*time.Hour), 120) // Thu 21:00
	for _, want := range []string{"slot opens in 11h", "finish Fri 08:40", "on plan"} {
		if !strings.Contains(s, want) {
			t.Errorf("header lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "left") {
		t.Errorf("a slot that has not opened shows time left:\n%s", s)
	}
}
