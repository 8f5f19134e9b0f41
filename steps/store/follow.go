package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// followBatch bounds one catch-up query, so a follower joining a long run
// starts delivering before the whole journal is read.
const followBatch = 500

// Follow delivers run's records after sequence after, in order, each
// exactly once: first the backlog, then each new record as the store's
// notification for it arrives (LISTEN on RecordsChannel; the payload only
// names run and sequence, and the records are read with a query). When
// the connection is lost it reconnects, with backoff, and reads again from
// the last record it delivered, so a follower sees no gap and no
// duplicate. The channel is closed when ctx ends. Only the first
// connection's failure is returned; later ones are told to Options.Notice.
func (s *Store) Follow(ctx context.Context, run string, after uint64) (<-chan Record, error) {
	conn, err := s.listenConn(ctx, RecordsChannel)
	if err != nil {
		return nil, err
	}
	// Read once before going to the background, so a role that may not
	// read the run hears it here, as an error, not as a silent follower.
	if _, err := readRecords(ctx, conn, run, after, 1, func(err error) error {
		return s.translate(err, "follow run "+run, false, run, 0, 0)
	}); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	ch := make(chan Record, 64)
	go s.follow(ctx, conn, run, after, ch)
	return ch, nil
}

// listenConn opens a connection of its own that listens on channel.
func (s *Store) listenConn(ctx context.Context, channel string) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.listen.Copy())
	if err != nil {
		return nil, fmt.Errorf("store: connect to follow: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, s.translate(err, "listen on "+channel, false, "", 0, 0)
	}
	return conn, nil
}

func (s *Store) follow(ctx context.Context, conn *pgx.Conn, run string, last uint64, ch chan<- Record) {
	defer close(ch)
	backoff := 50 * time.Millisecond
	for {
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, s.probe)
			var err error
			conn, err = s.listenConn(cctx, RecordsChannel)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.say("follow run %s: %v; trying again in %s", run, err, backoff)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			s.say("follow run %s: connected again; reading from record %d", run, last+1)
			backoff = 50 * time.Millisecond
		}
		err := s.followOn(ctx, conn, run, &last, ch)
		conn.Close(context.WithoutCancel(ctx))
		conn = nil
		if ctx.Err() != nil {
			return
		}
		s.say("follow run %s: connection lost after record %d: %v; reconnecting", run, last, err)
	}
}

// followOn reads the backlog, then waits for notifications, on one
// connection; it returns when the connection fails or ctx ends. LISTEN was
// issued before the first read, so a record stored in between is either
// in that read or announced after it.
//
// A connection can die without a word (a laptop sleeps, a VPN drops): after
// s.idle without a notification the follower reads once more, with a
// deadline, which proves the connection alive or ends it. Notifications
// stay the way records arrive; this read is the check that they still can.
func (s *Store) followOn(ctx context.Context, conn *pgx.Conn, run string, last *uint64, ch chan<- Record) error {
	if err := s.catchUp(ctx, conn, run, last, ch); err != nil {
		return err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, s.idle)
		n, err := conn.WaitForNotification(wctx)
		idle := err != nil && wctx.Err() != nil && ctx.Err() == nil
		cancel()
		if idle {
			if err := s.catchUp(ctx, conn, run, last, ch); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		r, seq, ok := parsePayload(n.Payload)
		if !ok || r != run || seq <= *last {
			continue
		}
		if err := s.catchUp(ctx, conn, run, last, ch); err != nil {
			return err
		}
	}
}

// catchUp delivers every stored record after *last, in order.
func (s *Store) catchUp(ctx context.Context, conn *pgx.Conn, run string, last *uint64, ch chan<- Record) error {
	for {
		qctx, cancel := context.WithTimeout(ctx, s.probe)
		recs, err := readRecords(qctx, conn, run, *last, s.batch, func(err error) error { return err })
		cancel()
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Seq != *last+1 {
				// The store keeps records contiguous; a hole means a
				// record is not visible yet. Its notification follows.
				return nil
			}
			select {
			case ch <- r:
			case <-ctx.Done():
				return ctx.Err()
			}
			*last = r.Seq
		}
		if len(recs) < s.batch {
			return nil
		}
	}
}

// parsePayload splits "run:seq" (a run id may itself hold colons).
func parsePayload(p string) (run string, seq uint64, ok bool) {
	i := strings.LastIndexByte(p, ':')
	if i < 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(p[i+1:], 10, 64)
	return p[:i], seq, err == nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
