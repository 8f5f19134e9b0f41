// Package store is the shared-run store: a PostgreSQL database of the
// team's own that holds the same journal records as a run's local journal,
// so that other operators can follow the run, approve its steps and take
// it over from another machine.
//
// The store is opt-in and second: the driver writes and fsyncs every record
// to the local journal first, then appends it here, in order. Every rule
// that keeps two drivers apart is enforced by the database itself, in the
// statement that writes (see migrations/): a record carries the lease
// epoch of its writer and a stale epoch is refused (fencing); the same
// record at the same sequence is a no-op; a different one is a conflict.
// Followers wake on LISTEN/NOTIFY and read records with a query.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channels the store notifies on. Payloads are "run:seq" (a record),
// "run:step" (an approval) and "run:epoch" (a lease taken, taken over or
// released; not its heartbeats).
const (
	RecordsChannel   = "runbook_records"
	ApprovalsChannel = "runbook_approvals"
	LeasesChannel    = "runbook_leases"
	NotesChannel     = "runbook_notes"
)

// Sink is what the engine's driver writes through after the local journal
// has made a record durable. Append must be idempotent (the driver pushes
// a backlog again after the store was away) and must refuse a stale epoch
// with a *FencedError, so a driver that was taken over cannot act.
// *Store is the PostgreSQL implementation.
type Sink interface {
	Append(ctx context.Context, run string, seq uint64, epoch int64, record []byte) (added bool, err error)
}

var _ Sink = (*Store)(nil)

// Options tune a store; the zero value is usable.
type Options struct {
	// Notice receives what a follower has to say while it recovers
	// (connection lost, reconnected), from the followers' goroutines: it
	// must be safe to call concurrently. Nil drops them.
	Notice func(string)
	// MaxConns bounds the pool of connections for writes and reads
	// (followers hold one listening connection each on top). Default 4.
	MaxConns int32
}

// Store is an open shared-run store.
type Store struct {
	pool   *pgxpool.Pool
	listen *pgx.ConnConfig // for followers' own connections
	role   string          // current_user, for privilege errors
	notice func(string)
	batch  int           // records per follower read (followBatch; tests lower it)
	idle   time.Duration // a follower checks its connection after this long without news
	probe  time.Duration // bounds a follower's connect and each of its reads
}

// Open connects to the store at dsn and brings its schema up to date
// (creating it on first use). A role that may only read opens a store
// whose schema is current; it cannot create or migrate one.
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse the store's address: %w", err)
	}
	cfg.MaxConns = 4
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "runbook store"
	listen := cfg.ConnConfig.Copy()
	listen.RuntimeParams["application_name"] = "runbook follow"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	s := &Store{pool: pool, listen: listen, notice: opt.Notice, batch: followBatch, idle: 30 * time.Second, probe: 10 * time.Second}
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&s.role); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close ends the store's connections. Followers end with their context.
func (s *Store) Close() { s.pool.Close() }

// Role is the PostgreSQL role the store was opened as.
func (s *Store) Role() string { return s.role }

func (s *Store) say(format string, args ...any) {
	if s.notice != nil {
		s.notice(fmt.Sprintf(format, args...))
	}
}

// Run is one execution of a runbook, as the store lists it.
type Run struct {
	ID        string
	Runbook   string
	Rehearsal bool
	Created   time.Time
	State     string
	Last      uint64 // the last record's sequence (0: none yet)
	Lease     *Lease // nil when nobody ever drove it
}

// CreateRun registers a run (idempotent: registering it again with the
// same runbook is a no-op and reports created=false). A run id registered
// for another runbook is an error.
func (s *Store) CreateRun(ctx context.Context, id, runbook string, rehearsal bool) (created bool, err error) {
	var rb string
	var made bool
	err = s.pool.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO runbook.runs (id, runbook, rehearsal) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING RETURNING runbook)
		SELECT runbook, true FROM ins
		UNION ALL SELECT runbook, false FROM runbook.runs WHERE id = $1
		LIMIT 1`, id, runbook, rehearsal).Scan(&rb, &made)
	if err != nil {
		return false, s.translate(err, "register run "+id, true, id, 0, 0)
	}
	if rb != runbook {
		return false, fmt.Errorf("store: run id %s is already a run of runbook %s, not %s", id, rb, runbook)
	}
	return made, nil
}

// SetState records a run's state (running, finished, rolled back, ...),
// fenced like Append: only the lease holder may change it.
func (s *Store) SetState(ctx context.Context, l Lease, state string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE runbook.runs SET state = $3 WHERE id = $1 AND EXISTS (
			SELECT 1 FROM runbook.leases WHERE run = $1 AND epoch = $2 AND NOT released FOR SHARE)`,
		l.Run, l.Epoch, state)
	if err != nil {
		return s.translate(err, "set the state of run "+l.Run, true, l.Run, 0, l.Epoch)
	}
	if tag.RowsAffected() == 0 {
		return s.fenced(ctx, l.Run, l.Epoch)
	}
	return nil
}

// Runs lists the store's runs, real and rehearsal, newest first.
func (s *Store) Runs(ctx context.Context) ([]Run, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.id, r.runbook, r.rehearsal, r.created, r.state,
		       coalesce((SELECT max(seq) FROM runbook.records WHERE run = r.id), 0),
		       l.holder, l.host, l.pid, l.since, l.heartbeat, l.epoch, l.released
		FROM runbook.runs r LEFT JOIN runbook.leases l ON l.run = r.id
		ORDER BY r.created DESC, r.id`)
	if err != nil {
		return nil, s.translate(err, "list runs", false, "", 0, 0)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var last int64
		var holder, host *string
		var pid *int32
		var since, hb *time.Time
		var epoch *int64
		var released *bool
		if err := rows.Scan(&r.ID, &r.Runbook, &r.Rehearsal, &r.Created, &r.State, &last,
			&holder, &host, &pid, &since, &hb, &epoch, &released); err != nil {
			return nil, fmt.Errorf("store: list runs: %w", err)
		}
		r.Last = uint64(last)
		if epoch != nil {
			r.Lease = &Lease{Run: r.ID, Holder: *holder, Host: *host, PID: int(*pid), Since: *since, Heartbeat: *hb, Epoch: *epoch, Released: *released}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(err, "list runs", false, "", 0, 0)
	}
	return out, nil
}

// isCode reports whether err is a server error with that SQLSTATE.
func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
