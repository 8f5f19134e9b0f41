package main

import (
	"bytes"
	"fmt"

	"github.com/runbook-dev/runbook/steps"
)

func runReport(args []string, io Streams, getenv func(string) string) error {
	var c common
	fs := newFlags("report", io)
	c.register(fs, getenv)
	out := fs.String("o", "", "write the report to `FILE` (default: standard output)")
	if err := parse(fs, args); err != nil {
		return err
	}
	rb, err := c.loadRunbook()
	if err != nil {
		return err
	}
	path := steps.JournalPath(c.stateDir, rb.ID)
	run, torn, err := steps.ReadRun(path)
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
	if _, _, err := steps.ResolveTargets(rb, c.targetValues(rb), getenv, red); err != nil {
		return usagef("%v", err)
	}
	if *out == "" {
		return steps.WriteReport(io.Out, rb, run, now, red)
	}
	// One atomic write: a reader never sees half a report.
	var buf bytes.Buffer
	if err := steps.WriteReport(&buf, rb, run, now, red); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := steps.WriteFileAtomic(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(io.Err, "report written to %s\n", *out)
	return nil
}
