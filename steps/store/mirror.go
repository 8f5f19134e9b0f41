package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Mirror keeps a Sink in step with a run's local journal. The driver
// calls Push with each record right after the local journal has fsynced
// it: Mirror appends it, and every record before it that the sink does
// not have yet, in order. When the sink cannot be reached the records wait
// in a backlog (the run goes on locally; Behind says since when and how
// many), and the next Push or Flush sends them. A conflict, a fencing, a
// gap or a missing grant is not the store being away: it is kept and
// returned from then on, and the driver must stop.
type Mirror struct {
	sink  Sink
	run   string
	epoch int64
	now   func() time.Time

	send sync.Mutex // one sender at a time, so records go in order

	mu      sync.Mutex // guards what follows; never held across the network
	pending []pendingRecord
	next    uint64 // the sequence Push expects
	fatal   error
}

type pendingRecord struct {
	seq  uint64
	data []byte
	at   time.Time // when it was pushed (durable locally)
}

// BehindError says the store could not take the records yet: they are in
// the local journal and in the backlog, and will be pushed when it is back.
type BehindError struct {
	Since   time.Time // when the oldest unshared record was pushed
	Pending int
	Err     error // the last failure
}

func (e *BehindError) Error() string {
	return fmt.Sprintf("not shared since %s (%d events): %v", e.Since.Format("15:04"), e.Pending, e.Err)
}

func (e *BehindError) Unwrap() error { return e.Err }

// NewMirror mirrors run's journal to sink under lease epoch. last is the
// last sequence the sink already holds (Store.Last, after a take-over or
// a restart); the next Push must carry last+1. now is the clock (nil:
// time.Now).
func NewMirror(sink Sink, run string, epoch int64, last uint64, now func() time.Time) *Mirror {
	if now == nil {
		now = time.Now
	}
	return &Mirror{sink: sink, run: run, epoch: epoch, next: last + 1, now: now}
}

// Push queues record seq (already durable locally) and sends the backlog
// within ctx: the driver gives it a bounded wait. It returns nil when
// everything is in the store, a *BehindError when the store is away (go on
// locally), or the fatal error that stops the run.
func (m *Mirror) Push(ctx context.Context, seq uint64, record []byte) error {
	m.mu.Lock()
	if m.fatal != nil {
		m.mu.Unlock()
		return m.fatal
	}
	if seq != m.next {
		m.mu.Unlock()
		return fmt.Errorf("store: run %s: record %d pushed where record %d is next", m.run, seq, m.next)
	}
	m.pending = append(m.pending, pendingRecord{seq: seq, data: append([]byte(nil), record...), at: m.now()})
	m.next++
	m.mu.Unlock()
	return m.Flush(ctx)
}

// Flush sends the backlog, if any (call it while Behind says so, e.g. with
// the lease heartbeat). Its results are Push's.
func (m *Mirror) Flush(ctx context.Context) error {
	m.send.Lock()
	defer m.send.Unlock()
	for {
		m.mu.Lock()
		if m.fatal != nil {
			m.mu.Unlock()
			return m.fatal
		}
		if len(m.pending) == 0 {
			m.mu.Unlock()
			return nil
		}
		p := m.pending[0]
		m.mu.Unlock()
		_, err := m.sink.Append(ctx, m.run, p.seq, m.epoch, p.data)
		m.mu.Lock()
		if err != nil {
			defer m.mu.Unlock()
			if isFatal(err) {
				m.fatal = err
				return err
			}
			return &BehindError{Since: m.pending[0].at, Pending: len(m.pending), Err: err}
		}
		m.pending[0] = pendingRecord{}
		m.pending = m.pending[1:]
		m.mu.Unlock()
	}
}

// Behind reports the backlog: how many records wait and since when the
// oldest has (n == 0: the store has everything). It never waits for the
// network.
func (m *Mirror) Behind() (since time.Time, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return time.Time{}, 0
	}
	return m.pending[0].at, len(m.pending)
}

// isFatal: errors a retry cannot fix (the rest are the store being away).
func isFatal(err error) bool {
	var (
		c *ConflictError
		f *FencedError
		g *GapError
		p *PrivilegeError
	)
	return errors.As(err, &c) || errors.As(err, &f) || errors.As(err, &g) || errors.As(err, &p)
}

// Last is the last sequence the store holds for run (0: none), where a
// driver that takes over or restarts starts mirroring from.
func (s *Store) Last(ctx context.Context, run string) (uint64, error) {
	var last int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM runbook.records WHERE run = $1`, run).Scan(&last); err != nil {
		return 0, s.translate(err, "read the last record of run "+run, false, run, 0, 0)
	}
	return uint64(last), nil
}
