package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/runbook-dev/runbook/steps"
)

// runRollback replays the journal backwards: each step that did work since
// the chosen point is undone, latest first, each undo journaled.
func runRollback(ctx context.Context, args []string, io Streams, getenv func(string) string) error {
	h := &headless{out: io.Out, clock: steps.SystemClock{}}
	fs := newFlags("rollback", io)
	h.c.register(fs, getenv)
	to := fs.String("to", "", "roll back to `start`, or to before a STEP or PHASE id (it and all done after it are undone)")
	confirm := fs.Bool("confirm-manual", false, "take manual undo actions as done (journaled as such); a rehearsal does this on its own")
	dry := fs.Bool("dry-run", false, "list what would be undone, in order, and stop")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return usagef("rollback needs --to start, --to STEP or --to PHASE")
	}
	rb, err := h.c.loadRunbook()
	if err != nil {
		return err
	}
	prior, _, err := steps.ReadRun(steps.JournalPath(h.c.stateDir, rb.ID))
	if err != nil {
		return err
	}
	if prior.StartedAt.IsZero() {
		return usagef("runbook %s has no run in %s: nothing to roll back", rb.ID, h.c.stateDir)
	}
	if *dry {
		order, err := steps.RollbackOrder(rb, prior, *to)
		if err != nil {
			return usagef("%v", err)
		}
		h.logf("", "rollback to %s would undo %d step(s), latest first (dry run: no lock taken, nothing written)", *to, len(order))
		for i, id := range order {
			h.logf(id, "undo %d/%d", i+1, len(order))
		}
		return nil
	}
	h.c.confirmManualUndo = *confirm
	sess, err := h.c.openSession(rb, h.line, prior.Rehearsal, func(w string) { h.logf("", "warning: %s", w) })
	if err != nil {
		return err
	}
	defer sess.Close()
	h.sess = sess
	order, err := sess.RollbackOrder(*to)
	if err != nil {
		return usagef("%v", err)
	}
	if len(order) == 0 {
		h.logf("", "nothing to roll back")
		return nil
	}
	h.logf("", "rollback to %s: undoing %d step(s), latest first", *to, len(order))
	for i, id := range order {
		h.logf(id, "undo %d/%d", i+1, len(order))
		if err := sess.Undo(ctx, id); err != nil {
			var se *steps.StepError
			if errors.As(err, &se) {
				h.logf(id, "UNDO FAILED: %v", se.Err)
				return &exitError{code: exitFailed, err: fmt.Errorf("rollback stopped at %s: %v; the steps before it in the list were undone", id, se.Err)}
			}
			return err
		}
		h.logf(id, "undone")
	}
	h.logf("", "rollback to %s finished", *to)
	return nil
}
