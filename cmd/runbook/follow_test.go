package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/store"
	"github.com/runbook-dev/runbook/steps/store/storetest"
)

// The tests of the reader side (follow, runs, status/report/plan from the
// store) run against the store cluster RUNBOOK_TEST_STOREDSN names, each
// in a database of its own, dropped at the end.

// followStoreDB creates an empty database on the store cluster and
// returns its DSN.
func followStoreDB(t testing.TB) string {
	dsn, _ := storetest.DB(t, "rb_follow_")
	return dsn
}

// openTestStore opens (and migrates) the store at dsn for the test.
func openTestStore(t testing.TB, dsn string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// rehearsed runs the crash fixture as a headless rehearsal to its end and
// returns its journal's records (lines with their newlines).
func rehearsed(t *testing.T) (crashEnv, [][]byte) {
	t.Helper()
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	if r := runbook(t, nil, e.args("run", "--rehearsal")...); r.code != 0 {
		t.Fatalf("rehearsal: exit %d\n%s%s", r.code, r.out, r.err)
	}
	var recs [][]byte
	for _, l := range bytes.SplitAfter([]byte(e.journal(t)), []byte("\n")) {
		if len(l) > 0 {
			recs = append(recs, l)
		}
	}
	if len(recs) < 10 {
		t.Fatalf("the rehearsal journaled only %d records", len(recs))
	}
	return e, recs
}

// driverLease registers run and takes its lease as ana on laptop-a.
func driverLease(t *testing.T, st *store.Store, run string, rehearsal bool) store.Lease {
	t.Helper()
	ctx := context.Background()
	if _, err := st.CreateRun(ctx, run, "crash-test", rehearsal); err != nil {
		t.Fatal(err)
	}
	l, err := st.Acquire(ctx, run, store.Holder{Operator: "ana", Host: "laptop-a", PID: 4242})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendRecords(t *testing.T, st *store.Store, l store.Lease, from int, recs [][]byte) {
	t.Helper()
	for i, r := range recs {
		// The store keeps the journal's line without its newline, as the
		// driver's mirror sends it.
		if _, err := st.Append(context.Background(), l.Run, uint64(from+i+1), l.Epoch, bytes.TrimSuffix(r, []byte("\n"))); err != nil {
			t.Fatalf("append record %d: %v", from+i+1, err)
		}
	}
}

// status, report and plan --from-journal give, from the store, byte for
// byte what they give from a local journal holding the same records.
func TestStoreReadsMatchTheLocalJournal(t *testing.T) {
	dsn := followStoreDB(t)
	e, recs := rehearsed(t)
	st := openTestStore(t, dsn)
	l := driverLease(t, st, "r-local-vs-store", true)
	appendRecords(t, st, l, 0, recs)
	if err := st.Release(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	// The local side: a state directory holding only the journal.
	local := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(filepath.Join(local, "crash-test"), 0o700)
	if err := os.WriteFile(filepath.Join(local, "crash-test", "journal"), []byte(e.journal(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	base := []string{"-f", e.fixture, "--target", "dir=" + e.work, "--operator", "bo"}
	fromLocal := func(args ...string) result {
		return runbook(t, nil, append(append(args, base...), "--state", local)...)
	}
	fromStore := func(args ...string) result {
		return runbook(t, nil, append(append(args, base...), "--state", empty, "--store", dsn, "--rehearsal")...)
	}
	same := func(what string, a, b result) {
		t.Helper()
		if a.code != 0 || b.code != 0 {
			t.Fatalf("%s: exit %d / %d\n%s\n%s", what, a.code, b.code, a.err, b.err)
		}
		if a.out != b.out {
			t.Errorf("%s differs:\n--- local journal\n%s\n--- store\n%s", what, a.out, b.out)
		}
		if len(a.out) < 100 {
			t.Errorf("%s says too little:\n%s", what, a.out)
		}
	}
	same("status", fromLocal("status"), fromStore("status"))
	same("report", fromLocal("report"), fromStore("report"))
	journal := filepath.Join(local, "crash-test", "journal")
	// plan places the window by the state directory's run, not by the
	// journal it proposes from: both sides have none.
	same("plan --from-journal", runbook(t, nil, append(append([]string{"plan", "--from-journal", journal}, base...), "--state", empty)...),
		fromStore("plan", "--from-journal", filepath.Join(empty, "no-such-journal")))
	// --run names the run even when a local journal exists.
	same("status --run", fromLocal("status"), runbook(t, nil, append(append([]string{"status"}, base...), "--state", local, "--store", dsn, "--run", "r-local-vs-store")...))

	// JSON: the same but for where the records are and who drove them.
	var a, b map[string]any
	ra, rb := fromLocal("status", "--json"), fromStore("status", "--json")
	if err := json.Unmarshal([]byte(ra.out), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(rb.out), &b); err != nil {
		t.Fatal(err)
	}
	if b["journal"] != "store run r-local-vs-store" {
		t.Errorf("status --json from the store names its journal %v", b["journal"])
	}
	lease, _ := b["lease"].(map[string]any)
	if lease["holder"] != "ana" || lease["host"] != "laptop-a" || lease["released"] != true {
		t.Errorf("status --json from the store: lease %v", b["lease"])
	}
	delete(a, "journal")
	delete(b, "journal")
	delete(b, "lease")
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("status --json differs:\n%s\n%s", ja, jb)
	}
}

// A driver whose heartbeat is recent is named by status; a step in flight
// under it is running, not dirty.
func TestStatusFromTheStoreNamesTheDriver(t *testing.T) {
	dsn := followStoreDB(t)
	e, recs := rehearsed(t)
	st := openTestStore(t, dsn)
	l := driverLease(t, st, "r-live", true)
	appendRecords(t, st, l, 0, recs[:2]) // run.started, mark started
	r := runbook(t, nil, "status", "-f", e.fixture, "--state", t.TempDir(), "--store", dsn, "--run", "r-live", "--target", "dir="+e.work)
	if r.code != 0 {
		t.Fatalf("status: exit %d\n%s", r.code, r.err)
	}
	if !strings.Contains(r.out, "driven by ana on laptop-a (pid 4242)") || !regexpMatch(`mark\s+running`, r.out) {
		t.Errorf("status of a live run from the store:\n%s", r.out)
	}
	if strings.Contains(r.out, "DIRTY") {
		t.Errorf("a step under a live driver is shown dirty:\n%s", r.out)
	}
	// A store (say, a profile's) with no real run of the runbook yet and no
	// local journal: not started, as without a store.
	r = runbook(t, nil, "status", "-f", e.fixture, "--state", t.TempDir(), "--store", dsn, "--target", "dir="+e.work)
	if r.code != 0 || !strings.Contains(r.out, "crash-test: not started") {
		t.Errorf("status with a store holding no real run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// Nobody drives any more: the step in flight is dirty, as after a crash.
	if err := st.Release(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	r = runbook(t, nil, "status", "-f", e.fixture, "--state", t.TempDir(), "--store", dsn, "--run", "r-live", "--target", "dir="+e.work)
	if !strings.Contains(r.out, "DIRTY mark") || strings.Contains(r.out, "driven by") {
		t.Errorf("status of a released run with a step in flight:\n%s", r.out)
	}
}

// runs lists real and rehearsal runs, newest first, with who drives.
func TestRunsListsTheStoreRuns(t *testing.T) {
	dsn := followStoreDB(t)
	st := openTestStore(t, dsn)
	ctx := context.Background()
	if _, err := st.CreateRun(ctx, "r-real", "crash-test", false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	l := driverLease(t, st, "r-rehearsal", true)
	appendRecords(t, st, l, 0, [][]byte{[]byte(steps.AppendRecord(nil, steps.Event{Seq: 1, Kind: steps.EvRunStarted, Runbook: "crash-test"}))})
	r := runbook(t, []string{"RUNBOOK_STORE=" + dsn}, "runs", "--state", t.TempDir())
	if r.code != 0 {
		t.Fatalf("runs: exit %d\n%s", r.code, r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "RUN") ||
		!regexpMatch(`^r-rehearsal\s+crash-test\s+rehearsal\s+\S+\s+\S+ \S+\s+1\s+ana@laptop-a\s+\d+s ago$`, lines[1]) ||
		!regexpMatch(`^r-real\s+crash-test\s+real\s+.*\s0\s+-\s+-$`, lines[2]) {
		t.Errorf("runs:\n%s", r.out)
	}
	r = runbook(t, nil, "runs", "--json", "--store", dsn, "--state", t.TempDir())
	var runs []runJSON
	if err := json.Unmarshal([]byte(r.out), &runs); err != nil || len(runs) != 2 {
		t.Fatalf("runs --json: %v\n%s%s", err, r.out, r.err)
	}
	if runs[0].ID != "r-rehearsal" || !runs[0].Rehearsal || runs[0].Last != 1 || runs[0].Lease == nil || runs[0].Lease.Holder != "ana" || runs[0].Lease.Epoch != l.Epoch {
		t.Errorf("runs --json, first: %+v %+v", runs[0], runs[0].Lease)
	}
	if runs[1].ID != "r-real" || runs[1].Rehearsal || runs[1].Lease != nil {
		t.Errorf("runs --json, second: %+v", runs[1])
	}
	// Without a store, runs says how to name one.
	r = runbook(t, []string{"RUNBOOK_STORE="}, "runs", "--state", t.TempDir())
	if r.code != exitUsage || !strings.Contains(r.err, "no shared-run store") {
		t.Errorf("runs without a store: exit %d\n%s", r.code, r.err)
	}
}

// follow, in a pseudo-terminal, shows each record the driver writes, in
// order, as it is written; keys that would act are refused naming the
// driver; its final screen is the driver's final status.
func TestFollowShowsEachRecordInOrder(t *testing.T) {
	dsn := followStoreDB(t)
	e, recs := rehearsed(t)
	driverStatus := e.status(t)
	st := openTestStore(t, dsn)
	l := driverLease(t, st, "r-follow", true)
	appendRecords(t, st, l, 0, recs[:1])
	r := newUIRun(t, 120, 40, "follow", "-f", e.fixture, "--state", t.TempDir(), "--store", dsn, "--rehearsal",
		"--target", "dir="+e.work, "--operator", "bo")
	r.waitScreen("the first frame", "FOLLOWING read-only", "ana on laptop-a (pid 4242) drives", "1 records", "Crash and resume test")
	r.keys("Enter")
	r.waitScreen("enter refused", "follow mode: read-only — ana on laptop-a drives")
	r.keys("x")
	r.waitScreen("x refused", "follow mode: read-only — ana on laptop-a drives")
	fold := steps.NewRunFold("journal")
	if _, err := fold.Add(recs[0]); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(recs); i++ {
		ev, err := fold.Add(recs[i])
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		appendRecords(t, st, l, i, recs[i:i+1])
		want := []string{"#" + itoa(i+1) + " "}
		if ev.Step != "" {
			want = append(want, ev.Step)
		}
		want = append(want, itoa(i+1)+" records")
		r.waitScreen("record "+itoa(i+1)+" ("+ev.Kind.String()+")", want...)
	}
	scr := r.waitScreen("the end of the run", "run finished", "Timeline · 3/3 done")
	if driverStatus.Done != 3 || driverStatus.Total != 3 || !driverStatus.Finished {
		t.Fatalf("driver's status: %+v", driverStatus)
	}
	for _, s := range []string{"Append to the marker", "A step after the crash", "A manual step"} {
		if !regexpMatch(`✓ `+s, scr) {
			t.Errorf("step %q is not shown succeeded:\n%s", s, scr)
		}
	}
	// The lease changing hands shows at once (LISTEN on the leases channel).
	if err := st.Release(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	r.waitScreen("the released lease", "nobody drives (ana released it)")
	r.keys("q")
	if code := r.exitCode("q"); code != "0" {
		t.Errorf("follow exited %s", code)
	}
}

func regexpMatch(pattern, s string) bool {
	return regexp.MustCompile(`(?m)` + pattern).MatchString(s)
}

func itoa(n int) string { return strconv.Itoa(n) }

// A login in runbook_reader can list runs, read status from the store and
// follow, but its approval is refused naming the grant it lacks.
func TestFollowAsReaderRole(t *testing.T) {
	b := make([]byte, 4)
	rand.Read(b)
	reader := "rb_reader_" + hex.EncodeToString(b)
	t.Cleanup(func() { // after the database is dropped (cleanups run last first)
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, os.Getenv("RUNBOOK_TEST_STOREDSN")); err == nil {
			c.Exec(ctx, "DROP ROLE IF EXISTS "+reader)
			c.Close(ctx)
		}
	})
	dsn := followStoreDB(t)
	e, recs := rehearsed(t)
	st := openTestStore(t, dsn)
	l := driverLease(t, st, "r-read", true)
	appendRecords(t, st, l, 0, recs)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if err := store.InstallRoles(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE ROLE "+reader+" LOGIN IN ROLE "+store.ReaderRole); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dsn)
	u.User = url.User(reader)
	rdsn := u.String()

	if r := runbook(t, nil, "runs", "--store", rdsn, "--state", t.TempDir()); r.code != 0 || !strings.Contains(r.out, "r-read") {
		t.Errorf("runs as a reader: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if r := runbook(t, nil, "status", "-f", e.fixture, "--state", t.TempDir(), "--store", rdsn, "--run", "r-read", "--target", "dir="+e.work); r.code != 0 || !strings.Contains(r.out, "finished, 3/3 steps done") {
		t.Errorf("status as a reader: exit %d\n%s%s", r.code, r.out, r.err)
	}
	rs := openTestStore(t, rdsn)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start, updates, err := startFollow(fctx, rs, "r-read", steps.NewRunFold("store run r-read"), time.Now)
	if err != nil {
		t.Fatalf("follow as a reader: %v", err)
	}
	if start.Run == nil || !start.Run.Finished || len(start.Events) != len(recs) || start.Driver == nil || start.Driver.Operator != "ana" {
		t.Fatalf("follow as a reader starts with %d events, driver %+v", len(start.Events), start.Driver)
	}
	// A lease changing hands reaches the reader's feed at once.
	if err := st.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-updates:
		if u.Driver == nil || !u.Driver.Released {
			t.Errorf("after the release the feed says %+v", u)
		}
	case <-time.After(followLeaseEvery - time.Second):
		t.Error("the release did not reach the follower before its periodic read")
	}
	err = followApprove(ctx, rs, "r-read", "bo")("after", "fine")
	var pe *store.PrivilegeError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "grant runbook_writer to "+reader) {
		t.Errorf("a reader's approval: %v", err)
	}
	// A writer who is not the driver may approve; twice is said so.
	approve := followApprove(ctx, st, "r-read", "bo")
	if err := approve("after", "fine"); err != nil {
		t.Errorf("approval: %v", err)
	}
	if err := approve("after", "fine"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("a second approval: %v", err)
	}
}
