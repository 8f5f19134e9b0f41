package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/store"
)

// status, report and plan --from-journal read a run from the shared store
// instead of the local journal when a store is named and either --run is
// given or there is no local journal to read. The store holds the local
// journal's own records, so the fold, and every figure after it, is the
// one the local journal gives.

// leaseFresh is how recent a lease's heartbeat must be for its holder to
// count as driving (as a held local lock does): a step in flight under a
// live driver is running, under a silent one it is dirty.
const leaseFresh = 30 * time.Second

// storeRead is a run read from the store.
type storeRead struct {
	run   store.Run
	data  []byte // the records, as a journal file holds them
	first steps.Event
	age   time.Duration // the lease heartbeat's age (store clock)
	lease *store.Lease
}

// name is how messages name the run's records.
func (r *storeRead) name() string { return "store run " + r.run.ID }

// held: the lease is held by a driver whose heartbeat is recent.
func (r *storeRead) held() bool {
	return r.lease != nil && !r.lease.Released && r.age < leaseFresh
}

// fromStore says whether the run is read from the store: a store is named
// and --run is given or local is missing.
func (c *common) fromStore(local string) bool {
	if dsn, _ := c.storeDSN(); dsn == "" {
		return false
	}
	if c.runID != "" {
		return true
	}
	_, err := os.Stat(local)
	return errors.Is(err, os.ErrNotExist)
}

