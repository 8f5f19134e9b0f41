package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/store"
	"github.com/runbook-dev/runbook/ui"
)

// followLeaseEvery is how often a follower reads the lease while nothing
// else happens: heartbeats do not notify (only a lease changing hands
// does), and the heartbeat's age is how a dead driver shows.
const followLeaseEvery = 5 * time.Second

func newFollowCmd(ctx context.Context, c *common, t *tuiFlags, io Streams, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "follow",
		Short: "watch a shared run live, read-only, from any machine",
		Long: `follow opens the terminal UI on a run in the shared-run store (--store,
$RUNBOOK_STORE or a profile's store= line), read-only: the runbook's latest
run (a rehearsal's with --rehearsal) or --run ID. The screen moves within a
second of each record the driver writes (the store notifies; nothing polls):
timeline, clocks, guide, what each step did, who drives and how old their
heartbeat is. Keys that would act on the run are refused; a approves the
selected step, n adds a note, q quits.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return followRun(ctx, c, t, io)
		},
	}
	t.register(cmd.Flags(), getenv)
	return cmd
}

func followRun(ctx context.Context, c *common, t *tuiFlags, io Streams) error {
	c.todayByDefault = c.rehearsal
	rb, err := c.loadRunbook()
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	run, err := c.findRun(ctx, st, rb)
	if err != nil {
		return err
	}
	if run.Runbook != rb.ID {
		return usagef("run %s in the store is a run of %q, not %q: name its runbook with -f or --runbook", run.ID, run.Runbook, rb.ID)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fold := steps.NewRunFold("store run " + run.ID)
	start, updates, err := startFollow(fctx, st, run.ID, fold, time.Now)
	if err != nil {
		return err
	}
	if len(start.Events) > 0 {
		if rb, err = c.placeOnRunDay(rb, start.Events[0]); err != nil {
			return err
		}
	}
	acts := ui.FollowActions{
		Approve: followApprove(ctx, st, run.ID, c.operator),
		Note:    followNote(ctx, st, run.ID, c.operator),
	}
	red := steps.NewRedactor()
	targets, _, terr := steps.ResolveTargets(rb, c.targetValues(rb), c.getenv, red)
	env := func(step string) *steps.Env {
		if terr != nil {
			return nil
		}
		return &steps.Env{Targets: targets, Redact: red, Workspace: c.workspace, Step: step, Rehearsal: run.Rehearsal}
	}
	m := ui.New(ui.Options{
		Clock:    steps.SystemClock{},
		Operator: c.operator,
		NoColor:  c.getenv("NO_COLOR") != "",
		NoBell:   t.noBell,
		Mouse:    !t.noMouse,
		Follow: &ui.Follow{
			ID: run.ID, Runbook: rb, Start: start, Updates: updates, Actions: acts, Env: env, StaleAfter: leaseFresh,
		},
	})
	p := tea.NewProgram(m, tea.WithInput(io.In), tea.WithOutput(io.Out))
	_, err = p.Run()
	if errors.Is(err, tea.ErrInterrupted) || ctx.Err() != nil {
		return &exitError{code: exitSignal, err: errors.New("interrupted")}
	}
	return err
}

// followApprove is the follower's approval of a step of run, as operator
// on this host: the store records it, or says which right is missing.
func followApprove(ctx context.Context, st *store.Store, run, operator string) func(step, reason string) error {
	host, _ := os.Hostname()
	return func(step, reason string) error {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		added, err := st.Approve(actx, store.Approval{Run: run, Step: step, Approver: operator, Host: host, Reason: reason})
		if err == nil && !added {
			return errors.New("you approved it already")
		}
		return err
	}
}

// followNote adds a follower's note to run, as operator on this host; the
// driver journals it. A reader role is told which right it lacks.
func followNote(ctx context.Context, st *store.Store, run, operator string) func(step, text string) error {
	host, _ := os.Hostname()
	return func(step, text string) error {
		text = strings.TrimSpace(text)
		if text == "" {
			return errors.New("a note needs text")
		}
		if len(text) > store.MaxNoteLen {
			return fmt.Errorf("a note is at most %d bytes", store.MaxNoteLen)
		}
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := st.AddNote(nctx, store.Note{Run: run, Step: step, By: operator, Host: host, Text: text})
		return err
	}
}

// startFollow reads run's records so far into fold (the first screen) and
// starts following it: every later record, folded, and every change of
// who drives, comes on the channel, which closes when ctx ends or the
// store's feed does. now is the follower's clock (when the lease was read).
func startFollow(ctx context.Context, st *store.Store, run string, fold *steps.RunFold, now func() time.Time) (ui.FollowUpdate, <-chan ui.FollowUpdate, error) {
	var start ui.FollowUpdate
	recs, err := st.Records(ctx, run, fold.Seq(), 0)
	if err != nil {
		return start, nil, err
	}
	for _, r := range recs {
		ev, err := fold.Add(r.Data)
		if err != nil {
			return start, nil, err
		}
		start.Events = append(start.Events, ev)
	}
	start.Run = fold.Snapshot()
	start.Driver, err = readDriver(ctx, st, run, now)
	if err != nil {
		return start, nil, err
	}
	records, err := st.Follow(ctx, run, fold.Seq())
	if err != nil {
		return start, nil, err
	}
	leases, err := st.WatchLeases(ctx, run)
	if err != nil {
		return start, nil, err
	}
	out := make(chan ui.FollowUpdate, 16)
	go feed(ctx, st, run, fold, records, leases, now, out)
	return start, out, nil
}

// feed folds records as they come and sends the snapshots on; it reads
// the lease when it changes hands, with records, and every
// followLeaseEvery.
func feed(ctx context.Context, st *store.Store, run string, fold *steps.RunFold, records <-chan store.Record,
	leases <-chan struct{}, now func() time.Time, out chan<- ui.FollowUpdate) {
	defer close(out)
	send := func(u ui.FollowUpdate) bool {
		select {
		case out <- u:
			return true
		case <-ctx.Done():
			return false
		}
	}
	tick := time.NewTicker(followLeaseEvery)
	defer tick.Stop()
	var leaseRead time.Time
	driver := func() *ui.Driver {
		d, err := readDriver(ctx, st, run, now)
		if err != nil {
			if ctx.Err() == nil {
				send(ui.FollowUpdate{Notice: "cannot read who drives: " + err.Error() + " (trying again)"})
			}
			return nil
		}
		leaseRead = time.Now()
		return d
	}
	for {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-records:
			if !ok {
				return
			}
			var u ui.FollowUpdate
			for {
				ev, err := fold.Add(r.Data)
				if err != nil {
					send(ui.FollowUpdate{Err: err})
					return
				}
				u.Events = append(u.Events, ev)
				more := false
				select { // what has already arrived goes in the same frame
				case r, more = <-records:
				default:
				}
				if !more {
					break
				}
			}
			u.Run = fold.Snapshot()
			if !send(u) {
				return
			}
			// Records mean the driver writes: its heartbeat is read after
			// the records are on their way, at most once a second.
			if time.Since(leaseRead) > time.Second {
				if d := driver(); d != nil && !send(ui.FollowUpdate{Driver: d}) {
					return
				}
			}
		case _, ok := <-leases:
			if !ok {
				leases = nil
				continue
			}
			if d := driver(); d != nil && !send(ui.FollowUpdate{Driver: d}) {
				return
			}
		case <-tick.C:
			if d := driver(); d != nil && !send(ui.FollowUpdate{Driver: d}) {
				return
			}
		}
	}
}

// readDriver reads the run's lease as the UI shows it (nil: nobody ever
// drove it).
func readDriver(ctx context.Context, st *store.Store, run string, now func() time.Time) (*ui.Driver, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, age, err := st.LeaseOf(rctx, run)
	if err != nil || l == nil {
		return nil, err
	}
	return &ui.Driver{Operator: l.Holder, Host: l.Host, PID: l.PID, Since: l.Since, Epoch: l.Epoch, Released: l.Released, Age: age, Read: now()}, nil
}
