package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui"
)

func runTUI(ctx context.Context, args []string, io Streams, getenv func(string) string) error {
	var c common
	fs := newFlags("", io)
	c.register(fs, getenv)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unknown command %q (see runbook help)", fs.Arg(0))
	}
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
		NoColor:  getenv("NO_COLOR") != "",
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
