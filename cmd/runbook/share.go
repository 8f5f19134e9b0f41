package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/store"
)

// shareFlags are the driver's settings for a shared run (with --store).
type shareFlags struct {
	leaseTimeout time.Duration
	force        string
	// notice receives what the store's goroutines have to say (the
	// store away, back); nil: the UI's header shows it instead.
	notice func(string)
}

func (c *common) registerShare(fs *pflag.FlagSet, getenv func(string) string) {
	def := steps.DefaultLeaseTimeout
	if v, err := time.ParseDuration(getenv("RUNBOOK_LEASE_TIMEOUT")); err == nil && v > 0 {
		def = v
	}
	fs.DurationVar(&c.share.leaseTimeout, "lease-timeout", def, "with --store: how old the driver's heartbeat must be before --take-over may take the run over; the driver renews it every fifth of this, so a team uses one value ($RUNBOOK_LEASE_TIMEOUT)")
	fs.StringVar(&c.share.force, "force-take-over", "", "with --store: take the run over at once from the `HOLDER` it names (the driving operator), however fresh its heartbeat; journaled")
}

// shareOptions is the shared store for a driving session, or nil when no
// store is named (the run stays local).
func (c *common) shareOptions(ctx context.Context) (*steps.Share, error) {
	dsn, _ := c.storeDSN()
	if dsn == "" {
		if c.share.force != "" {
			return nil, usagef("--force-take-over needs a shared-run store (--store, $RUNBOOK_STORE or store= in a profile)")
		}
		return nil, nil
	}
	if c.share.leaseTimeout <= 0 {
		return nil, usagef("--lease-timeout must be more than 0")
	}
	st, err := c.openStore(ctx)
	if err != nil {
		return nil, err
	}
	notice := c.share.notice
	return &steps.Share{
		Store: st, Run: c.runID, LeaseTimeout: c.share.leaseTimeout, Force: c.share.force,
		Notice: func(s string) {
			if notice != nil {
				notice(s)
			}
		},
	}, nil
}

// sharedStore is the PostgreSQL store of a driving session's share.
func sharedStore(sh *steps.Share) (*store.Store, bool) {
	if sh == nil {
		return nil, false
	}
	st, ok := sh.Store.(*store.Store)
	return st, ok
}

// closeShareStore closes the store of a share no session took.
func closeShareStore(sh *steps.Share) {
	if st, ok := sharedStore(sh); ok {
		st.Close()
	}
}

// shareError says what to do about a run another operator drives: exit 3.
func shareError(err error, leaseTimeout time.Duration) error {
	var (
		held  *store.HeldError
		force *store.ForceMismatchError
		fence *store.FencedError
	)
	switch {
	case errors.As(err, &held):
		return &exitError{code: exitLocked, err: fmt.Errorf("%v\n  take it over with --take-over once its heartbeat is %s old (--lease-timeout), or at once with --force-take-over %s",
			held, leaseTimeout, held.Lease.Holder)}
	case errors.As(err, &force):
		return &exitError{code: exitLocked, err: force}
	case errors.As(err, &fence):
		if words := steps.TakenOver(fence); words != "" {
			return &exitError{code: exitLocked, err: errors.New(words)}
		}
		return &exitError{code: exitLocked, err: fence}
	}
	return err
}

// shareFatal is the store's refusal inside err (which may join it with
// the step's own failure).
func shareFatal(err error) error {
	var (
		c *store.ConflictError
		g *store.GapError
		p *store.PrivilegeError
		d *steps.DivergedError
	)
	switch {
	case errors.As(err, &c):
		return c
	case errors.As(err, &g):
		return g
	case errors.As(err, &p):
		return p
	case errors.As(err, &d):
		return d
	}
	return err
}

// closeShared closes the session and says what the store could not take
// (the events stay in the local journal and are pushed on the next open).
func (h *headless) closeShared(sess *steps.Session) {
	if err := sess.Close(); err != nil {
		h.logf("", "warning: %v", err)
	}
}
