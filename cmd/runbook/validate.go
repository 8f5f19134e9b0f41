package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/actions"
)

// validateOptions are the flags of `runbook validate`.
type validateOptions struct {
	io     Streams
	quiet  bool
	guides string
	files  []string
}

func newValidateCmd(io Streams) *cobra.Command {
	opts := &validateOptions{io: io}
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "check runbook files; print every problem as file:line:col",
		Long: `validate loads each runbook file strictly and prints every problem at once,
each naming file:line:col. It exits 1 when a file is invalid.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("validate needs at least one runbook FILE")
			}
			return nil
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.files = args
			return validateRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "print nothing for valid files")
	// Local: shadows the shared --guides, which is for -f.
	cmd.Flags().StringVar(&opts.guides, "guides", "", "guide `DIR` (default: beside each runbook file)")
	return cmd
}

func validateRun(opts *validateOptions) error {
	io := opts.io
	reg := actions.Registry()
	bad := 0
	for _, f := range opts.files {
		rb, err := loadFile(f, opts.guides, reg)
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
		if !opts.quiet {
			fmt.Fprintf(io.Out, "%s: ok — %s, %d phases, %d steps\n", f, rb.ID, len(rb.Phases), len(rb.Steps()))
		}
	}
	if bad > 0 {
		// validate's own verdict is exit 1; exit 2 stays for a bad command line.
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d runbook files are invalid", bad, len(opts.files))}
	}
	return nil
}
