package main

import (
	"errors"
	"fmt"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/actions"
)

func runValidate(args []string, io Streams, getenv func(string) string) error {
	fs := newFlags("validate", io)
	quiet := fs.Bool("q", false, "print nothing for valid files")
	guides := fs.String("guides", "", "guide `DIR` (default: beside each runbook file)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("validate needs at least one runbook FILE")
	}
	reg := actions.Registry()
	bad := 0
	for _, f := range fs.Args() {
		rb, err := loadFile(f, *guides, reg)
		if err != nil {
			bad++
			var errs runbooks.Errors
			if errors.As(err, &errs) {
				fmt.Fprintln(io.Err, errs)
			} else {
				fmt.Fprintf(io.Err, "%s: %v\n", f, err)
			}
			continue
		}
		if !*quiet {
			fmt.Fprintf(io.Out, "%s: ok — %s, %d phases, %d steps\n", f, rb.ID, len(rb.Phases), len(rb.Steps()))
		}
	}
	if bad > 0 {
		// validate's own verdict is exit 1; exit 2 stays for a bad command line.
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d runbook files are invalid", bad, fs.NArg())}
	}
	return nil
}
