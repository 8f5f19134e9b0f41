package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

type statusJSON struct {
	Runbook   string           `json:"runbook"`
	Journal   string           `json:"journal"`
	Started   bool             `json:"started"`
	StartedAt *time.Time       `json:"started_at,omitempty"`
	Finished  bool             `json:"finished"`
	Lock      *lockJSON        `json:"lock,omitempty"`
	Torn      string           `json:"torn_tail,omitempty"`
	Dirty     []string         `json:"dirty"`
	Done      int              `json:"done"`
	Total     int              `json:"total"`
	Steps     []stepStatusJSON `json:"steps"`
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
}

func runStatus(args []string, io Streams, getenv func(string) string) error {
	var c common
	fs := newFlags("status", io)
	c.register(fs, getenv)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	rb, err := c.loadRunbook()
	if err != nil {
		return err
	}
	st, err := readStatus(rb, c.stateDir)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(io.Out, st)
	return nil
}

// readStatus folds the journal without taking the lock: status is safe to
// run beside a live session.
func readStatus(rb *runbooks.Runbook, stateDir string) (statusJSON, error) {
	path := steps.JournalPath(stateDir, rb.ID)
	run, torn, err := steps.ReadRun(path)
	if err != nil {
		return statusJSON{}, err
	}
	info, held, err := steps.ReadLock(steps.RunDir(stateDir, rb.ID))
	if err != nil {
		return statusJSON{}, fmt.Errorf("read lock: %w", err)
	}
	st := statusJSON{Runbook: rb.ID, Journal: path, Started: !run.StartedAt.IsZero(), Finished: run.Finished, Dirty: []string{}}
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
	now := run.LastAt
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			ss := run.Step(s.ID)
			row := stepStatusJSON{ID: s.ID, Phase: p.ID, Status: ss.Status, BudgetSeconds: secs(s.Budget),
				ActualSeconds: secs(ss.Elapsed(now)), Attempts: ss.Attempts, Reason: ss.Reason, Error: ss.LastErr,
				Notes: ss.Notes, Commit: ss.Commit}
			row.Over = ss.Elapsed(now) > s.Budget
			// In flight in the journal and nobody holds the run: the
			// session died. Reopening will mark it dirty; say so now.
			if ss.Status.Busy() && !held {
				inflight := ss.Status
				row.InFlightStatus = &inflight
				row.Status = steps.Dirty
			}
			if ss.Status == steps.Dirty {
				in := ss.InFlight
				row.InFlightStatus = &in
			}
			if row.Status == steps.Dirty {
				st.Dirty = append(st.Dirty, s.ID)
			}
			if ss.Status.Done() {
				st.Done++
			}
			st.Total++
			st.Steps = append(st.Steps, row)
		}
	}
	return st, nil
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
	if st.Lock != nil {
		if st.Lock.Held {
			fmt.Fprintf(w, "held by %s\n", st.Lock.LockInfo)
		} else {
			fmt.Fprintf(w, "stale lock left by %s (take over with --take-over)\n", st.Lock.LockInfo)
		}
	}
	if st.Torn != "" {
		fmt.Fprintf(w, "journal: %s\n", st.Torn)
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
			actual = ms(time.Duration(s.ActualSeconds) * time.Second)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Status, actual, ms(time.Duration(s.BudgetSeconds)*time.Second), mark)
	}
	tw.Flush()
}

// ms formats a duration as 1h02m03s without zero-padding noise.
func ms(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}
