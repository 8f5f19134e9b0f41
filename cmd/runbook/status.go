package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

type statusJSON struct {
	Runbook   string           `json:"runbook"`
	Journal   string           `json:"journal"`
	Day       day              `json:"day"`
	Started   bool             `json:"started"`
	StartedAt *time.Time       `json:"started_at,omitempty"`
	Finished  bool             `json:"finished"`
	Lock      *lockJSON        `json:"lock,omitempty"`
	Lease     *leaseJSON       `json:"lease,omitempty"` // who drives (a run read from the store)
	Torn      string           `json:"torn_tail,omitempty"`
	Dirty     []string         `json:"dirty"`
	Done      int              `json:"done"`
	Total     int              `json:"total"`
	Clock     clockJSON        `json:"clock"`
	Score     *scoreJSON       `json:"score,omitempty"`
	Steps     []stepStatusJSON `json:"steps"`
}

// clockJSON is the window on the clock, from the engine's ComputeTiming.
type clockJSON struct {
	// AsOf is the moment the figures are for: now, the end of a finished
	// run, or the planned start while the day is undecided.
	AsOf            time.Time `json:"as_of"`
	PlannedStart    time.Time `json:"planned_start"`
	PlannedEnd      time.Time `json:"planned_end"`
	ProjectedFinish time.Time `json:"projected_finish"`
	// Pace is "ahead", "behind" or "on plan"; VarianceSeconds is how far
	// behind (positive) or ahead (negative) the current step runs.
	Pace              string `json:"pace"`
	VarianceSeconds   int64  `json:"variance_seconds"`
	BufferSeconds     int64  `json:"buffer_seconds"`
	RemainingSeconds  int64  `json:"remaining_seconds"`
	Current           string `json:"current,omitempty"`
	UndoNeededSeconds int64  `json:"undo_needed_seconds"`
	// The point of no return: when a rollback of what is done stops
	// fitting in the window, and whether the warning is on.
	NoReturnAt           *time.Time `json:"no_return_at,omitempty"`
	UntilNoReturnSeconds *int64     `json:"until_no_return_seconds,omitempty"`
	NoReturnWarning      bool       `json:"no_return_warning"`
}

type scoreJSON struct {
	Title    string  `json:"title"`
	Baseline float64 `json:"baseline"`
	Total    float64 `json:"total"`
	Target   int     `json:"target"`
	Met      bool    `json:"met"`
}

type lockJSON struct {
	steps.LockInfo
	Held bool `json:"held"`
}

type stepStatusJSON struct {
	ID             string        `json:"id"`
	Phase          string        `json:"phase"`
	Status         steps.Status  `json:"status"`
	BudgetSeconds  int64         `json:"budget_seconds"`
	ActualSeconds  int64         `json:"actual_seconds"`
	Attempts       int           `json:"attempts,omitempty"`
	Over           bool          `json:"over_budget,omitempty"`
	Reason         string        `json:"reason,omitempty"`
	Error          string        `json:"error,omitempty"`
	Notes          []steps.Note  `json:"notes,omitempty"`
	Commit         string        `json:"commit,omitempty"`
	InFlightStatus *steps.Status `json:"in_flight,omitempty"`
	// Approvals given, and how many more the step waits for.
	Approvals       []steps.Approval `json:"approvals,omitempty"`
	ApprovalsNeeded int              `json:"approvals_needed,omitempty"`
}

// statusOptions are the flags of `runbook status`.
type statusOptions struct {
	*common
	io     Streams
	asJSON bool
	// now is the wall clock (tests may fix it).
	now func() time.Time
}

