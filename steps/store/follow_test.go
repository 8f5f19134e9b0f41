package store

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A follower whose store is unreachable for a while (not just a killed
// backend: new connections are refused too) catches up when it returns.
func TestFollowerCatchesUpAfterAnOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	direct, dsn, _ := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, direct, "run-outage")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.addr
	ns := &notices{}
	s, err := Open(ctx, u.String(), Options{Notice: ns.add})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Follow(fctx, l.Run, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Append(ctx, l.Run, 1, l.Epoch, rec(1, "x")); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.Seq != 1 {
		t.Fatalf("got record %d", r.Seq)
	}
	proxy.cut()
	for seq := uint64(2); seq <= 9; seq++ {
		if _, err := direct.Append(ctx, l.Run, seq, l.Epoch, rec(seq, "x")); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the follower has failed to reconnect at least once, so the
	// outage is real to it, then bring the store back.
	for failed := false; !failed; {
		for _, n := range ns.list() {
			failed = failed || strings.Contains(n, "trying again")
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the follower never tried to reconnect: %q", ns.list())
		case <-time.After(10 * time.Millisecond):
		}
	}
	proxy.restore()
	for want := uint64(2); want <= 9; want++ {
		if r := <-ch; r.Seq != want {
			t.Fatalf("after the outage got record %d, want %d", r.Seq, want)
		}
	}
}

// A follower whose connection goes silent (no reset: the network just
// stops) finds out within its idle check, reconnects when the network is
// back, and delivers what it missed.
func TestFollowerNoticesASilentConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	direct, dsn, _ := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, direct, "run-silent")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.addr
	ns := &notices{}
	s, err := Open(ctx, u.String(), Options{Notice: ns.add})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.idle, s.probe = 100*time.Millisecond, 500*time.Millisecond
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Follow(fctx, l.Run, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Append(ctx, l.Run, 1, l.Epoch, rec(1, "x")); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.Seq != 1 {
		t.Fatalf("got record %d", r.Seq)
	}
	proxy.setPaused(true)
	for seq := uint64(2); seq <= 4; seq++ {
		if _, err := direct.Append(ctx, l.Run, seq, l.Epoch, rec(seq, "x")); err != nil {
			t.Fatal(err)
		}
	}
	for lost := false; !lost; {
		for _, n := range ns.list() {
			lost = lost || strings.Contains(n, "connection lost after record 1")
		}
		select {
		case r := <-ch:
			t.Fatalf("record %d arrived through a silent network", r.Seq)
		case <-ctx.Done():
			t.Fatalf("the follower never noticed its connection went silent: %q", ns.list())
		case <-time.After(10 * time.Millisecond):
		}
	}
	proxy.setPaused(false)
	for want := uint64(2); want <= 4; want++ {
		if r := <-ch; r.Seq != want {
			t.Fatalf("after the network returned got record %d, want %d", r.Seq, want)
		}
	}
}
