package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Holder names who drives: the operator (recorded, not authenticated),
// the machine and the process.
type Holder struct {
	Operator string
	Host     string
	PID      int
	// StaleAfter is how old this holder's heartbeat must be before another
	// may take its lease over (it beats at a fraction of it); kept with
	// the lease, so a take-over waits for the longer of it and its own.
	// Zero: not declared.
	StaleAfter time.Duration
}

// staleMS is h.StaleAfter as the lease row keeps it (NULL when zero).
func (h Holder) staleMS() *int64 {
	if h.StaleAfter <= 0 {
		return nil
	}
	ms := max(h.StaleAfter.Milliseconds(), 1)
	return &ms
}

// Lease is the right to drive one run. Every write carries its Epoch; the
// store refuses an epoch that is not the lease's current one. Times are
// the database's clock, so machines with skewed clocks agree on them.
type Lease struct {
	Run       string
	Holder    string
	Host      string
	PID       int
	Since     time.Time
	Heartbeat time.Time
	Epoch     int64
	Released  bool
	// StaleAfter is what the holder declared (Holder.StaleAfter); zero
	// when it did not.
	StaleAfter time.Duration
}

const leaseCols = `holder, host, pid, since, heartbeat, epoch, released, stale_after_ms`

func scanLease(row pgx.Row, run string, more ...any) (Lease, error) {
	l := Lease{Run: run}
	var ms *int64
	err := row.Scan(append([]any{&l.Holder, &l.Host, &l.PID, &l.Since, &l.Heartbeat, &l.Epoch, &l.Released, &ms}, more...)...)
	if ms != nil {
		l.StaleAfter = time.Duration(*ms) * time.Millisecond
	}
	return l, err
}

// Acquire takes a run's lease afresh: allowed when nobody holds it (never
// held, or released); the epoch goes up by one. A held lease is a
// *HeldError naming its holder.
func (s *Store) Acquire(ctx context.Context, run string, h Holder) (Lease, error) {
	l, err := scanLease(s.pool.QueryRow(ctx, `
		INSERT INTO runbook.leases AS l (run, holder, host, pid, epoch, stale_after_ms) VALUES ($1, $2, $3, $4, 1, $5)
		ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid,
			since = now(), heartbeat = now(), epoch = l.epoch + 1, released = false, stale_after_ms = excluded.stale_after_ms
		WHERE l.released
		RETURNING `+leaseCols, run, h.Operator, h.Host, h.PID, h.staleMS()), run)
	if errors.Is(err, pgx.ErrNoRows) {
		cur, age, err := s.currentLease(ctx, run)
		if err != nil {
			return Lease{}, err
		}
		return Lease{}, &HeldError{Run: run, Lease: cur, Age: age}
	}
	if err != nil {
		return Lease{}, s.translate(err, "take the lease of run "+run, true, run, 0, 0)
	}
	return l, nil
}

// currentLease reads a run's lease and its heartbeat's age (for messages).
func (s *Store) currentLease(ctx context.Context, run string) (Lease, time.Duration, error) {
	var age float64
	l, err := scanLease(s.pool.QueryRow(ctx, `SELECT `+leaseCols+`, extract(epoch FROM now() - heartbeat)::float8
		FROM runbook.leases WHERE run = $1`, run), run, &age)
	if err != nil {
		return Lease{}, 0, s.translate(err, "read the lease of run "+run, false, run, 0, 0)
	}
	return l, time.Duration(age * float64(time.Second)), nil
}

// fenced builds the *FencedError for a refused write (after the refusal,
// for the message only: the refusal itself was the database's).
func (s *Store) fenced(ctx context.Context, run string, epoch int64) error {
	cur, _, err := s.currentLease(ctx, run)
	if errors.Is(err, pgx.ErrNoRows) {
		return &FencedError{Run: run, Epoch: epoch}
	}
	if err != nil {
		return err
	}
	return &FencedError{Run: run, Epoch: epoch, Current: &cur}
}

