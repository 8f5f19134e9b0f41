package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// runsOptions are the flags of `runbook runs`.
type runsOptions struct {
	*common
	io     Streams
	asJSON bool
	now    func() time.Time
}

type runJSON struct {
	ID        string     `json:"id"`
	Runbook   string     `json:"runbook"`
	Rehearsal bool       `json:"rehearsal"`
	State     string     `json:"state"`
	Created   time.Time  `json:"created"`
	Last      uint64     `json:"last_seq"`
	Lease     *leaseJSON `json:"lease,omitempty"`
}

func newRunsCmd(c *common, io Streams) *cobra.Command {
	opts := &runsOptions{common: c, io: io, now: time.Now}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "the shared store's runs, real and rehearsal, newest first, with who drives them",
		Long: `runs lists the runs in the shared-run store (--store, $RUNBOOK_STORE or a
profile's store= line), real and rehearsal, newest first: the runbook, the
state, when it was created, its last record, and who holds its lease with
how old the heartbeat is. Pass a run's id to follow, status or report with
--run ID.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return runsRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, "print the runs as JSON")
	return cmd
}

func runsRun(opts *runsOptions) error {
	if !opts.profiled {
		opts.profiled = true
		if err := opts.applyProfiles(); err != nil {
			return err
		}
	}
	ctx := opts.ctx()
	st, err := opts.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.Runs(ctx)
	if err != nil {
		return err
	}
	now := opts.now()
	out := make([]runJSON, 0, len(runs))
	for _, r := range runs {
		rj := runJSON{ID: r.ID, Runbook: r.Runbook, Rehearsal: r.Rehearsal, State: r.State, Created: r.Created, Last: r.Last}
		if r.Lease != nil {
			rj.Lease = leaseOf(r.Lease, max(now.Sub(r.Lease.Heartbeat), 0))
		}
		out = append(out, rj)
	}
	if opts.asJSON {
		return writeJSON(opts.io.Out, out)
	}
	printRuns(opts.io.Out, out)
	return nil
}

func printRuns(w io.Writer, runs []runJSON) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "no runs in the store yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tRUNBOOK\tKIND\tSTATE\tCREATED\tLAST\tDRIVER\tHEARTBEAT")
	for _, r := range runs {
		kind := "real"
		if r.Rehearsal {
			kind = "rehearsal"
		}
		driver, hb := "-", "-"
		if l := r.Lease; l != nil {
			driver = l.Holder + "@" + l.Host
			if l.Released {
				driver += " (released)"
			} else {
				hb = steps.FormatSeconds(time.Duration(l.HeartbeatAgeSeconds)*time.Second) + " ago"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", termsafe.Line(r.ID), termsafe.Line(r.Runbook), kind,
			termsafe.Line(orDash(r.State)), r.Created.Local().Format("2006-01-02 15:04"), r.Last, termsafe.Line(driver), hb)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