func newStatusCmd(c *common, io Streams) *cobra.Command {
	opts := &statusOptions{common: c, io: io, now: time.Now}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "where the run stands: steps, pace, projected finish, buffer, score",
		Long: `status reads the run's journal (without taking its lock: it is safe beside
a live session) and prints every step's state and time against its budget,
whether the team is ahead or behind, the projected finish, the buffer, the
point of no return and the score.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return statusRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, "print the status as JSON (durations in seconds)")
	return cmd
}

func statusRun(opts *statusOptions) error {
	rb, err := opts.loadRunbook()
	if err != nil {
		return err
	}
	st, err := opts.readStatusFor(opts.ctx(), rb)
	if err != nil {
		return err
	}
	if opts.asJSON {
		return writeJSON(opts.io.Out, st)
	}
	printStatus(opts.io.Out, st)
	return nil
}

// readRunAsFound folds the journal and settles it as the next session will
// find it (steps.Settle), with killed attempts counted (steps.CountKilled),
// so status and report agree on every step; without notes, the steps'
// notes are not read (see readRun).
func readRunAsFound(rb *runbooks.Runbook, stateDir string, notes bool) (*steps.Run, *steps.TornTail, steps.LockInfo, bool, error) {
	path := steps.JournalPath(stateDir, rb.ID)
	run, torn, err := readRun(stateDir, path, notes)
	if err != nil {
		return nil, nil, steps.LockInfo{}, false, err
	}
	info, held, err := steps.ReadLock(steps.RunDir(stateDir, rb.ID))
	if err != nil {
		return nil, nil, steps.LockInfo{}, false, fmt.Errorf("read lock: %w", err)
	}
	run = steps.Settle(rb, run, held)
	// A killed attempt worked as long as it wrote output: its log says when.
	logs := filepath.Join(steps.RunDir(stateDir, rb.ID), "logs")
	run = steps.CountKilled(run, func(step string) time.Time {
		fi, err := os.Stat(filepath.Join(logs, step+".log"))
		if err != nil {
			return time.Time{}
		}
		return fi.ModTime()
	})
	return run, torn, info, held, nil
}

// asOf is the moment the figures are for: the end of a finished run; the
// planned start while no run exists and its day is undecided (figures as
// planned, never counted across days); else now.
func asOf(rb *runbooks.Runbook, run *steps.Run, d day, now time.Time) time.Time {
	switch {
	case run.Finished:
		return run.FinishedAt
	case run.StartedAt.IsZero() && d.Undecided:
		return rb.Schedule.Start
	}
	return now
}

// readStatus folds the journal without taking the lock: status is safe to
// run beside a live session. Every figure is the engine's: ComputeTiming
// and ComputeScore over the settled run. notes: the steps' notes are read
// (status --json prints them).
func readStatus(rb *runbooks.Runbook, stateDir string, d day, now time.Time, notes bool) (statusJSON, error) {
	run, torn, info, held, err := readRunAsFound(rb, stateDir, notes)
	if err != nil {
		return statusJSON{}, err
	}
	return buildStatus(rb, run, torn, info, held, steps.JournalPath(stateDir, rb.ID), d, now), nil
}

// buildStatus is the status of a settled run, read from journal.
func buildStatus(rb *runbooks.Runbook, run *steps.Run, torn *steps.TornTail, info steps.LockInfo, held bool, journal string, d day, now time.Time) statusJSON {
	st := statusJSON{Runbook: rb.ID, Journal: journal, Day: d, Started: !run.StartedAt.IsZero(), Finished: run.Finished, Dirty: []string{}}
	if st.Started {
		t := run.StartedAt
		st.StartedAt = &t
	}
	if info.PID != 0 {
		st.Lock = &lockJSON{LockInfo: info, Held: held}
	}
	if torn != nil {
		st.Torn = torn.String()
	}
	at := asOf(rb, run, d, now)
	tm := steps.ComputeTiming(rb, run, at)
	st.Done, st.Total = tm.Done, tm.Total
	st.Clock = clockJSON{AsOf: at, PlannedStart: tm.PlannedStart, PlannedEnd: tm.PlannedEnd, ProjectedFinish: tm.ProjectedFinish,
		Pace: pace(tm.Variance), VarianceSeconds: secs(tm.Variance), BufferSeconds: secs(tm.Buffer), RemainingSeconds: secs(tm.Remaining),
		Current: tm.Current, UndoNeededSeconds: secs(tm.UndoNeeded), NoReturnWarning: tm.NoReturn}
	if !tm.NoReturnAt.IsZero() {
		at, until := tm.NoReturnAt, secs(tm.UntilNoReturn)
		st.Clock.NoReturnAt, st.Clock.UntilNoReturnSeconds = &at, &until
	}
	if sc := steps.ComputeScore(rb, run); len(sc.Areas) > 0 {
		st.Score = &scoreJSON{Title: sc.Title, Baseline: sc.Baseline, Total: sc.Total, Target: sc.Target, Met: sc.Met()}
	}
	for pi, ph := range tm.Phases {
		for _, s := range ph.Steps {
			ss := run.Step(s.ID)
			row := stepStatusJSON{ID: s.ID, Phase: rb.Phases[pi].ID, Status: s.Status, BudgetSeconds: secs(s.Budget),
				ActualSeconds: secs(s.Elapsed), Attempts: ss.Attempts, Over: s.Over, Reason: ss.Reason, Error: ss.LastErr,
				Notes: ss.Notes, Commit: ss.Commit}
			row.Approvals, row.ApprovalsNeeded = ss.Approvals, approvalsNeeded(rb, s.ID, ss)
			if ss.Status == steps.Dirty {
				in := ss.InFlight
				row.InFlightStatus = &in
				st.Dirty = append(st.Dirty, s.ID)
			}
			st.Steps = append(st.Steps, row)
		}
	}
	return st
}

// pace names a variance: a minute either way is on plan (as the UI says).
func pace(v time.Duration) string {
	switch {
	case v >= time.Minute:
		return "behind"
	case v <= -time.Minute:
		return "ahead"
	}
	return "on plan"
}

func printStatus(w io.Writer, st statusJSON) {
	switch {
	case !st.Started:
		fmt.Fprintf(w, "%s: not started (journal %s)\n", st.Runbook, st.Journal)
	case st.Finished:
		fmt.Fprintf(w, "%s: finished, %d/%d steps done\n", st.Runbook, st.Done, st.Total)
	default:
		fmt.Fprintf(w, "%s: started %s, %d/%d steps done\n", st.Runbook, st.StartedAt.Format("2006-01-02 15:04 MST"), st.Done, st.Total)
	}
	fmt.Fprintf(w, "Day: %s\n", st.Day)
	c := st.Clock
	loc := c.PlannedStart.Location()
	paceText := c.Pace
	if c.Pace != "on plan" {
		paceText += " " + steps.FormatBudget(abs(time.Duration(c.VarianceSeconds)*time.Second))
	}
	finish := "projected finish"
	if st.Finished {
		finish = "finished"
	}
	fmt.Fprintf(w, "Clock: %s │ %s %s (planned %s) │ buffer %s │ %s of work left\n", paceText, finish,
		clockAt(c.ProjectedFinish.In(loc), c.PlannedEnd.In(loc)), c.PlannedEnd.In(loc).Format("15:04"),
		steps.FormatBudget(time.Duration(c.BufferSeconds)*time.Second), steps.FormatBudget(time.Duration(c.RemainingSeconds)*time.Second))
	if !st.Started && st.Day.Undecided {
		fmt.Fprintln(w, "       (figures as planned: the day is not chosen yet)")
	}
	if c.NoReturnWarning && c.UntilNoReturnSeconds != nil {
		until := time.Duration(*c.UntilNoReturnSeconds) * time.Second
		undo := steps.FormatBudget(time.Duration(c.UndoNeededSeconds) * time.Second)
		if until >= 0 {
			fmt.Fprintf(w, "⚠ Point of no return in %s (at %s): after it, undoing what is done (%s) no longer fits in the window\n",
				steps.FormatBudget(until), c.NoReturnAt.In(loc).Format("15:04"), undo)
		} else {
			fmt.Fprintf(w, "⚠ Past the point of no return (%s ago, at %s): undoing what is done takes %s, more than the window has left\n",
				steps.FormatBudget(-until), c.NoReturnAt.In(loc).Format("15:04"), undo)
		}
	}
	if st.Score != nil {
		verdict := "below"
		if st.Score.Met {
			verdict = "meets"
		}
		fmt.Fprintf(w, "Score: %s %.0f → %.0f (%s the target of %d)\n", termsafe.Line(st.Score.Title), st.Score.Baseline, st.Score.Total, verdict, st.Score.Target)
	}
	if st.Lock != nil {
		if st.Lock.Held {
			fmt.Fprintf(w, "held by %s\n", termsafe.Line(st.Lock.LockInfo.String()))
		} else {
			fmt.Fprintf(w, "stale lock left by %s (take over with --take-over)\n", termsafe.Line(st.Lock.LockInfo.String()))
		}
	}
	if l := leaseLine(st.Lease); l != "" {
		fmt.Fprintln(w, termsafe.Line(l))
	}
	if st.Torn != "" {
		fmt.Fprintf(w, "journal: %s\n", termsafe.Line(st.Torn))
	}
	for _, id := range st.Dirty {
		fmt.Fprintf(w, "DIRTY %s: started, outcome unknown — open it and choose verify, retry, mark done or undo\n", id)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tACTUAL\tBUDGET\t")
	for _, s := range st.Steps {
		mark := ""
		if s.Over {
			mark = "over"
		}
		actual := "-"
		if s.ActualSeconds > 0 || s.Status != steps.Pending {
			actual = steps.FormatSeconds(time.Duration(s.ActualSeconds) * time.Second)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Status, actual, steps.FormatSeconds(time.Duration(s.BudgetSeconds)*time.Second), mark)
		if s.Error != "" && (s.Status == steps.Failed || s.Status == steps.Dirty) {
			fmt.Fprintf(tw, "  └ %s\t\t\t\t\n", termsafe.Line(firstLine(s.Error)))
		}
		printApprovals(tw, s)
	}
	tw.Flush()
}

// clockAt is t as HH:MM, with the date when it is not the planned day's.
func clockAt(t, ref time.Time) string {
	if t.Format(dayLayout) != ref.Format(dayLayout) {
		return t.Format("Mon 2 Jan 15:04")
	}
	return t.Format("15:04")
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
