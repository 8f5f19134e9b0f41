package main

import (
	"bytes"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/steps"
)

// reportOptions are the flags of `runbook report`.
type reportOptions struct {
	*common
	io  Streams
	out string
}

func newReportCmd(c *common, io Streams) *cobra.Command {
	opts := &reportOptions{common: c, io: io}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "markdown report: planned vs actual per step, skips, notes, score",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return reportRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.out, "output", "o", "", "write the report to `FILE` (default: standard output)")
	return cmd
}

func reportRun(opts *reportOptions) error {
	c, io := opts.common, opts.io
	rb, err := c.loadRunbook()
	if err != nil {
		return err
	}
	rb, run, torn, err := c.readRunFor(c.ctx(), rb)
	if err != nil {
		return err
	}
	if torn != nil {
		fmt.Fprintln(io.Err, "runbook: note:", torn)
	}
	now := run.LastAt
	if now.IsZero() {
		now = rb.Schedule.Start
	}
	red := steps.NewRedactor()
	// Secret target values are masked here too, should a note quote one.
	if _, _, err := steps.ResolveTargets(rb, c.targetValues(rb), c.getenv, red); err != nil {
		return usagef("%v", err)
	}
	if opts.out == "" {
		return steps.WriteReport(io.Out, rb, run, now, red)
	}
	// One atomic write: a reader never sees half a report.
	var buf bytes.Buffer
	if err := steps.WriteReport(&buf, rb, run, now, red); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := steps.WriteFileAtomic(opts.out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(io.Err, "report written to %s\n", opts.out)
	return nil
}
