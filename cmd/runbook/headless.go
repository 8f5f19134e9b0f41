package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

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
	errOut        io.Writer // notices (a webhook that fails); nil: out
	clock         steps.Clock
}

func newRunCmd(ctx context.Context, c *common, io Streams) *cobra.Command {
	h := &headless{out: io.Out, errOut: io.Err, clock: steps.SystemClock{}}
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
	h.c.ws.notice = func(w string) { h.logf("", "warning: %s", w) }
	h.c.team.notice = h.notice
	defer h.c.closeTeam()
	h.c.share.notice = func(s string) { h.logf("", "notice: %s", s) }
	sess, err := h.c.openSession(rb, h.line, h.c.rehearsal, func(w string) { h.logf("", "warning: %s", w) })
	if err != nil {
		return err
	}
	defer h.closeShared(sess)
	h.sess = sess
	if sh := sess.ShareStatus(); sh.Run != "" {
		h.logf("", "shared as run %s: %s drives", sh.Run, sh.Holder)
	}
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
	work, stop := h.cancelOnSignal(ctx)
	defer stop()
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			if h.onlyStep != "" && s.ID != h.onlyStep {
				continue
			}
			if err := h.step(ctx, work, s); err != nil {
				return err
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

// policy is the operator's standing choices from the flags, for the
// engine's one "what next" (steps.Session.Next).
func (h *headless) policy() steps.Policy {
	p := steps.Policy{ConfirmManual: h.confirmManual}
	switch h.onDirty {
	case "verify":
		p.OnDirty = steps.OpVerify
	case "retry":
		p.OnDirty = steps.OpStart
	case "mark-done":
		p.OnDirty = steps.OpMarkDone
	case "undo":
		p.OnDirty = steps.OpUndo
	}
	return p
}

var errInterrupted = &exitError{code: exitSignal, err: errors.New("interrupted; the step's end is journaled")}

// step brings one step to an end, or returns why it cannot. What happens
// next is the engine's decision (Session.Next); headless logs it and does
// it on work, a context the signal does not cut (see cancelOnSignal).
func (h *headless) step(ctx, work context.Context, s runbooks.Step) error {
	for {
		if ctx.Err() != nil {
			return errInterrupted
		}
		before := h.sess.Step(s.ID)
		unknown := before.Status == steps.Dirty || before.CancelledBy != ""
		d, err := h.sess.Next(s.ID, h.policy())
		if err != nil {
			return &exitError{code: exitNeedsOp, err: err}
		}
		switch d.Op {
		case steps.OpNone:
			return nil
		case steps.OpWait:
			return fmt.Errorf("step %s is %s in another session", s.ID, d.Status)
		case steps.OpAsk:
			return h.ask(s, before, d)
		case steps.OpApprove:
			if err := h.approval(ctx, s, d); err != nil {
				return err
			}
			continue
		case steps.OpStart:
			switch {
			case unknown:
				h.logf(s.ID, "%s (--on-dirty=%s)", d.Why, h.onDirty)
			case before.Status == steps.Failed:
				h.logf(s.ID, "retrying (attempt %d): last error: %s", before.Attempts+1, before.LastErr)
			}
			h.logf(s.ID, "start: %s (budget %s)", s.Title, steps.FormatBudget(s.Budget))
		default:
			if unknown {
				h.logf(s.ID, "%s (--on-dirty=%s)", d.Why, h.onDirty)
			} else {
				h.logf(s.ID, "%s", d.Why)
			}
		}
		err = h.sess.Do(work, d)
		st := h.sess.Step(s.ID)
		if err != nil {
			var se *steps.StepError
			if errors.As(err, &se) {
				h.logf(s.ID, "FAILED after %s: %v", steps.FormatSeconds(st.Elapsed(h.clock.Now())), se.Err)
				if ctx.Err() != nil {
					return errInterrupted
				}
				if hint := se.Hint(); hint != "" {
					h.logf(s.ID, "%s", hint)
				}
			}
			return err
		}
		switch {
		case d.Op == steps.OpUndo && unknown:
			return &exitError{code: exitNeedsOp, err: fmt.Errorf("step %s was %s and is now undone; run again to redo it, or skip it", s.ID, before.Status)}
		case st.Status == steps.Succeeded:
			h.logf(s.ID, "succeeded in %s of %s", steps.FormatSeconds(st.Elapsed(h.clock.Now())), steps.FormatBudget(s.Budget))
			if st.Commit != "" {
				h.logf(s.ID, "checkpoint %s", short(st.Commit))
			}
			return nil
		}
	}
}

// ask is a decision headless cannot take: it says which flag or the UI.
func (h *headless) ask(s runbooks.Step, st steps.StepState, d steps.Decision) error {
	switch {
	case st.Status == steps.AwaitingOperator:
		return &exitError{code: exitFailed, err: fmt.Errorf("step %s is manual and needs the operator: run `runbook` to confirm it, or pass --confirm-manual", s.ID)}
	case st.Status == steps.Dirty:
		return &exitError{code: exitNeedsOp, err: fmt.Errorf("step %s is dirty (started, outcome unknown); it is never re-run blindly: open `runbook` to choose, or pass --on-dirty=verify|retry|mark-done|undo", s.ID)}
	case st.CancelledBy != "":
		return &exitError{code: exitNeedsOp, err: fmt.Errorf("step %s was cancelled by %s; what it did is unknown: open `runbook` to choose, or pass --on-dirty=verify|retry|mark-done|undo", s.ID, st.CancelledBy)}
	}
	return &exitError{code: exitNeedsOp, err: fmt.Errorf("step %s: %s", s.ID, d.Why)}
}

// cancelOnSignal: when ctx ends (the first SIGINT/SIGTERM), the step
// running then is cancelled through the engine, which journals who
// cancelled and when, then the step's end; the command exits 130. The
// work runs on a context the signal does not cut, so the stop is the
// engine's cancel, never a torn action. stop ends the watch.
func (h *headless) cancelOnSignal(ctx context.Context) (work context.Context, stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		by := h.c.operator + " (signal)"
		cancelled := ""
		for {
			if id := h.sess.Running(); id != "" && id != cancelled {
				if err := h.sess.Cancel(id, by); err == nil {
					cancelled = id
					h.logf(id, "cancelling: interrupted by a signal (once more to exit at once)")
				}
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return context.WithoutCancel(ctx), func() { once.Do(func() { close(done) }) }
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
