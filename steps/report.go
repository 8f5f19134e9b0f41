package steps

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// WriteReport writes the markdown report of a run: planned vs actual per
// step, outcomes, skips with their reasons, notes and checkpoints. It reads
// only the runbook and the folded journal, so it is the same wherever it is
// produced. Free text passes through red.
func WriteReport(w io.Writer, rb *runbooks.Runbook, run *Run, now time.Time, red *Redactor) error {
	b := &strings.Builder{}
	t := ComputeTiming(rb, run, now)
	loc := rb.Schedule.Location
	fmt.Fprintf(b, "# %s — run report\n\n", md(rb.Title))
	fmt.Fprintf(b, "- Runbook: `%s` (digest %s)\n", rb.ID, rb.Digest)
	fmt.Fprintf(b, "- Planned: %s, %s–%s %s\n", rb.Schedule.Start.Format("Mon 2 Jan 2006"), t.PlannedStart.In(loc).Format("15:04"), t.PlannedEnd.In(loc).Format("15:04"), loc)
	switch {
	case run.StartedAt.IsZero():
		fmt.Fprintf(b, "- Run: not started\n")
	case run.Finished:
		fmt.Fprintf(b, "- Run: started %s by %s on %s, finished %s\n", run.StartedAt.In(loc).Format("2006-01-02 15:04"), md(run.Operator), md(run.Host), run.FinishedAt.In(loc).Format("2006-01-02 15:04"))
	default:
		fmt.Fprintf(b, "- Run: started %s by %s on %s, in progress (report as of %s)\n", run.StartedAt.In(loc).Format("2006-01-02 15:04"), md(run.Operator), md(run.Host), now.In(loc).Format("2006-01-02 15:04"))
	}
	if run.Rehearsal {
		fmt.Fprintf(b, "- Mode: rehearsal\n")
	}
	fmt.Fprintf(b, "- Steps done: %d of %d; resumed %d times\n\n", t.Done, t.Total, run.Resumes)

	fmt.Fprintf(b, "## Planned vs actual\n\n")
	fmt.Fprintf(b, "| Phase | Step | Planned | Budget | Actual | Δ | Outcome |\n|---|---|---|---:|---:|---:|---|\n")
	var skips, notes, fails []string
	var totalBudget, totalActual time.Duration
	for pi, pp := range rb.Plan() {
		var pb, pa time.Duration
		for _, ps := range pp.Steps {
			s := ps.Step
			st := run.Step(s.ID)
			el := st.Elapsed(now)
			actual, delta := "—", "—"
			if st.Status != Pending {
				actual = clock(el)
				delta = signed(el - s.Budget)
				pa += el
			}
			pb += s.Budget
			outcome := st.Status.String()
			if st.Status == Succeeded && st.MarkedDone {
				outcome = "marked done"
			}
			if st.Attempts > 1 {
				outcome += fmt.Sprintf(" (%d attempts)", st.Attempts)
			}
			if st.Commit != "" {
				outcome += fmt.Sprintf(" `%s`", short(st.Commit))
			}
			fmt.Fprintf(b, "| %s | %s — %s | %s–%s | %s | %s | %s | %s |\n", md(pp.Phase.ID), s.ID, md(s.Title),
				ps.Start.In(loc).Format("15:04"), ps.End.In(loc).Format("15:04"), clock(s.Budget), actual, delta, outcome)
			switch {
			case st.Status == Skipped:
				skips = append(skips, fmt.Sprintf("- **%s** skipped by %s: %s", s.ID, md(red.String(st.Actor)), md(red.String(st.Reason))))
			case st.Status == Succeeded && st.MarkedDone:
				skips = append(skips, fmt.Sprintf("- **%s** marked done by %s: %s", s.ID, md(red.String(st.Actor)), md(red.String(st.Reason))))
			case st.Status == Failed || st.Status == Dirty:
				fails = append(fails, fmt.Sprintf("- **%s** %s: %s", s.ID, st.Status, md(red.String(st.LastErr))))
			}
			for _, n := range st.Notes {
				notes = append(notes, fmt.Sprintf("- **%s** %s, %s: %s", s.ID, n.At.In(loc).Format("15:04"), md(red.String(n.By)), md(red.String(n.Text))))
			}
		}
		fmt.Fprintf(b, "| **%s** | slot %s–%s | | **%s** | **%s** | | %d/%d done |\n", md(pp.Phase.ID),
			pp.Phase.SlotStart.In(loc).Format("15:04"), pp.Phase.SlotEnd.In(loc).Format("15:04"), clock(pb), clock(pa), t.Phases[pi].Done, t.Phases[pi].Total)
		totalBudget += pb
		totalActual += pa
	}
	fmt.Fprintf(b, "| **total** | | | **%s** | **%s** | %s | %d/%d done |\n\n", clock(totalBudget), clock(totalActual), signed(totalActual-totalBudget), t.Done, t.Total)

	if sc := ComputeScore(rb, run); len(sc.Areas) > 0 {
		verdict := "below"
		if sc.Met() {
			verdict = "meets"
		}
		fmt.Fprintf(b, "## %s: %.0f → %.0f (%s the target of %d)\n\n| Area | Weight | Start | Now | Raised by |\n|---|---:|---:|---:|---|\n",
			md(sc.Title), sc.Baseline, sc.Total, verdict, sc.Target)
		for _, a := range sc.Areas {
			by := a.By
			if by == "" {
				by = "—"
			}
			fmt.Fprintf(b, "| %s | %d | %d | %d | %s |\n", md(a.Title), a.Weight, a.Baseline, a.Value, by)
		}
		b.WriteString("\n")
	}
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(b, "## %s\n\n%s\n\n", title, strings.Join(lines, "\n"))
	}
	section("Failed or unfinished", fails)
	section("Skipped and marked done", skips)
	section("Notes", notes)
	_, err := io.WriteString(w, b.String())
	return err
}

func short(c string) string {
	if len(c) > 10 {
		return c[:10]
	}
	return c
}

// md escapes text for a markdown table cell.
func md(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func clock(d time.Duration) string { return FormatClock(d) }

func signed(d time.Duration) string {
	if d < 0 {
		return "−" + clock(-d)
	}
	return "+" + clock(d)
}
