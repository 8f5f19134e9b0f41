package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/store"
)

// The shared-run store is chosen, in order, by --store, $RUNBOOK_STORE and
// a profile's store= line. Without one a run is local only, as always.

// storeDSN is the store the command line, environment or profiles name
// (after applyProfiles), and where it came from; "" when none.
func (c *common) storeDSN() (dsn, from string) {
	switch {
	case c.store != "" && c.storeFrom == "": // the flag
		return c.store, "--store"
	case c.getenv("RUNBOOK_STORE") != "":
		return c.getenv("RUNBOOK_STORE"), "$RUNBOOK_STORE"
	case c.store != "":
		return c.store, c.storeFrom
	}
	return "", ""
}

// errNoStore: a command that needs the store was given none.
var errNoStore = usagef("no shared-run store: give --store DSN, set RUNBOOK_STORE, or add store= to a profile (`runbook lab up` writes one for the lab)")

// openStore connects to the store the flags name. An unreachable store
// names what was tried (without its password) and what to do.
func (c *common) openStore(ctx context.Context) (*store.Store, error) {
	dsn, from := c.storeDSN()
	if dsn == "" {
		return nil, errNoStore
	}
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		var pe *store.PrivilegeError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, fmt.Errorf("shared-run store %s (from %s): %w\n  is its PostgreSQL running and reachable? check the address, or run without a store (the run stays local)", safeDSN(dsn), from, err)
	}
	return st, nil
}

// findRun is the store's run the command means: --run ID, else the newest
// run of rb (a rehearsal's when --rehearsal is given, else a real one's).
func (c *common) findRun(ctx context.Context, st *store.Store, rb *runbooks.Runbook) (store.Run, error) {
	runs, err := st.Runs(ctx)
	if err != nil {
		return store.Run{}, err
	}
	if c.runID != "" {
		for _, r := range runs {
			if r.ID == c.runID {
				return r, nil
			}
		}
		return store.Run{}, usagef("no run %q in the store (see `runbook runs`)", c.runID)
	}
	for _, r := range runs { // newest first
		if r.Runbook == rb.ID && r.Rehearsal == c.rehearsal {
			return r, nil
		}
	}
	kind := "real"
	if c.rehearsal {
		kind = "rehearsal"
	}
	return store.Run{}, usagef("the store has no %s run of %s yet (see `runbook runs`)", kind, rb.ID)
}

// safeDSN is dsn without its password, for messages.
func safeDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Redacted()
	}
	// key=value form: hide password=...
	fields := strings.Fields(dsn)
	for i, f := range fields {
		if strings.HasPrefix(strings.ToLower(f), "password=") {
			fields[i] = "password=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}
