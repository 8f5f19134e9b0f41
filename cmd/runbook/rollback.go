package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/runbooks"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// rollbackOptions are the flags of `runbook rollback`.
type rollbackOptions struct {
	h       *headless
	to      string
	confirm bool
	dry     bool
}

func newRollbackCmd(ctx context.Context, c *common, io Streams) *cobra.Command {
	opts := &rollbackOptions{h: &headless{out: io.Out, clock: steps.SystemClock{}}}
	cmd := &cobra.Command{
		Use:   "rollback --to start|STEP|PHASE",
		Short: "undo what the run did, latest first, each undo journaled",
		Long: `rollback replays the run's journal backwards: each step done since the
chosen point is undone through its undo actions, latest first, each undo
journaled and checkpointed. --to start undoes everything; --to STEP or
--to PHASE undoes it and everything done after it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			opts.h.c = c
			return rollbackRun(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.to, "to", "", "roll back to `start`, or to before a STEP or PHASE id (it and all done after it are undone)")
	f.BoolVar(&opts.confirm, "confirm-manual", false, "take manual undo actions as done (journaled as such); a rehearsal does this on its own")
	f.BoolVar(&opts.dry, "dry-run", false, "list what would be undone, in order, and stop")
	cmd.RegisterFlagCompletionFunc("to", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return c.completeIDs(true)
	})
	return cmd
}

// checkRollbackPoint refuses an id that is neither start, a step nor a
// phase, listing the ones that are.
func checkRollbackPoint(rb *runbooks.Runbook, to string) error {
	if to == "start" {
		return nil
	}
	if _, _, ok := rb.StepRef(to); ok {
		return nil
	}
	var phases []string
	for _, p := range rb.Phases {
		if p.ID == to {
			return nil
		}
		phases = append(phases, p.ID)
	}
	return usagef("rollback --to %q: no step or phase of that id in %s\n  start\n  phases: %s\n  steps:  %s",
		termsafe.Line(to), rb.ID, strings.Join(phases, ", "), strings.Join(stepIDs(rb), ", "))
}

// rollbackRun replays the journal backwards: each step that did work since
// the chosen point is undone, latest first, each undo journaled.
func rollbackRun(ctx context.Context, opts *rollbackOptions) error {
	h := opts.h
	to, confirm, dry := &opts.to, &opts.confirm, &opts.dry
	if *to == "" {
		return usagef("rollback needs --to start, --to STEP or --to PHASE")
	}
	rb, err := h.c.loadRunbook()
	if err != nil {
		return err
	}
	if err := checkRollbackPoint(rb, *to); err != nil {
		return err
	}
	// The run as the store has it when this machine has none of its own
	// (or --run names it): a rollback on another machine needs no run
	// opened here first. It is named, so the session below opens that
	// run, restored from the store, instead of starting a new one.
	if err := h.c.pinStoreRun(ctx, rb); err != nil {
		return err
	}
	rb, prior, _, err := h.c.readRunFor(ctx, rb)
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
	h.c.team.notice = h.notice
	defer h.c.closeTeam()
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
	work, stop := h.cancelOnSignal(ctx)
	defer stop()
	for i, id := range order {
		if ctx.Err() != nil {
			return errInterrupted
		}
		h.logf(id, "undo %d/%d", i+1, len(order))
		if err := sess.Undo(work, id); err != nil {
			var se *steps.StepError
			if errors.As(err, &se) {
				h.logf(id, "UNDO FAILED: %v", se.Err)
				if ctx.Err() != nil {
					return errInterrupted
				}
				return &exitError{code: exitFailed, err: fmt.Errorf("rollback stopped at %s: %v; the steps before it in the list were undone", id, se.Err)}
			}
			return err
		}
		h.logf(id, "undone")
	}
	h.logf("", "rollback to %s finished", *to)
	return nil
}
