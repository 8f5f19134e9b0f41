package pg

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

const lockRunbook = `
id: RBID
title: Run lock
schedule: {date: "2025-10-24", timezone: UTC, start: "08:00"}
targets:
  db: {kind: postgres, env: RUNBOOK_LOCKTEST_DSN_UNUSED}
phases:
  - id: p1
    title: One
    slot: "08:00-09:00"
    steps:
      - id: before
        title: Before the rotation
        budget: 5m
        guide: g.md#g
        do:
          - pg.query: {sql: SELECT 1, value: 1}
      - id: after
        title: After the rotation
        budget: 5m
        guide: g.md#g
        do:
          - pg.query: {password_file: secrets/db_password, sql: SELECT 1, value: 1}
`

func lockTestRunbook(t *testing.T) *runbooks.Runbook {
	t.Helper()
	reg := steps.NewRegistry()
	Register(reg)
	src := strings.Replace(lockRunbook, "RBID", randName("runlock-"), 1)
	rb, err := runbooks.Parse([]byte(src), "lock.yaml", nil, runbooks.LoadOptions{Actions: reg, Guides: fstest.MapFS{"g.md": {Data: []byte("# G\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

// loginRole creates a login role with a password, dropped at the end, and
// returns a DSN for it on the test database.
func loginRole(t *testing.T, dbDSN, password string) (dsn, role string) {
	t.Helper()
	admin := adminConn(t)
	role = randName("rb_lock_")
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, adminDSN(t))
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		c.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
	})
	u, err := url.Parse(dbDSN)
	if err != nil || u.Scheme == "" {
		t.Skipf("RUNBOOK_TEST_PGDSN is not a URL: %v", err)
	}
	u.User = url.UserPassword(role, password)
	return u.String(), role
}

// runLockHolder is the role of the backend holding rb's run lock, or "".
func runLockHolder(t *testing.T, rb *runbooks.Runbook) (role string, pid int) {
	t.Helper()
	_ = adminConn(t).QueryRow(context.Background(), `SELECT a.usename, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = hashtext('runbook-run') AND l.objid::int = hashtext($1)`, rb.ID).Scan(&role, &pid)
	return role, pid
}

func openLocked(t *testing.T, rb *runbooks.Runbook, ws, dsn string, allow bool) (*steps.Session, error) {
	t.Helper()
	sess, err := steps.Open(steps.Options{
		Runbook: rb, StateDir: t.TempDir(), Workspace: ws, Operator: "ana", Host: "h",
		Targets: steps.Targets{"db": dsn}, Redactor: steps.NewRedactor(),
		DBLock: NewRunLock(rb, steps.Targets{"db": dsn}, os.Getenv, "ana on h"), AllowNoDBLock: allow,
	})
	if err == nil {
		t.Cleanup(func() { sess.Close() })
	}
	return sess, err
}

// After the password is rotated (the target still holds the old one, the
// rotated one is in the secret file the runbook's actions read), the lock
// is taken with the new credentials; a second session is refused.
func TestRunLockAfterPasswordRotation(t *testing.T) {
	db, _ := testDB(t)
	dsn, role := loginRole(t, db, "old-pass-1111")
	ws := t.TempDir()
	os.MkdirAll(filepath.Join(ws, "secrets"), 0o700)
	if _, err := adminConn(t).Exec(context.Background(), "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" PASSWORD 'new-pass-2222'"); err != nil {
		t.Fatal(err)
	}
	if err := steps.WriteFileAtomic(filepath.Join(ws, "secrets", "db_password"), []byte("new-pass-2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rb := lockTestRunbook(t)
	if _, err := openLocked(t, rb, ws, dsn, false); err != nil {
		t.Fatalf("open after the rotation: %v", err)
	}
	if got, _ := runLockHolder(t, rb); got != role {
		t.Fatalf("lock held by role %q; want %q (rotated credentials)", got, role)
	}
	_, err := openLocked(t, rb, ws, dsn, false)
	var held *steps.DBLockHeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "ana on h") {
		t.Fatalf("second session: %v; want refused naming the holder", err)
	}
}

// A lock whose server connection was killed is taken again at the next
// step, and the journal says so.
func TestRunLockTakenAgainAfterConnectionKilled(t *testing.T) {
	db, _ := testDB(t)
	rb := lockTestRunbook(t)
	sess, err := openLocked(t, rb, t.TempDir(), db, false)
	if err != nil {
		t.Fatal(err)
	}
	_, pid := runLockHolder(t, rb)
	if pid == 0 {
		t.Fatal("no lock after open")
	}
	if _, err := adminConn(t).Exec(context.Background(), "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := runLockHolder(t, rb); p == pid; _, p = runLockHolder(t, rb) {
		if time.Now().After(deadline) {
			t.Fatal("backend not terminated")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := sess.Start(context.Background(), "before"); err != nil {
		t.Fatal(err)
	}
	_, again := runLockHolder(t, rb)
	if again == 0 || again == pid {
		t.Fatalf("lock not taken again (holder pid %d, killed %d)", again, pid)
	}
	evs, _, err := steps.ReadJournal(sess.JournalFile())
	if err != nil {
		t.Fatal(err)
	}
	noted := false
	for _, ev := range evs {
		noted = noted || (ev.Kind == steps.EvNote && strings.Contains(ev.Note, "run lock on database target db taken again"))
	}
	if !noted {
		t.Fatal("the journal does not say the lock was taken again")
	}
}

// With the target left empty, the PG* environment names the database, and
// the lock is taken there.
func TestRunLockWithPGEnvironmentOnly(t *testing.T) {
	db, _ := testDB(t)
	u, err := url.Parse(db)
	if err != nil || u.Scheme == "" {
		t.Skip("RUNBOOK_TEST_PGDSN is not a URL")
	}
	pw, _ := u.User.Password()
	t.Setenv("PGHOST", u.Hostname())
	t.Setenv("PGPORT", u.Port())
	t.Setenv("PGUSER", u.User.Username())
	t.Setenv("PGPASSWORD", pw)
	t.Setenv("PGDATABASE", strings.TrimPrefix(u.Path, "/"))
	t.Setenv("PGSSLMODE", u.Query().Get("sslmode"))
	rb := lockTestRunbook(t)
	if _, err := openLocked(t, rb, t.TempDir(), "", false); err != nil {
		t.Fatalf("open with PG* only: %v", err)
	}
	if _, pid := runLockHolder(t, rb); pid == 0 {
		t.Fatal("no lock taken with PG* only")
	}
}

// No value and no PG* variable: no database is configured, and no lock
// is asked for.
func TestRunLockNotConfigured(t *testing.T) {
	rb := lockTestRunbook(t)
	none := func(string) string { return "" }
	if l := NewRunLock(rb, steps.Targets{"db": ""}, none, "ana"); l != nil {
		t.Fatal("a lock for a database that is not configured")
	}
	pgUser := func(k string) string {
		if k == "PGUSER" {
			return "app"
		}
		return ""
	}
	if l := NewRunLock(rb, steps.Targets{"db": ""}, pgUser, "ana"); l == nil || l.Target() != "db" {
		t.Fatal("no lock with PG* set")
	}
}

// A run that cannot take the lock stops, unless told to go on without it.
func TestRunLockRefusalWithoutTheFlag(t *testing.T) {
	adminConn(t)
	rb := lockTestRunbook(t)
	const dsn = "postgres://u:pw-not-shown@127.0.0.1:1/x?connect_timeout=2"
	_, err := openLocked(t, rb, t.TempDir(), dsn, false)
	var le *steps.DBLockError
	if !errors.As(err, &le) || strings.Contains(err.Error(), "pw-not-shown") || !strings.Contains(err.Error(), "--no-db-lock") {
		t.Fatalf("open without the lock: %v; want a *DBLockError", err)
	}
	sess, err := openLocked(t, rb, t.TempDir(), dsn, true)
	if err != nil {
		t.Fatalf("open with AllowNoDBLock: %v", err)
	}
	if len(sess.Recovered.Warnings) != 1 || !strings.Contains(sess.Recovered.Warnings[0], "going on without it") {
		t.Fatalf("warnings %q", sess.Recovered.Warnings)
	}
}
