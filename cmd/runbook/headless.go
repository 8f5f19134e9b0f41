package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// headless runs the same engine as the TUI and prints plain log lines.
type headless struct {
	c             *common
	confirmManual bool
	onDirty       string
	onlyStep      string
	sess          *steps.Session
	mu            sync.Mutex
	out           io.Writer
	clock         steps.Clock
}

func newRunCmd(ctx context.Context, c *common, io Streams) *cobra.Command {
	h := &headless{out: io.Out, clock: steps.SystemClock{}}
	var isHeadless bool
	cmd := &cobra.Command{
		Use:   "run --headless",
		Short: "run the runbook without the UI, in plain log lines",
		Long: `run --headless runs the same engine as the terminal UI and prints plain,
timestamped log lines. It stops at a manual step (unless --confirm-manual),
at a dirty step (unless --on-dirty says what to do) and at a failure.

A new run needs its day: when the runbook's planned date is not today, pass
--date today (or --date YYYY-MM-DD); a rehearsal runs today by default.
ctrl+c cancels the running step (journaled) and exits 130 once its end is
journaled; a second ctrl+c exits at once.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			h.c = c
			if !isHeadless {
				return usagef("run needs --headless (the interactive UI is plain `runbook`)")
			}
			return headlessRun(ctx, h)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&isHeadless, "headless", false, "run without the terminal UI (required: the UI is runbook alone)")
	f.BoolVar(&h.confirmManual, "confirm-manual", false, "confirm manual steps without asking (journaled as such)")
	f.StringVar(&h.onDirty, "on-dirty", "stop", "what to do with a dirty step: stop, verify, retry, mark-done, undo")
	f.StringVar(&h.onlyStep, "step", "", "run only this step `ID`")
	cmd.RegisterFlagCompletionFunc("on-dirty", cobra.FixedCompletions([]cobra.Completion{"stop", "verify", "retry", "mark-done", "undo"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("step", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return c.completeIDs(false)
	})
	return cmd
}

func headlessRun(ctx context.Context, h *headless) error {
	switch h.onDirty {
	case "stop", "verify", "retry", "mark-done", "undo":
	default:
		return usagef("--on-dirty must be stop, verify, retry, mark-done or undo, not %q", termsafe.Line(h.onDirty))
	}
	h.c.todayByDefault = h.c.rehearsal
	rb, err := h.c.loadRunbook()
	if err != nil {
		return err
	}
	if err := h.c.day.refuseUndecided(); err != nil {
		return err
	}
	if h.onlyStep != "" {
		if _, _, ok := rb.StepRef(h.onlyStep); !ok {
			return usagef("--step %q: no such step in runbook %s (steps: %s)", termsafe.Line(h.onlyStep), rb.ID, strings.Join(stepIDs(rb), ", "))
		}
	}
	sess, err := h.c.openSession(rb, h.line, h.c.rehearsal, func(w string) { h.logf("", "warning: %s", w) })
	if err != nil {
		return err
	}
	defer sess.Close()
	defer h.c.dbLock.Release()
	h.sess = sess
	if t := sess.Recovered.Torn; t != nil {
		h.logf("", "journal: %s", t)
	}
	if sess.Recovered.RunbookChanged {
		h.logf("", "warning: the runbook changed since this run last opened; steps already done are not re-checked")
	}
	for _, id := range sess.Recovered.Dirty {
		h.logf(id, "DIRTY: the last session ended while this step was in flight; outcome unknown")
	}
	if sess.Recovered.New {
		h.logf("", "run of %s started by %s on %s", rb.ID, h.c.operator, h.c.day)
	} else {
		h.logf("", "run of %s resumed by %s", rb.ID, h.c.operator)
	}
	return h.loop(ctx, rb)
}

// stepIDs lists the runbook's step ids in order.
func stepIDs(rb *runbooks.Runbook) []string {
	var out []string
	for _, s := range rb.Steps() {
		out = append(out, s.ID)
	}
	return out
}

func (h *headless) loop(ctx context.Context, rb *runbooks.Runbook) error {
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			if h.onlyStep != "" && s.ID != h.onlyStep {
				continue
			}
			if err := h.step(ctx, s); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return &exitError{code: exitSignal, err: errors.New("interrupted; the step's end is journaled")}
			}
		}
	}
	if h.onlyStep != "" {
		return nil
	}
	if err := h.sess.Finish(); err != nil {
		return err
	}
	h.logf("", "run finished: every step done")
	return nil
}

// step brings one step to an end, or returns why it cannot.
func (h *headless) step(ctx context.Context, s runbooks.Step) error {
	for {
		st := h.sess.Snapshot().Step(s.ID)
		var err error
		switch st.Status {
		case steps.Succeeded, steps.Skipped:
			return nil
		case steps.Pending, steps.Failed, steps.Undone:
			if st.Status == steps.Failed {
				h.logf(s.ID, "retrying (attempt %d): last error: %s", st.Attempts+1, st.LastErr)
			}
			h.logf(s.ID, "start: %s (budget %s)", s.Title, hm(s.Budget))
			err = h.sess.Start(ctx, s.ID)
		case steps.AwaitingOperator:
			switch {
			case h.sess.Snapshot().Rehearsal:
				h.logf(s.ID, "manual step auto-confirmed (rehearsal)")
				err = h.sess.Confirm(ctx, s.ID, h.c.operator+" (rehearsal auto-confirm)", "auto-confirmed in a rehearsal")
			case h.confirmManual:
				h.logf(s.ID, "manual step confirmed by --confirm-manual")
				err = h.sess.Confirm(ctx, s.ID, h.c.operator+" (headless --confirm-manual)", "confirmed without review by --confirm-manual")
			default:
				return &exitError{code: exitFailed, err: fmt.Errorf("step %s is manual and needs the operator: run `runbook` to confirm it, or pass --confirm-manual", s.ID)}
			}
		case steps.Dirty:
			err = h.dirty(ctx, s)
		default:
			return fmt.Errorf("step %s is %s in another session", s.ID, st.Status)
		}
		st = h.sess.Snapshot().Step(s.ID)
		if err != nil {
			var se *steps.StepError
			if errors.As(err, &se) {
				h.logf(s.ID, "FAILED after %s: %v", ms(st.Elapsed(h.clock.Now())), se.Err)
				if ctx.Err() != nil {
					return &exitError{code: exitSignal, err: errors.New("interrupted; the step's end is journaled")}
				}
			}
			return err
		}
		switch st.Status {
		case steps.Succeeded:
			h.logf(s.ID, "succeeded in %s of %s", ms(st.Elapsed(h.clock.Now())), hm(s.Budget))
			if st.Commit != "" {
				h.logf(s.ID, "checkpoint %s", short(st.Commit))
			}
			return nil
		case steps.AwaitingOperator:
			continue
		}
	}
}

func (h *headless) dirty(ctx context.Context, s runbooks.Step) error {
	switch h.onDirty {
	case "verify":
		h.logf(s.ID, "dirty: verifying (--on-dirty=verify)")
		return h.sess.Verify(ctx, s.ID)
	case "retry":
		h.logf(s.ID, "dirty: retrying (--on-dirty=retry)")
		return h.sess.Start(ctx, s.ID)
	case "mark-done":
		h.logf(s.ID, "dirty: marked done (--on-dirty=mark-done)")
		return h.sess.MarkDone(ctx, s.ID, "marked done by headless --on-dirty=mark-done")
	case "undo":
		h.logf(s.ID, "dirty: undoing (--on-dirty=undo)")
		if err := h.sess.Undo(ctx, s.ID); err != nil {
			return err
		}
		return &exitError{code: exitNeedsOp, err: fmt.Errorf("step %s was dirty and is now undone; run again to redo it, or skip it", s.ID)}
	}
	return &exitError{code: exitNeedsOp, err: fmt.Errorf("step %s is dirty (started, outcome unknown); it is never re-run blindly: open `runbook` to choose, or pass --on-dirty=verify|retry|mark-done|undo", s.ID)}
}

func short(c string) string {
	if len(c) > 10 {
		return c[:10]
	}
	return c
}

// line receives a step's output (already redacted by the session).
func (h *headless) line(step, line string) { h.logf(step, "│ %s", termsafe.Line(line)) }

func (h *headless) logf(step, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.clock.Now().Format("15:04:05")
	// Titles, errors and output are foreign text: one safe line each.
	msg := termsafe.Line(fmt.Sprintf(format, args...))
	if step == "" {
		fmt.Fprintf(h.out, "%s %s\n", ts, msg)
		return
	}
	fmt.Fprintf(h.out, "%s %s %s\n", ts, step, msg)
}
