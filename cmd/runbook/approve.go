package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/store"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// approveOptions are the flags of `runbook approve`.
type approveOptions struct {
	*common
	io     Streams
	reason string
}

func newApproveCmd(ctx context.Context, c *common, io Streams) *cobra.Command {
	opts := &approveOptions{common: c, io: io}
	cmd := &cobra.Command{
		Use:   "approve STEP --reason TEXT",
		Short: "approve a step of a shared run, as --operator from this machine",
		Long: `approve records your approval of a step that needs one (approval: in the
runbook) in the shared-run store (--store, $RUNBOOK_STORE or a profile's
store=), for the run --run names (default: the runbook's latest run). The
driver, waiting on the step, journals who approved, from which host, when
and why, and then starts it. The operator driving the run cannot approve
its own step; a store role that may only read (runbook_reader) cannot
approve (runbook_writer is needed).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return approveRun(ctx, opts, args[0])
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return c.completeIDs(false)
		},
	}
	cmd.Flags().StringVar(&opts.reason, "reason", "", "why you approve (journaled; required when the step says reason: required)")
	return cmd
}

// sharedRunbook reads the runbook for a command that works on the store
// only (no target values needed: it runs nothing).
func (c *common) sharedRunbook() (*runbooks.Runbook, error) {
	if !c.profiled {
		c.profiled = true
		if err := c.applyProfiles(); err != nil {
			return nil, err
		}
	}
	return c.readRunbook()
}

func approveRun(ctx context.Context, opts *approveOptions, stepID string) error {
	rb, err := opts.sharedRunbook()
	if err != nil {
		return err
	}
	msg, err := opts.approveInStore(ctx, rb, stepID, opts.reason)
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.io.Out, msg)
	return nil
}

// approveInStore approves step stepID of the store's run as c.operator
// from this host, and says how it went in one line. The follow view's
// approve key calls it too.
func (c *common) approveInStore(ctx context.Context, rb *runbooks.Runbook, stepID, reason string) (string, error) {
	_, step, ok := rb.Step(stepID)
	if !ok {
		var need []string
		for _, s := range rb.Steps() {
			if s.Approval != nil {
				need = append(need, s.ID)
			}
		}
		hint := "none of its steps needs approval"
		if len(need) > 0 {
			hint = "steps that need approval: " + strings.Join(need, ", ")
		}
		return "", usagef("no step %q in runbook %s (%s)", termsafe.Line(stepID), rb.ID, hint)
	}
	if step.Approval == nil {
		return "", usagef("step %s needs no approval (the runbook gives it no approval:)", stepID)
	}
	reason = strings.TrimSpace(reason)
	if step.Approval.ReasonRequired && reason == "" {
		return "", usagef("step %s requires a reason: runbook approve %s --reason TEXT", stepID, stepID)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := c.openStore(ctx)
	if err != nil {
		if _, ok := errIsPrivilege(err); ok {
			return "", &exitError{code: exitFailed, err: err}
		}
		return "", err
	}
	defer st.Close()
	run, err := c.findRun(ctx, st, rb)
	if err != nil {
		return "", err
	}
	// An approval is asked for before a step starts: once the step has
	// run to an end, one more changes nothing and is refused.
	recs, err := st.Records(ctx, run.ID, 0, 0)
	if err != nil {
		return "", err
	}
	if folded, _, err := steps.FoldJournal("store run "+run.ID, journalBytes(recs)); err == nil {
		if ss := folded.Step(stepID); ss.Status.Done() {
			what := "has already succeeded"
			if ss.Status == steps.Skipped {
				what = "was skipped"
			}
			return "", usagef("step %s of run %s %s at %s: an approval now changes nothing", stepID, run.ID, what, ss.FinishedAt.Local().Format("15:04"))
		}
	}
	host, _ := os.Hostname()
	added, err := st.Approve(ctx, store.Approval{Run: run.ID, Step: stepID, Approver: c.operator, Host: host, Reason: reason})
	var self *store.SelfApprovalError
	switch {
	case errors.As(err, &self):
		return "", &exitError{code: exitFailed, err: fmt.Errorf("%s drives run %s and cannot approve its own step %s: another operator must approve it (from their machine: runbook approve %s --operator NAME)", termsafe.Line(c.operator), run.ID, stepID, stepID)}
	case err != nil:
		if _, ok := errIsPrivilege(err); ok {
			return "", &exitError{code: exitFailed, err: err}
		}
		return "", err
	}
	as, err := st.Approvals(ctx, run.ID, stepID)
	if err != nil {
		return "", err
	}
	if !added {
		return fmt.Sprintf("%s had already approved step %s of run %s (%d of %d)", termsafe.Line(c.operator), stepID, run.ID, len(as), step.Approval.Count), nil
	}
	left := ""
	if n := step.Approval.Count - len(as); n > 0 {
		left = fmt.Sprintf("; %d more needed", n)
	}
	return fmt.Sprintf("approved step %s of run %s as %s from %s (%d of %d%s); the driver journals it before the step starts", stepID, run.ID, termsafe.Line(c.operator), host, min(len(as), step.Approval.Count), step.Approval.Count, left), nil
}

// noteOptions are the flags of `runbook note`.
type noteOptions struct {
	*common
	io   Streams
	step string
}

func newNoteCmd(ctx context.Context, c *common, io Streams) *cobra.Command {
	opts := &noteOptions{common: c, io: io}
	cmd := &cobra.Command{
		Use:   "note TEXT",
		Short: "add a note to a shared run, as --operator from this machine",
		Long: `note adds a follower's note to the store's run (--run, default the
runbook's latest); the driver journals it, naming who wrote it and from
which host. It needs the runbook_writer role.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			rb, err := opts.sharedRunbook()
			if err != nil {
				return err
			}
			msg, err := opts.noteInStore(ctx, rb, opts.step, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(opts.io.Out, msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.step, "step", "", "the step `ID` the note is about (default: the one the run is at)")
	return cmd
}

// noteInStore adds a follower's note to the store's run as c.operator from
// this host. The follow view's note key calls it too.
func (c *common) noteInStore(ctx context.Context, rb *runbooks.Runbook, stepID, text string) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return "", usagef("a note needs text")
	}
	if len(text) > store.MaxNoteLen {
		return "", usagef("a note is at most %d bytes", store.MaxNoteLen)
	}
	if stepID != "" {
		if _, _, ok := rb.Step(stepID); !ok {
			return "", usagef("no step %q in runbook %s", termsafe.Line(stepID), rb.ID)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := c.openStore(ctx)
	if err != nil {
		return "", err
	}
	defer st.Close()
	run, err := c.findRun(ctx, st, rb)
	if err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	if _, err := st.AddNote(ctx, store.Note{Run: run.ID, Step: stepID, By: c.operator, Host: host, Text: text}); err != nil {
		if _, ok := errIsPrivilege(err); ok {
			return "", &exitError{code: exitFailed, err: err}
		}
		return "", err
	}
	return fmt.Sprintf("note added to run %s as %s from %s; the driver journals it", run.ID, termsafe.Line(c.operator), host), nil
}

// approvalsNeeded is how many approvals step id still waits for.
func approvalsNeeded(rb *runbooks.Runbook, id string, st steps.StepState) int {
	_, s, ok := rb.Step(id)
	if !ok || (st.Status != steps.Pending && st.Status != steps.Undone) {
		return 0
	}
	return steps.ApprovalShort(s, st)
}

// printApprovals adds a step's approvals to the status table.
func printApprovals(w io.Writer, s stepStatusJSON) {
	for _, a := range s.Approvals {
		line := fmt.Sprintf("approved by %s on %s %s", a.By, a.Host, steps.ViaText(a.Via))
		if a.Reason != "" {
			line += ": " + a.Reason
		}
		fmt.Fprintf(w, "  └ %s\t\t\t\t\n", termsafe.Line(line))
	}
	if s.ApprovalsNeeded > 0 {
		fmt.Fprintf(w, "  └ waits for %d more approval(s): runbook approve %s --reason ...\t\t\t\t\n", s.ApprovalsNeeded, s.ID)
	}
}
