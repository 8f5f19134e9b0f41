package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// DBLock is the run lock on a database target: with it, two operators
// working from two state directories (two machines) cannot drive one
// database. The session takes it in Open, before the journal records the
// opening, checks it before and after every step, and takes it again when
// its connection was lost (a restarted or recreated server, a killed
// backend). steps/pg implements it.
type DBLock interface {
	// Target is the database target's name, for messages.
	Target() string
	// Hold takes the lock, or takes it again, with the target's current
	// credentials (env.Targets, and the password files the runbook's
	// actions on the target read, for a password rotated during the run).
	// Another session holding it is a *DBLockHeldError.
	Hold(ctx context.Context, env *Env) error
	// Held reports whether the lock's connection is alive and holds it.
	Held(ctx context.Context) bool
	// Release lets the lock go (closing its connection).
	Release()
}

// DBLockHeldError: another runbook session holds the database's run lock.
type DBLockHeldError struct {
	Target   string
	Endpoint string
	Holder   string // operator, host, pid, since (its application_name)
	PID      int    // the holder's server backend
}

func (e *DBLockHeldError) Error() string {
	return fmt.Sprintf("database %s (target %s) is held by another runbook session: %s (backend pid %d): one operator at a time", e.Endpoint, e.Target, e.Holder, e.PID)
}

// DBLockError: the run lock on the database could not be taken (the
// server is unreachable, or refused every credential known). Open stops
// with it unless Options.AllowNoDBLock.
type DBLockError struct {
	Target string
	Err    error
}

func (e *DBLockError) Error() string {
	return fmt.Sprintf("no run lock on database target %s: %v; start the database, fix its credentials, or go on without the lock (--no-db-lock)", e.Target, e.Err)
}

func (e *DBLockError) Unwrap() error { return e.Err }

// lockEnv is the environment the run lock connects with.
func lockEnv(opt Options) *Env {
	return &Env{Out: io.Discard, Targets: opt.Targets, Redact: opt.Redactor, Workspace: opt.Workspace,
		StateDir: opt.StateDir, Step: "run-lock", Rehearsal: opt.Rehearsal, Clock: opt.Clock}
}

// takeDBLock takes the run lock at Open. A lock held by another session
// stops the opening; a lock that cannot be taken stops it too, unless
// the operator said to go on without (then it says so in Warnings).
func takeDBLock(ctx context.Context, opt Options) (warn string, err error) {
	if opt.DBLock == nil {
		return "", nil
	}
	err = opt.DBLock.Hold(ctx, lockEnv(opt))
	var held *DBLockHeldError
	switch {
	case err == nil:
		return "", nil
	case errors.As(err, &held):
		return "", err
	case opt.AllowNoDBLock:
		return fmt.Sprintf("no run lock on database target %s (%v): going on without it as asked; the state directory's lock still holds", opt.DBLock.Target(), err), nil
	}
	return "", &DBLockError{Target: opt.DBLock.Target(), Err: err}
}

// keepDBLock checks the run lock at a step boundary and takes it again
// when it was lost. Another session holding it stops the step (its error
// is returned); a database that cannot be reached now (a step may have
// stopped or be recreating it) is noted on step id and retried at the next
// boundary.
func (s *Session) keepDBLock(ctx context.Context, id string) error {
	l := s.opt.DBLock
	if l == nil || l.Held(ctx) {
		return nil
	}
	err := l.Hold(ctx, lockEnv(s.opt))
	var held *DBLockHeldError
	switch {
	case err == nil:
		s.dbLockNoted = false
		s.debugf("run lock on database target %s taken again", l.Target())
		return s.record(Event{Kind: EvNote, Step: id, Actor: "runbook", Note: "run lock on database target " + l.Target() + " taken again (its connection had been lost)"})
	case errors.As(err, &held):
		return err
	}
	s.debugf("run lock on database target %s not held: %v", l.Target(), err)
	if s.dbLockNoted {
		return nil
	}
	s.dbLockNoted = true
	return s.record(Event{Kind: EvNote, Step: id, Actor: "runbook", Note: "run lock on database target " + l.Target() + " lost and not taken again yet (" + err.Error() + "); retried at every step"})
}
