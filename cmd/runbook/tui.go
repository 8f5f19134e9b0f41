package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui"
)

// newTUICmd is `runbook tui`, the same as `runbook` alone (hidden: the
// root command is the way in).
func newTUICmd(ctx context.Context, c *common, io Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "tui",
		Short:  "open the runbook in the terminal UI (the same as runbook alone)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return runTUI(ctx, c, io)
		},
	}
}

// runTUI opens the terminal UI. c.day says which day the window is on;
// c.day.Undecided means nobody chose it yet (no run, no --date, and the
// planned day is not today): the UI is to ask before the run starts.
func runTUI(ctx context.Context, c *common, io Streams) error {
	c.todayByDefault = c.rehearsal
	rb, err := c.loadRunbook()
	if err != nil {
		return err
	}
	out := ui.NewOutput(0)
	sess, err := c.openSession(rb, out.Send, c.rehearsal, func(w string) { fmt.Fprintln(io.Err, "runbook: warning:", w) })
	if err != nil {
		return err
	}
	defer sess.Close()
	defer c.dbLock.Release()
	if c.debug {
		// The TUI owns stdout: logs go to a file in the state directory.
		f, err := os.OpenFile(filepath.Join(steps.RunDir(c.stateDir, rb.ID), "debug.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("open debug log: %w", err)
		}
		defer f.Close()
		slog.SetDefault(slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	m := ui.New(ui.Options{
		Session:  sess,
		Clock:    steps.SystemClock{},
		Operator: c.operator,
		Output:   out,
		NoColor:  c.getenv("NO_COLOR") != "",
	})
	// No WithContext: a signal goes through ui.Filter, which cancels a
	// running step and lets the session journal its end before the
	// program exits.
	p := tea.NewProgram(m, tea.WithFilter(ui.Filter), tea.WithInput(io.In), tea.WithOutput(io.Out))
	_, err = p.Run()
	out.Close()
	// A signal (SIGINT/SIGTERM, seen by main's context too) ends the
	// program after the running step's end is journaled: exit 130.
	if errors.Is(err, tea.ErrInterrupted) || ctx.Err() != nil {
		return &exitError{code: exitSignal, err: errors.New("interrupted; the running step's end is journaled")}
	}
	return err
}
