package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// approval waits for a step's approvals (the engine's OpApprove): through
// the store, from --approve, or the rehearsal's own. The wait ends with the
// signal (ctx), the step still pending.
func (h *headless) approval(ctx context.Context, s runbooks.Step, d steps.Decision) error {
	if d.Auto {
		h.logf(s.ID, "%s", d.Why)
	} else if h.sess.WaitsForApprovals() {
		h.logf(s.ID, "%s; waiting (approve with: runbook approve %s --reason ...)", d.Why, s.ID)
	}
	err := h.sess.Do(ctx, d)
	var ae *steps.ApprovalError
	switch {
	case err == nil:
		for _, a := range h.sess.Step(s.ID).Approvals {
			h.logf(s.ID, "approved by %s on %s %s%s", a.By, a.Host, steps.ViaText(a.Via), reasonText(a.Reason))
		}
		return nil
	case ctx.Err() != nil:
		return errInterrupted
	case errors.As(err, &ae):
		return &exitError{code: exitNeedsOp, err: fmt.Errorf("%v: share the run (--store) so they approve with `runbook approve %s --reason ...`, or name them here: --approve %s=NAME:REASON", err, s.ID, s.ID)}
	}
	return &exitError{code: exitNeedsOp, err: err}
}

func reasonText(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// notice prints what the team's side has to say (a webhook that fails) on
// stderr, without stopping anything.
func (h *headless) notice(msg string) {
	w := h.errOut
	if w == nil {
		w = h.out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "%s notice: %s\n", h.clock.Now().Format("15:04:05"), termsafe.Line(msg))
}
