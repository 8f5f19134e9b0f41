package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// RunLock is a session-level Postgres advisory lock held for a whole run,
// so two operators working from different machines (two state
// directories) cannot drive the same database at once. The file lock in the
// state directory guards one machine; this guards the target. It
// implements steps.DBLock: the session takes it at open and takes it again
// when its connection is lost.
type RunLock struct {
	runbook string
	target  string
	holder  string
	// files are the password files the runbook's actions on the target
	// read (latest first): after a rotation the target's own password is
	// refused, and the lock connects with the rotated one.
	files []string
	mu    sync.Mutex
	conn  *pgx.Conn
}

// RunLockHeldError says another runbook session holds the database's run
// lock.
type RunLockHeldError = steps.DBLockHeldError

// runLockSQL takes the advisory lock for a runbook: a fixed class and the
// runbook id, hashed by the server.
const runLockSQL = `SELECT pg_try_advisory_lock(hashtext('runbook-run'), hashtext($1))`

// NewRunLock is the run lock of runbook rb on its database target (the
// first postgres target), or nil when rb has none or the database is not
// configured at all: the target has no value and no PG* variable is set
// (getenv reads the environment). holder is shown to whoever is refused
// (operator, host, pid, since).
func NewRunLock(rb *runbooks.Runbook, targets steps.Targets, getenv func(string) string, holder string) *RunLock {
	for _, t := range rb.Targets {
		if t.Kind != runbooks.TargetPostgres {
			continue
		}
		if targets[t.Name] == "" && !pgEnvSet(getenv) {
			return nil
		}
		l := &RunLock{runbook: rb.ID, target: t.Name, holder: holder}
		seen := map[string]bool{}
		all := rb.Steps()
		for i := len(all) - 1; i >= 0; i-- {
			for _, list := range [][]runbooks.Action{all[i].Undo, all[i].Verify, all[i].Do} {
				for _, a := range list {
					c, ok := a.Params.(interface{ conn() *Conn })
					if !ok {
						continue
					}
					if cc := c.conn(); cc.target() == t.Name && cc.PasswordFile != "" && !seen[cc.PasswordFile] {
						seen[cc.PasswordFile] = true
						l.files = append(l.files, cc.PasswordFile)
					}
				}
			}
		}
		return l
	}
	return nil
}

func (c *Conn) conn() *Conn { return c }

// pgEnvSet: a PG* variable names a database for an empty target.
func pgEnvSet(getenv func(string) string) bool {
	for _, k := range []string{"PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGPASSWORD"} {
		if getenv(k) != "" {
			return true
		}
	}
	return false
}

// Target implements steps.DBLock.
func (l *RunLock) Target() string { return l.target }

// Hold implements steps.DBLock: it connects with the target's value (or
// the PG* environment when the target is empty) and, when that password is
// refused, with each password file the runbook reads for the target, then
// takes the lock. A lock already held by this RunLock is let go first.
func (l *RunLock) Hold(ctx context.Context, env *steps.Env) error {
	l.Release()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	env2 := *env
	env2.Step = "run-lock"
	s, err := (&Conn{Target: l.target}).connect(ctx, &env2)
	for _, f := range l.files {
		if err == nil || !authRefused(err) {
			break
		}
		var ferr error
		s, ferr = (&Conn{Target: l.target, PasswordFile: f}).connect(ctx, &env2)
		if ferr == nil {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if _, err := s.conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", truncate("runbook: "+l.holder, 63)); err != nil {
		s.close()
		return fmt.Errorf("run lock on %s: %w", s.endpoint, err)
	}
	var got bool
	if err := s.conn.QueryRow(ctx, runLockSQL, l.runbook).Scan(&got); err != nil {
		s.close()
		return fmt.Errorf("run lock on %s: %w", s.endpoint, err)
	}
	if !got {
		held := &RunLockHeldError{Target: l.target, Endpoint: s.endpoint}
		_ = s.conn.QueryRow(ctx, `SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = hashtext('runbook-run') AND l.objid::int = hashtext($1) LIMIT 1`, l.runbook).Scan(&held.Holder, &held.PID)
		held.Holder = strings.TrimPrefix(held.Holder, "runbook: ")
		s.close()
		return held
	}
	l.mu.Lock()
	l.conn = s.conn
	l.mu.Unlock()
	return nil
}

// authRefused: the server refused the password (or the user).
func authRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000")
}

// Held implements steps.DBLock: the lock's connection answers.
func (l *RunLock) Held(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return l.conn.Ping(ctx) == nil
}

// HoldRunLock connects to the database target and takes the run lock for
// runbook id (a RunLock with no password files). A refused lock is a
// *RunLockHeldError; an unreachable database is an ordinary error.
func HoldRunLock(ctx context.Context, env *steps.Env, target, runbook, holder string) (*RunLock, error) {
	l := &RunLock{runbook: runbook, target: target, holder: holder}
	if err := l.Hold(ctx, env); err != nil {
		return nil, err
	}
	return l, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Release ends the connection, which releases the lock.
func (l *RunLock) Release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
	l.conn = nil
}
