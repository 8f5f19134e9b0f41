package store

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeSink is a Sink for the Mirror's unit tests: it can be away, and it
// keeps what it was sent.
type fakeSink struct {
	away  bool
	fatal error
	got   [][]byte
	calls int
}

func (f *fakeSink) Append(_ context.Context, run string, seq uint64, epoch int64, record []byte) (bool, error) {
	f.calls++
	if f.fatal != nil {
		return false, f.fatal
	}
	if f.away {
		return false, errors.New("dial tcp 127.0.0.1:55434: connect: connection refused")
	}
	if seq <= uint64(len(f.got)) {
		return false, nil
	}
	if seq != uint64(len(f.got))+1 {
		return false, &GapError{Run: run, Seq: seq, Last: uint64(len(f.got))}
	}
	f.got = append(f.got, record)
	return true, nil
}

func TestMirrorKeepsABacklogWhileTheStoreIsAway(t *testing.T) {
	clock := time.Date(2026, 10, 24, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Minute); return clock }
	sink := &fakeSink{}
	m := NewMirror(sink, "r", 1, 0, now)
	ctx := context.Background()
	if err := m.Push(ctx, 1, rec(1, "a")); err != nil {
		t.Fatal(err)
	}
	sink.away = true
	var behind *BehindError
	for seq := uint64(2); seq <= 4; seq++ {
		err := m.Push(ctx, seq, rec(seq, "a"))
		if !errors.As(err, &behind) || behind.Pending != int(seq-1) || behind.Since.Format("15:04") != "09:02" {
			t.Fatalf("push %d while away: %v", seq, err)
		}
	}
	if _, n := m.Behind(); n != 3 {
		t.Fatalf("behind by %d, want 3", n)
	}
	if got := behind.Error(); !strings.HasPrefix(got, "not shared since 09:02 (3 events): ") {
		t.Fatalf("message %q", got)
	}
	sink.away = false
	if err := m.Push(ctx, 5, rec(5, "a")); err != nil {
		t.Fatalf("push when back: %v", err)
	}
	if len(sink.got) != 5 {
		t.Fatalf("sink holds %d records, want 5", len(sink.got))
	}
	for i, r := range sink.got {
		if !bytes.Equal(r, rec(uint64(i+1), "a")) {
			t.Fatalf("record %d = %q", i+1, r)
		}
	}
	if _, n := m.Behind(); n != 0 {
		t.Fatalf("still behind by %d", n)
	}
	if err := m.Push(ctx, 7, rec(7, "a")); err == nil {
		t.Fatal("a record pushed out of order was taken")
	}
}

func TestMirrorStopsForGoodOnAFatalError(t *testing.T) {
	fenced := &FencedError{Run: "r", Epoch: 1, Current: &Lease{Holder: "bob", Epoch: 2}}
	sink := &fakeSink{fatal: fenced}
	m := NewMirror(sink, "r", 1, 0, nil)
	ctx := context.Background()
	if err := m.Push(ctx, 1, rec(1, "a")); !errors.Is(err, fenced) {
		t.Fatalf("push to a fenced store: %v", err)
	}
	sink.fatal = nil
	calls := sink.calls
	if err := m.Push(ctx, 2, rec(2, "a")); !errors.Is(err, fenced) {
		t.Fatalf("push after fencing: %v", err)
	}
	if err := m.Flush(ctx); !errors.Is(err, fenced) || sink.calls != calls {
		t.Fatalf("flush after fencing: %v (%d more calls)", err, sink.calls-calls)
	}
}

// The store goes away mid-run: the run goes on locally, the backlog is
// pushed when it returns, and the store's records are byte for byte the
// local journal's.
func TestMirrorPushesTheBacklogWhenTheStoreReturns(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	direct, dsn, _ := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, direct, "run-away")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	s, err := Open(ctx, u.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var local [][]byte // what the local journal holds
	m := NewMirror(s, l.Run, l.Epoch, 0, nil)
	push := func(seq uint64) error {
		r := rec(seq, "text")
		local = append(local, r)
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second) // the driver's bounded wait
		defer cancel()
		return m.Push(pctx, seq, r)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		if err := push(seq); err != nil {
			t.Fatalf("push %d: %v", seq, err)
		}
	}
	proxy.cut()
	var behind *BehindError
	for seq := uint64(6); seq <= 10; seq++ {
		if err := push(seq); !errors.As(err, &behind) {
			t.Fatalf("push %d while the store is away: %v; want a *BehindError", seq, err)
		}
	}
	if _, n := m.Behind(); n != 5 {
		t.Fatalf("behind by %d, want 5", n)
	}
	proxy.restore()
	// The pool may hand out a connection the cut broke before it notices:
	// a few flushes, as the driver's heartbeat would do.
	var ferr error
	for range 10 {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		ferr = m.Flush(fctx)
		cancel()
		if ferr == nil {
			break
		}
	}
	if ferr != nil {
		t.Fatalf("flush after the store returned: %v", ferr)
	}
	if err := push(11); err != nil {
		t.Fatal(err)
	}
	stored, err := direct.Records(ctx, l.Run, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(local) {
		t.Fatalf("store holds %d records, the local journal %d", len(stored), len(local))
	}
	for i := range local {
		if stored[i].Seq != uint64(i+1) || !bytes.Equal(stored[i].Data, local[i]) {
			t.Fatalf("store record %d differs from the local journal's", i+1)
		}
	}
	if last, err := direct.Last(ctx, l.Run); err != nil || last != 11 {
		t.Fatalf("Last = %d, %v", last, err)
	}
}
