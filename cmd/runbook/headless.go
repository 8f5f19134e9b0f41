package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// headless runs the same engine as the TUI and prints plain log lines.
type headless struct {
	c             common
	confirmManual bool
	onDirty       string
	onlyStep      string
	sess          *steps.Session
	mu            sync.Mutex
	out           io.Writer
	clock         steps.Clock
}

func runHeadless(ctx context.Context, args []string, io Streams, getenv func(string) string) error {
	h := &headless{out: io.Out, clock: steps.SystemClock{}}
	fs := newFlags("run", io)
	h.c.register(fs, getenv)
	isHeadless := fs.Bool("headless", false, "run without the terminal UI (required: the UI is `runbook` alone)")
	fs.BoolVar(&h.confirmManual, "confirm-manual", false, "confirm manual steps without asking (journaled as such)")
	fs.StringVar(&h.onDirty, "on-dirty", "stop", "what to do with a dirty step: stop, verify, retry, mark-done, undo")
	fs.StringVar(&h.onlyStep, "step", "", "run only this step `ID`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !*isHeadless {
		return usagef("run needs --headless (the interactive UI is plain `runbook`)")
	}
	switch h.onDirty {
	case "stop", "verify", "retry", "mark-done", "undo":
	default:
		return usagef("--on-dirty must be stop, verify, retry, mark-done or undo, not %q", h.onDirty)
	}
	h.c.todayByDefault = h.c.rehearsal
	rb, err := h.c.loadRunbook()
	if err != nil {
		return err
	}
	sess, err := h.c.openSession(rb, h.line, h.c.rehearsal, func(w string) { h.logf("", "warning: %s", w) })
	if err != nil {
		return err
	}
	defer sess.Close()
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
		h.logf("", "run of %s started by %s", rb.ID, h.c.operator)
	} else {
		h.logf("", "run of %s resumed by %s", rb.ID, h.c.operator)
	}
	return h.loop(ctx, rb)
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
		if _, _, ok := rb.StepRef(h.onlyStep); !ok {
			return usagef("no step %q in runbook %s", h.onlyStep, rb.ID)
		}
		return nil
	}
	if err := h.sess.Finish(); err != nil {
		return err
	}
	h.logf("", "run finished: every step done")
	return nil
}

// step brings one step to an end, or returns why it cannot. What happens
// next is the engine's decision (Session.Next), the same the UI gets.
func (h *headless) step(ctx context.Context, s runbooks.Step) error {
	p := steps.Policy{ConfirmManual: h.confirmManual, OnDirty: dirtyOp(h.onDirty)}
	for {
		d, err := h.sess.Next(s.ID, p)
		if err != nil {
			return &exitError{code: exitNeedsOp, err: err}
		}
		switch d.Op {
		case steps.OpNone:
			return nil
		case steps.OpWait:
			return fmt.Errorf("step %s is %s in another session", s.ID, d.Status)
		case steps.OpAsk:
			if d.Status == steps.AwaitingOperator {
				return &exitError{code: exitFailed, err: fmt.Errorf("step %s is manual and needs the operator: run `runbook` to confirm it, or pass --confirm-manual", s.ID)}
			}
			return &exitError{code: exitNeedsOp, err: fmt.Errorf("step %s %s; it is never re-run blindly: open `runbook` to choose, or pass --on-dirty=verify|retry|mark-done|undo", s.ID, d.Why)}
		case steps.OpStart:
			if st := h.sess.Snapshot().Step(s.ID); st.Status == steps.Failed {
				h.logf(s.ID, "retrying (attempt %d): last error: %s", st.Attempts+1, st.LastErr)
			}
			if d.Status != steps.Dirty {
				h.logf(s.ID, "start: %s (budget %s)", s.Title, hm(s.Budget))
			} else {
				h.logf(s.ID, "%s", d.Why)
			}
		default:
			h.logf(s.ID, "%s", d.Why)
		}
		wasDirty := d.Status == steps.Dirty || d.Status == steps.Failed
		err = h.sess.Do(ctx, d)
		st := h.sess.Snapshot().Step(s.ID)
		if err != nil {
			var se *steps.StepError
			if errors.As(err, &se) {
				h.logf(s.ID, "FAILED after %s: %v", ms(st.Elapsed(h.clock.Now())), se.Err)
				if hint := se.Hint(); hint != "" {
					h.logf(s.ID, "%s", hint)
				}
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
		case steps.Undone:
			if d.Op == steps.OpUndo && wasDirty {
				return &exitError{code: exitNeedsOp, err: fmt.Errorf("step %s was dirty and is now undone; run again to redo it, or skip it", s.ID)}
			}
		}
	}
}

// dirtyOp maps --on-dirty to the policy's standing choice (stop: ask).
func dirtyOp(flag string) steps.Op {
	switch flag {
	case "verify":
		return steps.OpVerify
	case "retry":
		return steps.OpStart
	case "mark-done":
		return steps.OpMarkDone
	case "undo":
		return steps.OpUndo
	}
	return steps.OpNone
}

func short(c string) string {
	if len(c) > 10 {
		return c[:10]
	}
	return c
}

// line receives a step's output (already redacted by the session).
func (h *headless) line(step, line string) { h.logf(step, "│ %s", line) }

func (h *headless) logf(step, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.clock.Now().Format("15:04:05")
	if step == "" {
		fmt.Fprintf(h.out, "%s %s\n", ts, fmt.Sprintf(format, args...))
		return
	}
	fmt.Fprintf(h.out, "%s %s %s\n", ts, step, fmt.Sprintf(format, args...))
}