// pinStoreRun names the run a command works on when it comes from the
// store (see fromStore) and the flags named none: the store's newest run
// of rb, the one status and report read. A store with no run of rb names
// nothing.
func (c *common) pinStoreRun(ctx context.Context, rb *runbooks.Runbook) error {
	if c.runID != "" || !c.fromStore(steps.JournalPath(c.stateDir, rb.ID)) {
		return nil
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	run, err := c.findRun(ctx, st, rb)
	var ue *usageError
	if errors.As(err, &ue) {
		return nil
	}
	if err != nil {
		return err
	}
	c.runID = run.ID
	return nil
}

// readStore reads the run of rb the flags name from the store: its
// records, its first event and its lease. Without --run, a store that has
// no run of rb yet is nil and no error: the (absent) local journal says
// "not started".
func (c *common) readStore(ctx context.Context, rb *runbooks.Runbook) (*storeRead, error) {
	st, err := c.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	run, err := c.findRun(ctx, st, rb)
	var ue *usageError
	if err != nil && c.runID == "" && errors.As(err, &ue) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if run.Runbook != rb.ID {
		return nil, usagef("run %s in the store is a run of %q, not %q: name its runbook with -f or --runbook", run.ID, run.Runbook, rb.ID)
	}
	recs, err := st.Records(ctx, run.ID, 0, 0)
	if err != nil {
		return nil, err
	}
	out := &storeRead{run: run}
	out.data = journalBytes(recs)
	if len(recs) > 0 {
		fold := steps.NewRunFold(out.name())
		if out.first, err = fold.Add(recs[0].Data); err != nil {
			return nil, err
		}
	}
	if out.lease, out.age, err = st.LeaseOf(ctx, run.ID); err != nil {
		return nil, err
	}
	return out, nil
}

// journalBytes is records as the journal file that holds them.
func journalBytes(recs []store.Record) []byte {
	n := 0
	for _, r := range recs {
		n += len(r.Data) + 1
	}
	buf := make([]byte, 0, n)
	for _, r := range recs {
		buf = append(buf, r.Data...)
		if !bytes.HasSuffix(r.Data, []byte("\n")) {
			buf = append(buf, '\n')
		}
	}
	return buf
}

// placeOnRunDay moves rb to the day the store's run started on (a run
// keeps its day), as placeOnDay does for a local journal.
func (c *common) placeOnRunDay(rb *runbooks.Runbook, first steps.Event) (*runbooks.Runbook, error) {
	if first.Kind != steps.EvRunStarted || first.Date == "" {
		return rb, nil
	}
	if c.date != "" && c.day.Date != first.Date {
		return nil, usagef("--date %s: the run in the store started on %s and keeps that day (leave --date out)", c.day.Date, first.Date)
	}
	if c.day.Date == first.Date {
		if c.date == "" {
			c.day.From, c.day.Undecided = "the run", false
		}
		return rb, nil
	}
	moved, err := rb.OnDate(first.Date)
	if err != nil {
		return nil, usagef("the run's day: %v", err)
	}
	c.day.Date, c.day.From, c.day.Undecided = first.Date, "the run", false
	return moved, nil
}

// foldStore folds what readStore read and settles it as status and report
// do for a local journal (a step in flight under a silent driver is dirty).
func foldStore(rb *runbooks.Runbook, r *storeRead) (*steps.Run, *steps.TornTail, error) {
	run, torn, err := steps.FoldJournal(r.name(), r.data)
	if err != nil {
		return nil, nil, err
	}
	return steps.Settle(rb, run, r.held()), torn, nil
}

// readRunFor is the run status and report show: the local journal's, or
// the store's (see fromStore). rb may be moved to the run's day.
func (c *common) readRunFor(ctx context.Context, rb *runbooks.Runbook) (*runbooks.Runbook, *steps.Run, *steps.TornTail, error) {
	if !c.fromStore(steps.JournalPath(c.stateDir, rb.ID)) {
		run, torn, _, _, err := readRunAsFound(rb, c.stateDir, true)
		return rb, run, torn, err
	}
	r, err := c.readStore(ctx, rb)
	if err != nil {
		return nil, nil, nil, err
	}
	if r == nil {
		run, torn, _, _, err := readRunAsFound(rb, c.stateDir, true)
		return rb, run, torn, err
	}
	if rb, err = c.placeOnRunDay(rb, r.first); err != nil {
		return nil, nil, nil, err
	}
	run, torn, err := foldStore(rb, r)
	return rb, run, torn, err
}

// leaseJSON is who drives a run in the store.
type leaseJSON struct {
	Holder              string    `json:"holder"`
	Host                string    `json:"host"`
	PID                 int       `json:"pid"`
	Since               time.Time `json:"since"`
	Heartbeat           time.Time `json:"heartbeat"`
	HeartbeatAgeSeconds int64     `json:"heartbeat_age_seconds"`
	Epoch               int64     `json:"epoch"`
	Released            bool      `json:"released"`
}

func leaseOf(l *store.Lease, age time.Duration) *leaseJSON {
	if l == nil {
		return nil
	}
	return &leaseJSON{Holder: l.Holder, Host: l.Host, PID: l.PID, Since: l.Since, Heartbeat: l.Heartbeat,
		HeartbeatAgeSeconds: secs(age), Epoch: l.Epoch, Released: l.Released}
}

// readStatusFor is status's reading: the local journal's, or the store's.
func (opts *statusOptions) readStatusFor(ctx context.Context, rb *runbooks.Runbook) (statusJSON, error) {
	if !opts.fromStore(steps.JournalPath(opts.stateDir, rb.ID)) {
		return readStatus(rb, opts.stateDir, opts.day, opts.now(), opts.asJSON)
	}
	r, err := opts.readStore(ctx, rb)
	if err != nil {
		return statusJSON{}, err
	}
	if r == nil {
		return readStatus(rb, opts.stateDir, opts.day, opts.now(), opts.asJSON)
	}
	if rb, err = opts.placeOnRunDay(rb, r.first); err != nil {
		return statusJSON{}, err
	}
	run, torn, err := foldStore(rb, r)
	if err != nil {
		return statusJSON{}, err
	}
	st := buildStatus(rb, run, torn, steps.LockInfo{}, false, r.name(), opts.day, opts.now())
	st.Lease = leaseOf(r.lease, r.age)
	return st, nil
}

// leaseLine is who drives, for status's text (nothing once released).
func leaseLine(l *leaseJSON) string {
	if l == nil || l.Released {
		return ""
	}
	age := time.Duration(l.HeartbeatAgeSeconds) * time.Second
	s := fmt.Sprintf("driven by %s on %s (pid %d) since %s, heartbeat %s ago", l.Holder, l.Host, l.PID,
		l.Since.UTC().Format("2006-01-02 15:04Z"), steps.FormatSeconds(age))
	if age >= leaseFresh {
		s += ": the driver may be gone (take over with --take-over)"
	}
	return s
}

// readFromJournal is plan --from-journal's run: the file's, or the store's
// run when a store is named and --run is given or the file does not exist.
func (opts *planOptions) readFromJournal(rb *runbooks.Runbook) (*steps.Run, *steps.TornTail, error) {
	if !opts.fromStore(opts.fromJournal) {
		return steps.ReadRun(opts.fromJournal)
	}
	r, err := opts.readStore(opts.ctx(), rb)
	if err != nil {
		return nil, nil, err
	}
	if r == nil {
		return steps.ReadRun(opts.fromJournal)
	}
	return steps.FoldJournal(r.name(), r.data)
}

// ctx is the command's context (a background one outside cobra).
func (c *common) ctx() context.Context {
	if c.cmd != nil && c.cmd.Context() != nil {
		return c.cmd.Context()
	}
	return context.Background()
}
