package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui"
)

// tuiFlags are the terminal UI's own settings (beside the common flags).
type tuiFlags struct {
	noBell  bool // no terminal bell (--no-bell, RUNBOOK_NO_BELL)
	noMouse bool // no mouse reporting (--no-mouse, RUNBOOK_NO_MOUSE)
}

func (t *tuiFlags) register(fs *pflag.FlagSet, getenv func(string) string) {
	fs.BoolVar(&t.noBell, "no-bell", getenv("RUNBOOK_NO_BELL") != "", "no terminal bell when a step fails, goes over budget or the point of no return nears ($RUNBOOK_NO_BELL)")
	fs.BoolVar(&t.noMouse, "no-mouse", getenv("RUNBOOK_NO_MOUSE") != "", "leave the mouse to the terminal (text selection) instead of scrolling panes ($RUNBOOK_NO_MOUSE)")
}

// newTUICmd is `runbook tui`, the same as `runbook` alone (hidden: the
// root command is the way in).
func newTUICmd(ctx context.Context, c *common, t *tuiFlags, io Streams, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "tui",
		Short:  "open the runbook in the terminal UI (the same as runbook alone)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return runTUI(ctx, c, t, io)
		},
	}
	t.register(cmd.Flags(), getenv)
	return cmd
}

// runTUI opens the terminal UI. c.day says which day the window is on;
// c.day.Undecided means nobody chose it yet (no run, no --date, and the
// planned day is not today): the UI asks before anything is journaled.
func runTUI(ctx context.Context, c *common, t *tuiFlags, io Streams) error {
	c.todayByDefault = c.rehearsal
	rb, err := c.loadRunbook()
	if err != nil {
		return err
	}
	noColor := c.getenv("NO_COLOR") != ""
	if c.day.Undecided {
		// A new run on a day that is not the planned one: ask which day
		// its clocks count on before anything is journaled.
		var ok bool
		rb, ok, err = askDay(rb, io, noColor)
		if err != nil || !ok {
			return err
		}
		c.day.Date, c.day.From, c.day.Undecided = rb.Schedule.Date, "chosen", false
	}
	out := ui.NewOutput(0)
	var notices []string
	// Notices from the team's side (a webhook that fails) reach the
	// status line once the program runs (see teamNotices).
	live := teamNotices(c)
	defer c.closeTeam()
	sess, err := c.openSession(rb, out.Send, c.rehearsal, func(w string) { notices = append(notices, w) })
	if err != nil {
		return err
	}
	defer sess.Close()
	// Warnings are shown in the UI; they go to stderr too, after the
	// program, where they stay in the terminal's scrollback.
	defer func() {
		for _, w := range notices {
			fmt.Fprintln(io.Err, "runbook: warning:", w)
		}
	}()
	if c.debug {
		// The TUI owns stdout: logs go to a file in the state directory.
		f, err := os.OpenFile(filepath.Join(steps.RunDir(c.stateDir, rb.ID), "debug.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("open debug log: %w", err)
		}
		defer f.Close()
		slog.SetDefault(slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	wd, _ := os.Getwd()
	m := ui.New(ui.Options{
		Session:  sess,
		Clock:    steps.SystemClock{},
		Operator: c.operator,
		Output:   out,
		NoColor:  noColor,
		Notices:  notices,
		NoBell:   t.noBell,
		Mouse:    !t.noMouse,
		WorkDir:  wd,
	})
	// No WithContext: a signal goes through ui.Filter, which cancels a
	// running step and lets the session journal its end before the
	// program exits.
	p := tea.NewProgram(m, tea.WithFilter(ui.Filter), tea.WithInput(io.In), tea.WithOutput(io.Out))
	live.attach(p)
	final, err := p.Run()
	live.detach(io.Err)
	out.Close()
	// Quitting while a step ran, or a signal (SIGINT/SIGTERM, seen by
	// main's context too), ends the program after the running step's end
	// is journaled: exit 130.
	fm, _ := final.(ui.Model)
	if errors.Is(err, tea.ErrInterrupted) || ctx.Err() != nil || fm.Interrupted() {
		return &exitError{code: exitSignal, err: errors.New("interrupted; the running step's end is journaled")}
	}
	return err
}

// askDay runs the day question; ok is false when the operator left it.
func askDay(rb *runbooks.Runbook, io Streams, noColor bool) (*runbooks.Runbook, bool, error) {
	q := ui.NewDayQuestion(rb, time.Now(), noColor)
	final, err := tea.NewProgram(q, tea.WithInput(io.In), tea.WithOutput(io.Out)).Run()
	if errors.Is(err, tea.ErrInterrupted) {
		return nil, false, &exitError{code: exitSignal, err: errors.New("interrupted before the run started")}
	}
	if err != nil {
		return nil, false, err
	}
	day, ok := final.(ui.DayModel).Answer()
	if !ok {
		return nil, false, nil
	}
	if day == rb.Schedule.Date {
		return rb, true, nil
	}
	moved, err := rb.OnDate(day)
	if err != nil {
		return nil, false, usagef("date: %v", err)
	}
	return moved, true, nil
}
