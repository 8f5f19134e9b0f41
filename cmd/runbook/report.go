package main

import (
	"fmt"
	"os"
	"path/filepath"

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
	// Write beside and rename: a reader never sees half a report.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".report-*")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := steps.WriteReport(tmp, rb, run, now, red); err != nil {
		tmp.Close()
		return fmt.Errorf("write report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(io.Err, "report written to %s\n", *out)
	return nil
}
