package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Main runs one command line and returns the exit code. Tests call it with
// their own streams and environment.
func Main(ctx context.Context, args []string, io Streams, getenv func(string) string) int {
	root := newRootCmd(ctx, io, getenv)
	root.SetArgs(args)
	_, err := root.ExecuteC()
	return report(err, io.Err)
}

const rootLong = `runbook carries a team through a timed change window: every step on a
clock against its budget, its guide on screen, its automation run for real,
every event journaled so the run resumes exactly where it stopped.

Without a command, runbook opens the terminal UI on the runbook.

Exit codes: 0 ok, 1 a step failed, 2 usage or invalid runbook, 3 locked by
another operator, 4 a dirty step needs a decision, 5 state or target
unusable, 130 interrupted.`

// newRootCmd is the whole command tree. The flags every command shares are
// persistent flags of the root, so they may come before or after the
// command (`runbook --state X plan` and `runbook plan --state X`).
func newRootCmd(ctx context.Context, io Streams, getenv func(string) string) *cobra.Command {
	c := &common{}
	t := &tuiFlags{}
	root := &cobra.Command{
		Use:           "runbook",
		Short:         "carry a team through a timed change window",
		Long:          rootLong,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// plna → plan, rolback → rollback.
		SuggestionsMinimumDistance: 2,
		// An unknown word in the command's place: say so, with the
		// nearest commands (`plna` → plan).
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			return unknownCommand(cmd, args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return runTUI(ctx, c, t, io)
		},
	}
	t.register(root.Flags(), getenv)
	root.SetContext(ctx)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.SetVersionTemplate("runbook {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%v\nRun '%s --help' for usage.", err, cmd.CommandPath())
	})
	// Commands list in the order a team meets them, not alphabetically.
	cobra.EnableCommandSorting = false
	c.register(root, getenv)
	root.AddCommand(
		newPlanCmd(c, io),
		newRunCmd(ctx, c, io),
		newStatusCmd(c, io),
		newReportCmd(c, io),
		newRollbackCmd(ctx, c, io),
		newFollowCmd(ctx, c, &tuiFlags{}, io, getenv),
		newRunsCmd(c, io),
		newStoreCmd(c, io),
		newValidateCmd(io),
		newLabCmd(ctx, io, getenv),
		newTUICmd(ctx, c, t, io, getenv),
		newApproveCmd(ctx, c, io),
		newNoteCmd(ctx, c, io),
	)
	return root
}

// unknownCommand is the error for a word that names no command, with the
// nearest ones cobra finds.
func unknownCommand(cmd *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usagef("%s\nRun '%s --help' for usage.", msg, cmd.CommandPath())
}

// noArgs refuses any argument: a stray word is a mistake, never ignored.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s: unexpected argument %q\nRun '%s --help' for usage.", cmd.CommandPath(), args[0], cmd.CommandPath())
	}
	return nil
}

// version is the module's version and the commit it was built from, as
// the Go toolchain recorded them in the binary.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	return formatVersion(bi)
}

func formatVersion(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return v + " (no commit recorded)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += "-modified"
	}
	out := v + " (commit " + rev
	if when != "" {
		out += ", " + when
	}
	return out + ", " + bi.GoVersion + ")"
}