// Heartbeat renews the lease. A lease taken over or released is a
// *FencedError naming who holds it now.
func (s *Store) Heartbeat(ctx context.Context, l *Lease) error {
	err := s.pool.QueryRow(ctx, `UPDATE runbook.leases SET heartbeat = now()
		WHERE run = $1 AND epoch = $2 AND NOT released RETURNING heartbeat`, l.Run, l.Epoch).Scan(&l.Heartbeat)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.fenced(ctx, l.Run, l.Epoch)
	}
	if err != nil {
		return s.translate(err, "renew the lease of run "+l.Run, true, l.Run, 0, l.Epoch)
	}
	return nil
}

// Release gives the lease up (the run is finished or handed over on
// purpose). The epoch stays: whoever takes the run next gets a higher one.
func (s *Store) Release(ctx context.Context, l Lease) error {
	tag, err := s.pool.Exec(ctx, `UPDATE runbook.leases SET released = true
		WHERE run = $1 AND epoch = $2 AND NOT released`, l.Run, l.Epoch)
	if err != nil {
		return s.translate(err, "release the lease of run "+l.Run, true, l.Run, 0, l.Epoch)
	}
	if tag.RowsAffected() == 0 {
		return s.fenced(ctx, l.Run, l.Epoch)
	}
	return nil
}

// TakeOver says when a take-over is allowed.
type TakeOver struct {
	// StaleAfter: the holder's heartbeat must be at least this old.
	StaleAfter time.Duration
	// Force, when not empty, takes the lease at once; it must name the
	// current holder (the operator), so nobody is displaced by mistake.
	Force string
}

// TakeOver gives the run's lease to h with the next epoch, from a holder
// whose heartbeat is older than opt.StaleAfter, or at once when opt.Force
// names the holder. It returns the new lease and the one it replaced (for
// the journal: who was displaced, and how stale they were). A released or
// missing lease is simply taken.
func (s *Store) TakeOver(ctx context.Context, run string, h Holder, opt TakeOver) (now, was Lease, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var age float64
		was, err = scanLease(tx.QueryRow(ctx, `SELECT `+leaseCols+`, extract(epoch FROM now() - heartbeat)::float8
			FROM runbook.leases WHERE run = $1 FOR UPDATE`, run), run, &age)
		if errors.Is(err, pgx.ErrNoRows) {
			was = Lease{}
			now, err = scanLease(tx.QueryRow(ctx, `INSERT INTO runbook.leases (run, holder, host, pid, epoch, stale_after_ms)
				VALUES ($1, $2, $3, $4, 1, $5) RETURNING `+leaseCols, run, h.Operator, h.Host, h.PID, h.staleMS()), run)
			return err
		}
		if err != nil {
			return err
		}
		stale := time.Duration(age * float64(time.Second))
		// The holder beats at a fraction of the limit it declared: a
		// shorter limit here must not take a lease that is alive.
		limit := opt.StaleAfter
		if limit > 0 {
			limit = max(limit, was.StaleAfter)
		}
		switch {
		case was.Released:
		case opt.Force != "":
			if opt.Force != was.Holder {
				return &ForceMismatchError{Run: run, Named: opt.Force, Lease: was}
			}
		case limit <= 0 || stale < limit:
			return &HeldError{Run: run, Lease: was, Age: stale, Limit: limit}
		}
		now, err = scanLease(tx.QueryRow(ctx, `UPDATE runbook.leases SET holder = $2, host = $3, pid = $4,
				since = clock_timestamp(), heartbeat = clock_timestamp(), epoch = epoch + 1, released = false, stale_after_ms = $5
			WHERE run = $1 RETURNING `+leaseCols, run, h.Operator, h.Host, h.PID, h.staleMS()), run)
		return err
	})
	if err != nil {
		var held *HeldError
		var force *ForceMismatchError
		if errors.As(err, &held) || errors.As(err, &force) {
			return Lease{}, Lease{}, err
		}
		return Lease{}, Lease{}, s.translate(err, "take over run "+run, true, run, 0, 0)
	}
	return now, was, nil
}

// String is the lease as one line for a header or a journal note.
func (l Lease) String() string {
	if l.Released {
		return fmt.Sprintf("released (epoch %d)", l.Epoch)
	}
	return fmt.Sprintf("%s on %s (pid %d) since %s, epoch %d", l.Holder, l.Host, l.PID, l.Since.UTC().Format(time.RFC3339), l.Epoch)
}
