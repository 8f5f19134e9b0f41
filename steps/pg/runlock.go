package pg

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// RunLock is a session-level Postgres advisory lock held for a whole run,
// so two operators working from different machines (two state
// directories) cannot drive the same database at once. The file lock in the
// state directory guards one machine; this guards the target.
type RunLock struct {
	conn *pgx.Conn
}

// RunLockHeldError says another runbook session holds the database's run
// lock; Holder is its application_name (operator, host, pid, since).
type RunLockHeldError struct {
	Endpoint string
	Holder   string
	PID      int
}

func (e *RunLockHeldError) Error() string {
	return fmt.Sprintf("database %s is held by another runbook session: %s (backend pid %d): one operator at a time", e.Endpoint, e.Holder, e.PID)
}

// runLockKey is the advisory lock key for a runbook: a fixed class and the
// runbook id, hashed by the server.
const runLockSQL = `SELECT pg_try_advisory_lock(hashtext('runbook-run'), hashtext($1))`

// HoldRunLock connects to the database target and takes the run lock for
// runbook id. holder is shown to whoever is refused (operator, host, pid,
// since). A refused lock is a *RunLockHeldError; an unreachable database is
// an ordinary error (the caller decides whether to go on without it).
func HoldRunLock(ctx context.Context, env *steps.Env, target, runbook, holder string) (*RunLock, error) {
	c := Conn{Target: target}
	cfgEnv := *env
	cfgEnv.Step = "run-lock"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := c.connect(ctx, &cfgEnv)
	if err != nil {
		return nil, err
	}
	if _, err := s.conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", truncate("runbook: "+holder, 63)); err != nil {
		s.close()
		return nil, fmt.Errorf("run lock on %s: %w", s.endpoint, err)
	}
	var got bool
	if err := s.conn.QueryRow(ctx, runLockSQL, runbook).Scan(&got); err != nil {
		s.close()
		return nil, fmt.Errorf("run lock on %s: %w", s.endpoint, err)
	}
	if !got {
		held := &RunLockHeldError{Endpoint: s.endpoint}
		_ = s.conn.QueryRow(ctx, `SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = hashtext('runbook-run') AND l.objid::int = hashtext($1) LIMIT 1`, runbook).Scan(&held.Holder, &held.PID)
		held.Holder = strings.TrimPrefix(held.Holder, "runbook: ")
		s.close()
		return nil, held
	}
	return &RunLock{conn: s.conn}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Release ends the connection, which releases the lock.
func (l *RunLock) Release() {
	if l == nil || l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
	l.conn = nil
}
