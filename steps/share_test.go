package steps

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/store"
	"github.com/runbook-dev/runbook/steps/store/storetest"
)

// The session's shared-store tests run against the store cluster
// RUNBOOK_TEST_STOREDSN names, each in a database of its own.

func shareTestDSN(tb testing.TB) string {
	dsn, _ := storetest.DB(tb, "rb_steps_")
	return dsn
}

func openTestStore(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st
}

// shareOn makes the harness's sessions write to the store at dsn (each
// with a store connection of its own, closed with the session).
func (h *harness) shareOn(dsn string, timeout time.Duration) {
	h.opt.Share = &Share{Store: openTestStore(h.t, dsn), LeaseTimeout: timeout, Wait: 2 * time.Second}
}

func storeBytes(t *testing.T, st *store.Store, run string) []byte {
	t.Helper()
	recs, err := st.Records(context.Background(), run, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r.Data)
	}
	return b.Bytes()
}

// TestShareJoinCopiesTheStoresRecords: a machine with an empty state
// directory joins the run from the store: its journal begins with the
// store's records byte for byte, and what it records goes back.
func TestShareJoinCopiesTheStoresRecords(t *testing.T) {
	dsn := shareTestDSN(t)
	h := newHarness(t)
	h.shareOn(dsn, time.Second)
	s := h.open()
	if err := s.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	run := s.ShareStatus().Run
	if want := RunID(h.rb.ID, t0, false); run != want {
		t.Fatalf("run id %q, want %q", run, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	first := h.journalBytes()
	st := openTestStore(t, dsn)
	if got := storeBytes(t, st, run); !bytes.Equal(got, first) {
		t.Fatalf("store after close:\n%s\nlocal:\n%s", got, first)
	}

	// Another machine: another state directory, empty.
	h2 := newHarness(t)
	h2.opt.Operator, h2.opt.Host = "bo", "laptop-b"
	h2.shareOn(dsn, time.Second)
	s2 := h2.open()
	if s2.ShareStatus().Run != run {
		t.Fatalf("joined %q, want %q", s2.ShareStatus().Run, run)
	}
	if got := s2.Snapshot().Step("auto").Status; got != Succeeded {
		t.Fatalf("the joined run's step is %s", got)
	}
	if err := s2.Note("auto", "seen from b"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	second := h2.journalBytes()
	if !bytes.HasPrefix(second, first) {
		t.Fatalf("the joining journal does not begin with the store's records")
	}
	if got := storeBytes(t, st, run); !bytes.Equal(got, second) {
		t.Fatalf("store and the joining journal differ")
	}
	if !strings.Contains(string(second), "by=bo\tnote=seen from b\thost=laptop-b") {
		t.Fatalf("the note does not name its machine:\n%s", second)
	}
}

// TestShareDivergedJournalIsRefused: a local journal whose record differs
// from the store's at the same sequence stops the opening; the store is
// not written.
func TestShareDivergedJournalIsRefused(t *testing.T) {
	dsn := shareTestDSN(t)
	h := newHarness(t)
	h.shareOn(dsn, time.Second)
	s := h.open()
	if err := s.Note("auto", "one"); err != nil {
		t.Fatal(err)
	}
	run := s.ShareStatus().Run
	s.Close()
	st := openTestStore(t, dsn)
	before := storeBytes(t, st, run)

	// The same run's first record, then a record of its own.
	recs := bytes.SplitAfter(h.journalBytes(), []byte("\n"))
	h2 := newHarness(t)
	os.MkdirAll(filepath.Dir(h2.journalPath()), 0o700)
	if err := os.WriteFile(h2.journalPath(), recs[0], 0o600); err != nil {
		t.Fatal(err)
	}
	local := h2.open()
	if err := local.Note("auto", "another"); err != nil {
		t.Fatal(err)
	}
	local.Close()
	h2.shareOn(dsn, time.Second)
	_, err := Open(h2.opt)
	var d *DivergedError
	if !errors.As(err, &d) || d.Seq != 2 || !IsShareFatal(err) {
		t.Fatalf("open over a diverged journal: %v", err)
	}
	if got := storeBytes(t, st, run); !bytes.Equal(got, before) {
		t.Fatal("the diverged opening wrote to the store")
	}
}

// TestShareFencedWhileIdle: a driver that is taken over learns it from
// its heartbeat, with no step running: its snapshot says who took over
// and it writes nothing more, not even locally.
func TestShareFencedWhileIdle(t *testing.T) {
	dsn := shareTestDSN(t)
	h := newHarness(t)
	h.shareOn(dsn, 500*time.Millisecond)
	s := h.open()
	run := s.ShareStatus().Run
	st := openTestStore(t, dsn)
	if _, _, err := st.TakeOver(context.Background(), run, store.Holder{Operator: "bo", Host: "laptop-b", PID: 7}, store.TakeOver{Force: "ana"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Snapshot().Share.Stopped == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.Snapshot().Share.String(); !strings.Contains(got, "taken over by bo on laptop-b") {
		t.Fatalf("snapshot after the take-over: %q", got)
	}
	local := h.journalBytes()
	err := s.Note("auto", "too late")
	if !strings.Contains(TakenOver(err), "taken over by bo on laptop-b") {
		t.Fatalf("write after the take-over: %v", err)
	}
	if !bytes.Equal(h.journalBytes(), local) {
		t.Fatal("the fenced session wrote to its local journal")
	}
	if err := s.Start(context.Background(), "auto"); err == nil {
		t.Fatal("the fenced session started a step")
	}
	if n := len(h.world.ran()); n != 0 {
		t.Fatalf("the fenced session ran %d actions", n)
	}
}

// TestShareStatusWords: what the header shows.
func TestShareStatusWords(t *testing.T) {
	at := time.Date(2026, 1, 2, 14, 5, 0, 0, time.Local)
	for _, tc := range []struct {
		st   ShareStatus
		want string
	}{
		{ShareStatus{}, ""},
		{ShareStatus{Run: "r"}, ""},
		{ShareStatus{Run: "r", Behind: 3, Since: at}, "not shared since 14:05 (3 events)"},
		{ShareStatus{Run: "r", Behind: 3, Since: at, Stopped: "taken over by bo"}, "taken over by bo"},
	} {
		if got := tc.st.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.st, got, tc.want)
		}
	}
	if got := RunID("phase1", time.Date(2026, 12, 1, 8, 39, 19, 123456789, time.FixedZone("x", 3600)), true); got != "phase1-20261201T073919.123Z-rehearsal" {
		t.Errorf("RunID: %q", got)
	}
}
