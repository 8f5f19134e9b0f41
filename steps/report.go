package steps

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/termsafe"
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
	fmt.Fprintf(b, "- Day: %s\n", dayNote(rb, run))
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
	fmt.Fprintf(b, "- Steps done: %d of %d; resumed %d times\n", t.Done, t.Total, run.Resumes)
	fmt.Fprintf(b, "- Decisions: %s\n\n", decisionsText(CountDecisions(run)))

	fmt.Fprintf(b, "## Planned vs actual\n\n")
	fmt.Fprintf(b, "Phase and total rows compare the budgets and actual times of the same steps (those worked on); the budget of the steps not yet started is shown apart as *remaining*.\n\n")
	fmt.Fprintf(b, "| Phase | Step | Planned | Budget | Actual | Δ | Outcome |\n|---|---|---|---:|---:|---:|---|\n")
	var skips, notes, fails, approvals []string
	var totalBudget, totalActual, totalLeft time.Duration
	for pi, pp := range rb.Plan() {
		var pb, pa, left time.Duration
		for _, ps := range pp.Steps {
			s := ps.Step
			st := run.Step(s.ID)
			el := st.Elapsed(now)
			actual, delta := "—", "—"
			if st.Status != Pending {
				actual = clock(el)
				delta = signed(el - s.Budget)
				pa += el
				pb += s.Budget
			} else {
				left += s.Budget
			}
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
				by := n.By
				if n.Via == ViaStore {
					by += " (follower, on " + n.Host + ")"
				}
				notes = append(notes, fmt.Sprintf("- **%s** %s, %s: %s", s.ID, n.At.In(loc).Format("15:04"), md(red.String(by)), md(red.String(n.Text))))
			}
			for _, a := range st.Approvals {
				approvals = append(approvals, approvalLine(s.ID, a, loc, red))
			}
		}
		fmt.Fprintf(b, "| **%s** | slot %s–%s | | **%s** | **%s** | %s | %d/%d done%s |\n", md(pp.Phase.ID),
			pp.Phase.SlotStart.In(loc).Format("15:04"), pp.Phase.SlotEnd.In(loc).Format("15:04"), clock(pb), clock(pa), signedOrDash(pa-pb, pb+pa), t.Phases[pi].Done, t.Phases[pi].Total, remainingNote(left))
		totalBudget += pb
		totalActual += pa
		totalLeft += left
	}
	fmt.Fprintf(b, "| **total** (steps worked on) | | | **%s** | **%s** | %s | %d/%d done |\n", clock(totalBudget), clock(totalActual), signedOrDash(totalActual-totalBudget, totalBudget+totalActual), t.Done, t.Total)
	fmt.Fprintf(b, "| **remaining** (not started) | | | **%s** | — | | %d steps |\n\n", clock(totalLeft), t.Total-started(rb, run))

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
	section("Approvals", approvals)
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

// md makes foreign text safe for a markdown table cell: no escape
// sequence or control character reaches the reader's terminal raw.
func md(s string) string {
	s = termsafe.Line(strings.ReplaceAll(s, "\n", " "))
	return strings.ReplaceAll(s, "|", `\|`)
}

// started counts the steps worked on (not pending).
func started(rb *runbooks.Runbook, run *Run) int {
	n := 0
	for _, s := range rb.Steps() {
		if run.Step(s.ID).Status != Pending {
			n++
		}
	}
	return n
}

func remainingNote(left time.Duration) string {
	if left == 0 {
		return ""
	}
	return ", " + clock(left) + " remaining"
}

func signedOrDash(d, any time.Duration) string {
	if any == 0 {
		return "—"
	}
	return signed(d)
}

// dayNote says which day the run is placed on.
func dayNote(rb *runbooks.Runbook, run *Run) string {
	d := rb.Schedule.Start.Format("Mon 2 Jan 2006")
	switch {
	case run.Date != "" && run.Date != rb.Schedule.Date:
		// The runbook was placed on another day than the run's (it
		// should not be: the CLI keeps a run's day).
		return d + " (the run started on " + run.Date + ")"
	case run.Date != "":
		return d + " (the day the run started on)"
	}
	return d + " (no run yet)"
}

// Settle is the run as found when nobody holds it: a step whose work is
// in flight in the journal belongs to a session that ended, and is dirty,
// exactly as the next session to open the run will journal it. With held,
// the run is returned as it is (the live session owns the step).
// Status and report both read a run through Settle, so they agree.
func Settle(rb *runbooks.Runbook, run *Run, held bool) *Run {
	if held {
		return run
	}
	order := make([]string, 0, len(run.Steps))
	for _, s := range rb.Steps() {
		order = append(order, s.ID)
	}
	inflight := run.InFlight(order)
	if len(inflight) == 0 {
		return run
	}
	out := run.Clone()
	for _, id := range inflight {
		// The same record Open writes, applied to a copy: nothing is written.
		out.Apply(Event{Kind: EvStepDirty, Step: id, At: run.LastAt, Seq: run.LastSeq, Note: "process ended while " + run.Step(id).Status.String()})
	}
	return out
}

func clock(d time.Duration) string { return FormatClock(d) }

func signed(d time.Duration) string {
	if d < 0 {
		return "−" + clock(-d)
	}
	return "+" + clock(d)
}

// CountKilled returns the run with the killed attempt of every dirty step
// counted up to its last sign of life. The journal's clock of a dirty step
// stops at its last journaled moment, which for a step killed mid-action
// is its start (0s); its output log was written for as long as it worked.
// lastOutput gives the time of a step's last output (zero: unknown). The
// run given is not changed; status and report both read a run through
// CountKilled, so they agree.
func CountKilled(run *Run, lastOutput func(step string) time.Time) *Run {
	var out *Run
	for id, st := range run.Steps {
		if st.Status != Dirty {
			continue
		}
		seen := lastOutput(id)
		if seen.IsZero() || !seen.After(st.lastAt) {
			continue
		}
		if out == nil {
			out = run.Clone()
		}
		s := out.Steps[id]
		s.Active += seen.Sub(st.lastAt)
		s.lastAt = seen
	}
	if out == nil {
		return run
	}
	return out
}
