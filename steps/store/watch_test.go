package store

import (
	"testing"
	"time"
)

// LeaseOf says who drives and how old the heartbeat is by the store's
// clock; nil for a run nobody drove.
func TestLeaseOf(t *testing.T) {
	s, _, _ := openStore(t)
	ctx := ctxT(t)
	if _, err := s.CreateRun(ctx, "never", "phase1", false); err != nil {
		t.Fatal(err)
	}
	if l, _, err := s.LeaseOf(ctx, "never"); err != nil || l != nil {
		t.Fatalf("a run nobody drove: %+v %v", l, err)
	}
	held := newRun(t, s, "r1")
	l, age, err := s.LeaseOf(ctx, "r1")
	if err != nil || l == nil {
		t.Fatalf("LeaseOf: %+v %v", l, err)
	}
	if l.Holder != "alice" || l.Host != "laptop-a" || l.PID != 101 || l.Epoch != held.Epoch || l.Released {
		t.Errorf("LeaseOf = %+v, want alice's lease epoch %d", l, held.Epoch)
	}
	if age < 0 || age > 5*time.Second {
		t.Errorf("a fresh heartbeat is %s old", age)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE runbook.leases SET heartbeat = now() - interval '42 seconds' WHERE run = 'r1'`); err != nil {
		t.Fatal(err)
	}
	if _, age, _ = s.LeaseOf(ctx, "r1"); age < 42*time.Second || age > 47*time.Second {
		t.Errorf("a heartbeat 42 s old reads as %s", age)
	}
}

// WatchLeases wakes on a lease changing hands (taken over, released), not
// on heartbeats, and only for its run.
func TestWatchLeasesWakesOnHandOver(t *testing.T) {
	s, _, _ := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, s, "r1")
	other := newRun(t, s, "r2")
	ch, err := s.WatchLeases(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("%s woke the watcher", what)
		case <-time.After(300 * time.Millisecond):
		}
	}
	woken := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not wake the watcher", what)
		}
	}
	if err := s.Heartbeat(ctx, &l); err != nil {
		t.Fatal(err)
	}
	quiet("a heartbeat")
	if err := s.Release(ctx, other); err != nil {
		t.Fatal(err)
	}
	quiet("another run's release")
	if _, _, err := s.TakeOver(ctx, "r1", Holder{Operator: "bob", Host: "laptop-b", PID: 202}, TakeOver{Force: "alice"}); err != nil {
		t.Fatal(err)
	}
	woken("a forced take-over")
}
