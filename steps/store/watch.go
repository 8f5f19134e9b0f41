package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// LeaseOf reads run's lease and how old its heartbeat is, by the
// database's clock (so a follower whose clock is skewed still sees the
// right age). The lease is nil when nobody ever drove the run.
func (s *Store) LeaseOf(ctx context.Context, run string) (*Lease, time.Duration, error) {
	var l Lease
	var pid int32
	var age time.Duration
	err := s.pool.QueryRow(ctx, `
		SELECT run, holder, host, pid, since, heartbeat, epoch, released, now() - heartbeat
		FROM runbook.leases WHERE run = $1`, run).
		Scan(&l.Run, &l.Holder, &l.Host, &pid, &l.Since, &l.Heartbeat, &l.Epoch, &l.Released, &age)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, s.translate(err, "read the lease of run "+run, false, run, 0, 0)
	}
	l.PID = int(pid)
	return &l, max(age, 0), nil
}

// WatchLeases wakes the caller each time run's lease changes hands (taken,
// taken over, released: LeasesChannel; heartbeats do not notify). The
// channel holds at most one wake-up; it is closed when ctx ends. A lost
// connection is replaced with backoff and then wakes the caller once, since
// a change may have been missed while it was away.
func (s *Store) WatchLeases(ctx context.Context, run string) (<-chan struct{}, error) {
	conn, err := s.listenConn(ctx, LeasesChannel)
	if err != nil {
		return nil, err
	}
	ch := make(chan struct{}, 1)
	wake := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(ch)
		backoff := 50 * time.Millisecond
		for {
			if conn == nil {
				cctx, cancel := context.WithTimeout(ctx, s.probe)
				conn, err = s.listenConn(cctx, LeasesChannel)
				cancel()
				if err != nil {
					if !sleep(ctx, backoff) {
						return
					}
					backoff = min(backoff*2, 5*time.Second)
					continue
				}
				backoff = 50 * time.Millisecond
				wake()
			}
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
				if ctx.Err() != nil {
					return
				}
				continue
			}
			if r, _, ok := parsePayload(n.Payload); ok && r == run {
				wake()
			}
		}
	}()
	return ch, nil
}
