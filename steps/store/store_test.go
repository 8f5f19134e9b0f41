package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func rec(seq uint64, text string) []byte {
	return fmt.Appendf(nil, "0badc0de v=1\tseq=%d\tkind=output\ttext=%s", seq, text)
}

func TestMigrateConcurrentlyAndAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	dsn, _ := testDB(t)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	stores := make([]*Store, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, dsn, Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: open: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	c := adminConn(t, dsn)
	var n, max int
	if err := c.QueryRow(ctx, `SELECT count(*), max(version) FROM runbook.schema_version`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || max != ms[len(ms)-1].Version {
		t.Fatalf("schema_version holds %d rows up to %d; want %d up to %d (each migration once)", n, max, len(ms), ms[len(ms)-1].Version)
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	if err := c.QueryRow(ctx, `SELECT count(*) FROM runbook.schema_version`).Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("after migrating again: %d rows (%v)", n, err)
	}
	// A store a newer runbook migrated is refused, not downgraded.
	if _, err := c.Exec(ctx, `INSERT INTO runbook.schema_version (version, name) VALUES ($1, 'future')`, len(ms)+1); err != nil {
		t.Fatal(err)
	}
	if err := stores[0].Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer than this runbook knows") {
		t.Fatalf("migrate a newer store: %v", err)
	}
}

// Two runbook processes opening a new store at once: each migrates or
// finds the work done, and each migration is applied once.
func TestMigrateFromTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	dsn, _ := testDB(t)
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RUNBOOK_STORE_MIGRATE_CHILD="+dsn)
		cmds = append(cmds, cmd)
	}
	outs := make([][]byte, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i], errs[i] = cmd.CombinedOutput() }()
	}
	wg.Wait()
	for i := range cmds {
		if errs[i] != nil || !strings.Contains(string(outs[i]), "migrated by a child process") {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := adminConn(t, dsn).QueryRow(ctxT(t), `SELECT count(DISTINCT version) FROM runbook.schema_version`).Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("schema_version holds %d versions (%v), want %d", n, err, len(ms))
	}
}

// TestMigrateChildProcess is one of TestMigrateFromTwoProcesses's
// processes; on its own it does nothing.
func TestMigrateChildProcess(t *testing.T) {
	dsn := os.Getenv("RUNBOOK_STORE_MIGRATE_CHILD")
	if dsn == "" {
		return
	}
	s, err := Open(ctxT(t), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fmt.Println("migrated by a child process")
}

func TestAppendIdempotentConflictAndGap(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, _, _ := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, s, "run-1")
	for seq := uint64(1); seq <= 3; seq++ {
		added, err := s.Append(ctx, l.Run, seq, l.Epoch, rec(seq, "a"))
		if err != nil || !added {
			t.Fatalf("append %d: added=%v err=%v", seq, added, err)
		}
	}
	// The same record again (a backlog pushed twice) changes nothing.
	added, err := s.Append(ctx, l.Run, 2, l.Epoch, rec(2, "a"))
	if err != nil || added {
		t.Fatalf("append the same record again: added=%v err=%v; want a no-op", added, err)
	}
	// A different record at a known sequence is a conflict.
	_, err = s.Append(ctx, l.Run, 2, l.Epoch, rec(2, "b"))
	var conflict *ConflictError
	if !errors.As(err, &conflict) || conflict.Seq != 2 || conflict.StoredEpoch != l.Epoch {
		t.Fatalf("append a different record at 2: %v; want a *ConflictError at 2, epoch %d", err, l.Epoch)
	}
	// Out of order is a gap.
	_, err = s.Append(ctx, l.Run, 5, l.Epoch, rec(5, "a"))
	var gap *GapError
	if !errors.As(err, &gap) || gap.Last != 3 {
		t.Fatalf("append 5 after 3: %v; want a *GapError naming 3", err)
	}
	got, err := s.Records(ctx, l.Run, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("store holds %d records, want 3", len(got))
	}
	for i, r := range got {
		if r.Seq != uint64(i+1) || string(r.Data) != string(rec(r.Seq, "a")) || r.Epoch != l.Epoch {
			t.Fatalf("record %d = seq %d epoch %d %q", i, r.Seq, r.Epoch, r.Data)
		}
	}
}

func TestFencingAfterTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, dsn, _ := openStore(t)
	ctx := ctxT(t)
	a := newRun(t, s, "run-f")
	if _, err := s.Append(ctx, a.Run, 1, a.Epoch, rec(1, "a")); err != nil {
		t.Fatal(err)
	}
	bob := Holder{Operator: "bob", Host: "laptop-b", PID: 202}
	// Followers wake when the lease changes hands, not on heartbeats.
	leases := adminConn(t, dsn)
	if _, err := leases.Exec(ctx, "LISTEN "+LeasesChannel); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, &a); err != nil {
		t.Fatal(err)
	}

	// A second acquire, and a take-over of a fresh heartbeat, are refused
	// with the holder's name.
	_, err := s.Acquire(ctx, a.Run, bob)
	var held *HeldError
	if !errors.As(err, &held) || held.Lease.Holder != "alice" {
		t.Fatalf("acquire a held lease: %v", err)
	}
	_, _, err = s.TakeOver(ctx, a.Run, bob, TakeOver{StaleAfter: time.Minute})
	if !errors.As(err, &held) || held.Limit != time.Minute || !strings.Contains(err.Error(), "alice on laptop-a") {
		t.Fatalf("take over a live lease: %v", err)
	}
	// Forcing must name the holder.
	_, _, err = s.TakeOver(ctx, a.Run, bob, TakeOver{Force: "mallory"})
	var mismatch *ForceMismatchError
	if !errors.As(err, &mismatch) || mismatch.Lease.Holder != "alice" {
		t.Fatalf("force naming the wrong holder: %v", err)
	}
	// Once the heartbeat is old enough, the take-over is allowed.
	c := adminConn(t, dsn)
	if _, err := c.Exec(ctx, `UPDATE runbook.leases SET heartbeat = now() - interval '2 minutes' WHERE run = $1`, a.Run); err != nil {
		t.Fatal(err)
	}
	b, was, err := s.TakeOver(ctx, a.Run, bob, TakeOver{StaleAfter: time.Minute})
	if err != nil {
		t.Fatalf("take over a stale lease: %v", err)
	}
	if b.Epoch != a.Epoch+1 || b.Holder != "bob" || was.Holder != "alice" || was.Epoch != a.Epoch {
		t.Fatalf("take-over: now %+v, was %+v", b, was)
	}
	if n, err := leases.WaitForNotification(ctx); err != nil || n.Payload != fmt.Sprintf("%s:%d", a.Run, b.Epoch) {
		t.Fatalf("lease notification: %+v %v; want the take-over's (and none for the heartbeat)", n, err)
	}

	// The old driver comes back: each of its writes is refused, naming bob.
	_, err = s.Append(ctx, a.Run, 2, a.Epoch, rec(2, "from alice"))
	var fenced *FencedError
	if !errors.As(err, &fenced) || fenced.Current == nil || fenced.Current.Holder != "bob" || fenced.Current.Epoch != b.Epoch {
		t.Fatalf("append with the old epoch: %v; want a *FencedError naming bob", err)
	}
	if !strings.Contains(err.Error(), "taken over by bob on laptop-b") || !fenced.Current.Since.Equal(b.Since) {
		t.Fatalf("fenced error does not say who took over and when: %v", err)
	}
	// Even a record identical to a stored one is refused: a fenced driver
	// learns it is fenced on its next write, whatever it is.
	if _, err := s.Append(ctx, a.Run, 1, a.Epoch, rec(1, "a")); !errors.As(err, &fenced) {
		t.Fatalf("re-append a stored record with the old epoch: %v", err)
	}
	if err := s.Heartbeat(ctx, &a); !errors.As(err, &fenced) {
		t.Fatalf("heartbeat with the old epoch: %v", err)
	}
	if err := s.SetState(ctx, a, "finished"); !errors.As(err, &fenced) {
		t.Fatalf("set state with the old epoch: %v", err)
	}
	if err := s.Release(ctx, a); !errors.As(err, &fenced) {
		t.Fatalf("release with the old epoch: %v", err)
	}
	// The new driver goes on.
	if _, err := s.Append(ctx, b.Run, 2, b.Epoch, rec(2, "from bob")); err != nil {
		t.Fatalf("append with the new epoch: %v", err)
	}
	if err := s.Heartbeat(ctx, &b); err != nil {
		t.Fatal(err)
	}
	// A forced take-over naming the holder works at once.
	carol := Holder{Operator: "carol", Host: "laptop-c", PID: 303}
	cl, was, err := s.TakeOver(ctx, b.Run, carol, TakeOver{StaleAfter: time.Hour, Force: "bob"})
	if err != nil || cl.Epoch != b.Epoch+1 || was.Holder != "bob" {
		t.Fatalf("forced take-over: %+v %+v %v", cl, was, err)
	}
	// Released leases are taken afresh with a higher epoch; the released
	// epoch stays fenced.
	if err := s.Release(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, cl.Run, 3, cl.Epoch, rec(3, "x")); !errors.As(err, &fenced) || !fenced.Current.Released {
		t.Fatalf("append after release: %v", err)
	}
	d, err := s.Acquire(ctx, cl.Run, bob)
	if err != nil || d.Epoch != cl.Epoch+1 {
		t.Fatalf("acquire a released lease: %+v %v", d, err)
	}
}

// The epoch check and the take-over are serialised by the lease row: a
// driver appending as fast as it can while another forces a take-over
// never gets a record in under its old epoch after the take-over committed.
func TestFencingRacesTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, _, _ := openStore(t)
	ctx := ctxT(t)
	a := newRun(t, s, "run-race")
	var took Lease
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		took, _, err = s.TakeOver(ctx, a.Run, Holder{Operator: "bob", Host: "b", PID: 2}, TakeOver{Force: "alice"})
		if err != nil {
			t.Error(err)
		}
	}()
	var seq uint64
	for seq = 1; ; seq++ {
		_, err := s.Append(ctx, a.Run, seq, a.Epoch, rec(seq, "a"))
		var fenced *FencedError
		if errors.As(err, &fenced) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	// Every record stored under alice's epoch was stored before bob's
	// lease: none after it.
	var late int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM runbook.records WHERE run = $1 AND epoch = $2 AND stored > $3`,
		a.Run, a.Epoch, took.Since).Scan(&late); err != nil {
		t.Fatal(err)
	}
	if late != 0 {
		t.Fatalf("%d records under the old epoch were stored after the take-over", late)
	}
}

func TestFollowerSeesEveryRecordAcrossAKilledConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, dsn, ns := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, s, "run-follow")
	// Records before the follower joins are its backlog.
	for seq := uint64(1); seq <= 5; seq++ {
		if _, err := s.Append(ctx, l.Run, seq, l.Epoch, rec(seq, "backlog")); err != nil {
			t.Fatal(err)
		}
	}
	// A record of another run must not reach this follower.
	other := newRun(t, s, "run-other")
	if _, err := s.Append(ctx, other.Run, 1, other.Epoch, rec(1, "other")); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Follow(fctx, l.Run, 2) // from record 3
	if err != nil {
		t.Fatal(err)
	}
	var got []Record
	recv := func(upTo uint64) {
		t.Helper()
		for len(got) == 0 || got[len(got)-1].Seq < upTo {
			select {
			case r, ok := <-ch:
				if !ok {
					t.Fatalf("follow channel closed after %d records", len(got))
				}
				got = append(got, r)
			case <-ctx.Done():
				t.Fatalf("follower stopped at %d records, waiting for %d", len(got), upTo)
			}
		}
	}
	for seq := uint64(6); seq <= 20; seq++ {
		if _, err := s.Append(ctx, l.Run, seq, l.Epoch, rec(seq, "live")); err != nil {
			t.Fatal(err)
		}
	}
	recv(20)
	// Kill the follower's connection, and store records while it is away.
	c := adminConn(t, dsn)
	var killed int
	if err := c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'runbook follow'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d follow connections, want 1", killed)
	}
	for seq := uint64(21); seq <= 40; seq++ {
		if _, err := s.Append(ctx, l.Run, seq, l.Epoch, rec(seq, "after kill")); err != nil {
			t.Fatal(err)
		}
	}
	recv(40)
	for i, r := range got {
		want := uint64(i + 3)
		if r.Seq != want || r.Run != l.Run {
			t.Fatalf("follower record %d is %s:%d, want %s:%d (in order, no gap, no duplicate)", i, r.Run, r.Seq, l.Run, want)
		}
	}
	if len(got) != 38 {
		t.Fatalf("follower got %d records, want 38", len(got))
	}
	lost := false
	for _, n := range ns.list() {
		lost = lost || strings.Contains(n, "connection lost")
	}
	if !lost {
		t.Fatalf("the follower did not say it lost its connection: %q", ns.list())
	}
	// Nothing more arrives, and the channel closes with the context.
	cancel()
	for r := range ch {
		t.Fatalf("record after the last one: %d", r.Seq)
	}
}

// A follower joining late reads a long backlog in batches, in order.
func TestFollowReadsALongBacklogInBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, _, _ := openStore(t)
	s.batch = 7
	ctx := ctxT(t)
	l := newRun(t, s, "run-long")
	for seq := uint64(1); seq <= 30; seq++ {
		if _, err := s.Append(ctx, l.Run, seq, l.Epoch, rec(seq, "x")); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Follow(fctx, l.Run, 0)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 30; want++ {
		if r := <-ch; r.Seq != want || string(r.Data) != string(rec(want, "x")) {
			t.Fatalf("record %d: got %d", want, r.Seq)
		}
	}
}

func TestApprovals(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, _, _ := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, s, "run-a")
	_, err := s.Approve(ctx, Approval{Run: l.Run, Step: "item3/pgaudit", Approver: "alice", Host: "laptop-a", Reason: "mine"})
	var self *SelfApprovalError
	if !errors.As(err, &self) || !strings.Contains(err.Error(), "alice drives run run-a and cannot approve") {
		t.Fatalf("the driver approves their own step: %v", err)
	}
	added, err := s.Approve(ctx, Approval{Run: l.Run, Step: "item3/pgaudit", Approver: "bob", Host: "laptop-b", Reason: "checked the backup"})
	if err != nil || !added {
		t.Fatalf("bob approves: %v %v", added, err)
	}
	if added, err := s.Approve(ctx, Approval{Run: l.Run, Step: "item3/pgaudit", Approver: "bob", Host: "laptop-b"}); err != nil || added {
		t.Fatalf("bob approves again: added=%v %v; want a no-op", added, err)
	}
	if _, err := s.Approve(ctx, Approval{Run: "no-such-run", Step: "s", Approver: "bob", Host: "b"}); err == nil || !strings.Contains(err.Error(), "run no-such-run is not in the store") {
		t.Fatalf("approve a step of an unknown run: %v", err)
	}
	as, err := s.Approvals(ctx, l.Run, "item3/pgaudit")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Approver != "bob" || as[0].Host != "laptop-b" || as[0].Reason != "checked the backup" || as[0].At.IsZero() {
		t.Fatalf("approvals = %+v", as)
	}
}

// The driver waits for an approval that another operator gives while it
// waits: it wakes on the notification, with the approval in hand.
func TestWaitApprovals(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, _, _ := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, s, "run-w")
	type result struct {
		as  []Approval
		err error
	}
	done := make(chan result, 1)
	waiting := make(chan struct{})
	go func() {
		// Listening starts inside WaitApprovals; an approval given before
		// it listens is found by its first read, one given after wakes it.
		close(waiting)
		as, err := s.WaitApprovals(ctx, l.Run, "item4/rotate", 2)
		done <- result{as, err}
	}()
	<-waiting
	for _, who := range []string{"bob", "carol"} {
		if _, err := s.Approve(ctx, Approval{Run: l.Run, Step: "item4/other", Approver: who, Host: "h"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Approve(ctx, Approval{Run: l.Run, Step: "item4/rotate", Approver: "bob", Host: "laptop-b", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		t.Fatalf("returned with one approval of two: %+v %v", r.as, r.err)
	default:
	}
	if _, err := s.Approve(ctx, Approval{Run: l.Run, Step: "item4/rotate", Approver: "carol", Host: "laptop-c", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || len(r.as) != 2 || r.as[0].Approver != "bob" || r.as[1].Approver != "carol" {
		t.Fatalf("WaitApprovals = %+v, %v", r.as, r.err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.WaitApprovals(cctx, l.Run, "item4/never", 1); err == nil {
		t.Fatal("a cancelled wait returned no error")
	}
}

func TestRunsList(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, _, _ := openStore(t)
	ctx := ctxT(t)
	l := newRun(t, s, "run-live")
	if _, err := s.CreateRun(ctx, "run-rehearsal", "phase1", true); err != nil {
		t.Fatal(err)
	}
	if created, err := s.CreateRun(ctx, "run-live", "phase1", false); err != nil || created {
		t.Fatalf("register a run again: %v %v; want a no-op", created, err)
	}
	if _, err := s.CreateRun(ctx, "run-live", "another", false); err == nil {
		t.Fatal("a run id of another runbook was accepted")
	}
	if _, err := s.Append(ctx, l.Run, 1, l.Epoch, rec(1, "x")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(ctx, l, "finished"); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Run{}
	for _, r := range runs {
		byID[r.ID] = r
	}
	live, reh := byID["run-live"], byID["run-rehearsal"]
	if len(runs) != 2 || live.State != "finished" || live.Rehearsal || live.Last != 1 || live.Lease == nil || live.Lease.Holder != "alice" {
		t.Fatalf("live run listed as %+v (of %d)", live, len(runs))
	}
	if !reh.Rehearsal || reh.State != "running" || reh.Last != 0 || reh.Lease != nil {
		t.Fatalf("rehearsal listed as %+v", reh)
	}
}

func TestRolesReaderFollowsButCannotWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	s, dsn, _ := openStore(t)
	ctx := ctxT(t)
	admin := adminConn(t, dsn)
	if err := InstallRoles(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if err := InstallRoles(ctx, admin); err != nil {
		t.Fatalf("install roles again: %v", err)
	}
	reader, writer, nobody := randName("reader_"), randName("writer_"), randName("nobody_")
	for _, q := range []string{
		"CREATE ROLE " + reader + " LOGIN IN ROLE " + ReaderRole,
		"CREATE ROLE " + writer + " LOGIN IN ROLE " + WriterRole,
		"CREATE ROLE " + nobody + " LOGIN",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), storeDSN(t))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		// After the test database is gone (cleanups run last-in first-out,
		// and this one was registered after it), the roles own nothing.
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+reader)
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+writer)
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+nobody)
	})
	_, db, _ := strings.Cut(strings.TrimPrefix(dsn, "postgres://"), "/")
	db, _, _ = strings.Cut(db, "?")

	// A role with no grant cannot even read, and is told which to ask for.
	var priv *PrivilegeError
	_, err := Open(ctx, dsnWith(t, storeDSN(t), db, nobody), Options{})
	if !errors.As(err, &priv) || !strings.Contains(err.Error(), "role "+nobody+" may not read the store: grant runbook_reader to "+nobody) {
		t.Fatalf("open with no grant: %v", err)
	}

	w, err := Open(ctx, dsnWith(t, storeDSN(t), db, writer), Options{})
	if err != nil {
		t.Fatalf("open as the writer: %v", err)
	}
	defer w.Close()
	if _, err := w.CreateRun(ctx, "run-r", "phase1", false); err != nil {
		t.Fatalf("writer registers a run: %v", err)
	}
	wl, err := w.Acquire(ctx, "run-r", Holder{Operator: "alice", Host: "a", PID: 1})
	if err != nil {
		t.Fatalf("writer takes the lease: %v", err)
	}
	if _, err := w.Append(ctx, "run-r", 1, wl.Epoch, rec(1, "x")); err != nil {
		t.Fatalf("writer appends: %v", err)
	}

	r, err := Open(ctx, dsnWith(t, storeDSN(t), db, reader), Options{})
	if err != nil {
		t.Fatalf("open as the reader: %v", err)
	}
	defer r.Close()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := r.Follow(fctx, "run-r", 0)
	if err != nil {
		t.Fatalf("reader follows: %v", err)
	}
	if got := <-ch; got.Seq != 1 {
		t.Fatalf("reader got record %d", got.Seq)
	}
	if _, err := w.Append(ctx, "run-r", 2, wl.Epoch, rec(2, "x")); err != nil {
		t.Fatal(err)
	}
	if got := <-ch; got.Seq != 2 {
		t.Fatalf("reader got record %d, want 2 (woken by the notification)", got.Seq)
	}
	if runs, err := r.Runs(ctx); err != nil || len(runs) != 1 {
		t.Fatalf("reader lists runs: %v %v", runs, err)
	}

	want := "role " + reader + " may read this run but not drive or approve it: grant runbook_writer to " + reader
	_, err = r.Append(ctx, "run-r", 3, wl.Epoch, rec(3, "x"))
	if !errors.As(err, &priv) || !strings.Contains(err.Error(), want) {
		t.Fatalf("reader appends: %v; want %q", err, want)
	}
	_, err = r.Approve(ctx, Approval{Run: "run-r", Step: "s", Approver: "carol", Host: "c"})
	if !errors.As(err, &priv) || !strings.Contains(err.Error(), want) {
		t.Fatalf("reader approves: %v; want %q", err, want)
	}
	_, err = r.Acquire(ctx, "run-r", Holder{Operator: "carol", Host: "c", PID: 3})
	if !errors.As(err, &priv) {
		t.Fatalf("reader takes the lease: %v", err)
	}
	// The writer may approve (as someone other than the driver).
	if _, err := w.Approve(ctx, Approval{Run: "run-r", Step: "s", Approver: "bob", Host: "b"}); err != nil {
		t.Fatalf("writer approves: %v", err)
	}
	_ = s
}

// TestTakeOverWaitsForTheHoldersLimit: the holder declared how stale its
// heartbeat may grow (it beats at a fraction of that); a take-over with a
// shorter limit of its own waits for the holder's, and the new holder's
// declaration replaces it.
func TestTakeOverWaitsForTheHoldersLimit(t *testing.T) {
	s, dsn, _ := openStore(t)
	ctx := ctxT(t)
	if _, err := s.CreateRun(ctx, "run-limit", "rb", false); err != nil {
		t.Fatal(err)
	}
	alice := Holder{Operator: "alice", Host: "laptop-a", PID: 101, StaleAfter: 5 * time.Minute}
	a, err := s.Acquire(ctx, "run-limit", alice)
	if err != nil {
		t.Fatal(err)
	}
	if a.StaleAfter != 5*time.Minute {
		t.Fatalf("the lease keeps %s as the holder's limit, want 5m", a.StaleAfter)
	}
	age := func(d string) {
		t.Helper()
		if _, err := adminConn(t, dsn).Exec(ctx, `UPDATE runbook.leases SET heartbeat = now() - $2::interval WHERE run = $1`, "run-limit", d); err != nil {
			t.Fatal(err)
		}
	}
	bob := Holder{Operator: "bob", Host: "laptop-b", PID: 202, StaleAfter: time.Minute}
	age("2 minutes")
	_, _, err = s.TakeOver(ctx, "run-limit", bob, TakeOver{StaleAfter: time.Minute})
	var held *HeldError
	if !errors.As(err, &held) || held.Limit != 5*time.Minute || !strings.Contains(err.Error(), "once it is 5m0s old") {
		t.Fatalf("a 1m take-over of a lease whose holder declared 5m, 2m after its heartbeat: %v; want held until 5m", err)
	}
	age("6 minutes")
	b, _, err := s.TakeOver(ctx, "run-limit", bob, TakeOver{StaleAfter: time.Minute})
	if err != nil {
		t.Fatalf("take over past the holder's limit: %v", err)
	}
	if b.Holder != "bob" || b.StaleAfter != time.Minute {
		t.Fatalf("after the take-over: %+v; want bob's lease keeping his 1m", b)
	}
	// A holder that declared nothing (an older driver) leaves the taker's
	// own limit.
	if _, err := adminConn(t, dsn).Exec(ctx, `UPDATE runbook.leases SET stale_after_ms = NULL WHERE run = $1`, "run-limit"); err != nil {
		t.Fatal(err)
	}
	age("2 minutes")
	if _, _, err := s.TakeOver(ctx, "run-limit", alice, TakeOver{StaleAfter: time.Minute}); err != nil {
		t.Fatalf("take over an undeclared lease past the taker's limit: %v", err)
	}
}
