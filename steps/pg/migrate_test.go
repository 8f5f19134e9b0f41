package pg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps/steptest"
)

func migrationsDir(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "migrations", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// versionRow reads the version table directly.
func versionRow(t *testing.T, dsn string) (int64, bool, string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v int64
	var dirty bool
	var m string
	if err := c.QueryRow(ctx, "SELECT version, dirty, migration FROM runbook_schema_version").Scan(&v, &dirty, &m); err != nil {
		t.Fatal(err)
	}
	return v, dirty, m
}

func TestMigrateUpRevertToDown(t *testing.T) {
	t.Parallel()
	dsn, db := testDB(t)
	env, out := testEnv(t, dsn)
	env.Workspace = filepath.Join(migrationsDir(t, "."), "..")
	ep := endpointOf(t, dsn)
	dir := "migrations/ok" // relative to the workspace

	up := &Migrate{Dir: dir}
	schema := []*Query{
		{SQL: "SELECT count(*) FROM notes WHERE body = 'seeded'", Value: uint64(1)},
		{SQL: "SELECT to_regclass('notes_body_idx') IS NOT NULL", Value: true},
		{SQL: "SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes' AND column_name = 'sealed'", Value: uint64(1)},
	}
	ext := &Extension{Name: "pgcrypto"}
	gone := &Query{SQL: "SELECT to_regclass('notes') IS NULL", Value: true}

	mustRun(t, env, up)
	want := "connected to " + ep + `
schema at version 0; migrating up to 4 (4 migration(s))
▲ 0001_create_notes.up.sql (in a transaction)
  now at version 1
▲ 0002_pgcrypto.up.sql (in a transaction)
  now at version 2
▲ 0003_body_index.up.sql (no transaction)
  now at version 3
▲ 0004_seed.up.sql (in a transaction)
  now at version 4
`
	if out.String() != want {
		t.Errorf("up output:\n%s\nwant:\n%s", out, want)
	}
	for _, q := range schema {
		mustRun(t, env, q)
	}
	mustRun(t, env, ext)
	if v, dirty, m := versionRow(t, dsn); v != 4 || dirty || m != "0004_seed.up.sql" {
		t.Errorf("version row = %d, %t, %q", v, dirty, m)
	}
	// Up again: nothing to do, and the saved starting point stays 0.
	out.Reset()
	mustRun(t, env, up)
	contains(t, "second up", out.String(), "schema is at version 4: nothing to do")

	revert := &Migrate{Dir: dir, Revert: true}
	out.Reset()
	mustRun(t, env, revert)
	contains(t, "revert", out.String(), "migrating down to 0 (4 migration(s))", "▼ 0004_seed.down.sql", "▼ 0003_body_index.down.sql (no transaction)", "▼ 0001_create_notes.down.sql")
	mustRun(t, env, gone)
	err := mustFail(t, env, ext, "")
	contains(t, "extension after revert", err.Error(), "extension pgcrypto: expected installed in database "+db+", found not installed (the server offers version ")
	for _, q := range schema {
		mustFail(t, env, q, "")
	}
	// The revert consumed what the do saved: a second revert does nothing.
	out.Reset()
	mustRun(t, env, revert)
	contains(t, "second revert", out.String(), "no version saved by this step's do")

	mustRun(t, env, &Migrate{Dir: dir, To: pI64(2)})
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('notes_body_idx') IS NULL", Value: true})
	mustRun(t, env, ext)
	mustRun(t, env, &Migrate{Dir: dir, Down: 1})
	if v, _, _ := versionRow(t, dsn); v != 1 {
		t.Errorf("after down 1: version %d, want 1", v)
	}
	mustFail(t, env, &Migrate{Dir: dir, Down: 2}, "down 2: only 1 migration(s) are applied (version 1)")
	mustFail(t, env, &Migrate{Dir: dir, To: pI64(7)}, "version 7 is not one of the migrations in migrations/ok (newest is 4)")
	mustRun(t, env, &Migrate{Dir: dir, To: pI64(0)})
	mustRun(t, env, gone)
}

func TestMigrateEmbedded(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, _ := testEnv(t, dsn)
	emb := os.DirFS(filepath.Join("testdata", "migrations"))
	mustRun(t, env, &Migrate{Embedded: "ok", embedded: emb, Table: "public.my_versions"})
	mustRun(t, env, &Query{SQL: "SELECT version, dirty FROM public.my_versions", Expect: [][]any{{uint64(4), false}}})
	mustRun(t, env, &Migrate{Embedded: "ok", embedded: emb, Table: "public.my_versions", Revert: true})
	mustRun(t, env, &Query{SQL: "SELECT version FROM public.my_versions", Value: uint64(0)})
	mustFail(t, env, &Migrate{Embedded: "ok"}, "embedded migrations ok: this build has no embedded files for pg actions; use dir: with a directory in the workspace")
}

func TestMigrateFailureInTransactionRollsBack(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, _ := testEnv(t, dsn)
	ep := endpointOf(t, dsn)
	m := &Migrate{Dir: migrationsDir(t, "broken_tx")}
	mustFail(t, env, m, `migration 0002_half.up.sql failed at statement 2 (line 2) on `+ep+`: ERROR: relation "no_such_table" does not exist (SQLSTATE 42P01) at line 2, column 13: INSERT INTO no_such_table VALUES (1);; it was rolled back: the schema is still at version 1, not dirty. Fix the migration and run again`)
	if v, dirty, _ := versionRow(t, dsn); v != 1 || dirty {
		t.Errorf("version row = %d dirty %t, want 1, clean", v, dirty)
	}
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('half_done') IS NULL", Value: true})
	// The revert undoes what did apply (migration 1).
	mustRun(t, env, &Migrate{Dir: m.Dir, Revert: true})
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('notes') IS NULL", Value: true})
}

func TestMigrateDirtyRefusesUntilForced(t *testing.T) {
	t.Parallel()
	dsn, db := testDB(t)
	env, _ := testEnv(t, dsn)
	ep := endpointOf(t, dsn)
	dir := migrationsDir(t, "broken_notx")
	m := &Migrate{Dir: dir}
	mustFail(t, env, m, `migration 0002_half.up.sql (no transaction) failed at statement 2 of 2 (line 3) on `+ep+`: ERROR: relation "no_such_table" does not exist (SQLSTATE 42P01) at line 3, column 13: INSERT INTO no_such_table VALUES (1);; 1 statement(s) before it stay applied and the database is marked dirty at version 1. Check what it changed, repair by hand, then run pg.migrate with force: VERSION (the version the schema now matches)`)
	v, dirty, mig := versionRow(t, dsn)
	if v != 1 || !dirty || mig != "0002_half.up.sql" {
		t.Fatalf("version row = %d, %t, %q; want 1, dirty, 0002_half.up.sql", v, dirty, mig)
	}
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('half_done') IS NOT NULL", Value: true})

	// Every run, up or down, is refused while dirty.
	for _, again := range []*Migrate{{Dir: dir}, {Dir: dir, Revert: true}, {Dir: dir, To: pI64(0)}} {
		err := mustFail(t, env, again, "")
		contains(t, "dirty refusal", err.Error(), "database "+db+" is dirty: migration 0002_half.up.sql started at ", "says version 1, dirty", "then record the version the schema now matches with pg.migrate force: VERSION and run again")
	}
	// The operator repairs by hand and records the version.
	mustRun(t, env, &Exec{SQL: "DROP TABLE half_done"})
	mustFail(t, env, &Migrate{Dir: dir, Force: pI64(9)}, "version 9 is not one of the migrations here (0001_create_notes to 0002_half)")
	mustRun(t, env, &Migrate{Dir: dir, Force: pI64(1)})
	if v, dirty, _ := versionRow(t, dsn); v != 1 || dirty {
		t.Errorf("after force: %d dirty %t", v, dirty)
	}
	mustRun(t, env, &Migrate{Dir: dir, Revert: true})
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('notes') IS NULL", Value: true})
}

func TestMigrateIrreversible(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, _ := testEnv(t, dsn)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"1_a.up.sql":   "CREATE TABLE a (id int);",
		"1_a.down.sql": "DROP TABLE a;",
		"2_b.up.sql":   "CREATE TABLE b (id int);",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, env, &Migrate{Dir: dir})
	mustFail(t, env, &Migrate{Dir: dir, Revert: true}, "migration 2_b has no down file (2_b.down.sql), so it cannot be rolled back automatically: nothing was rolled back")
	if v, dirty, _ := versionRow(t, dsn); v != 2 || dirty {
		t.Errorf("version row = %d dirty %t, want 2 clean", v, dirty)
	}
}

func TestMigrateLockContention(t *testing.T) {
	t.Parallel()
	dsn, db := testDB(t)
	env, out := testEnv(t, dsn)
	dir := migrationsDir(t, "ok")
	ctx := context.Background()

	// Another session holds the migration lock of this database's version
	// table, as a migrator in the middle of its work does.
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = "other-migrator"
	holder, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	key := lockKey(pgx.Identifier{"public", "runbook_schema_version"}.Sanitize())
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	pid := holder.PgConn().PID()
	wantHolder := fmt.Sprintf("held by pid %d (other-migrator, user %s, from 127.0.0.1, connected since ", pid, cfg.User)

	err = mustFail(t, env, &Migrate{Dir: dir, LockWait: "0s"}, "")
	contains(t, "no-wait error", err.Error(), `migration lock of "public"."runbook_schema_version" on database `+db+` is `+wantHolder, "waited 0s: another runbook or migrator is working on this database")

	out.Reset()
	err = mustFail(t, env, &Migrate{Dir: dir, LockWait: "300ms"}, "")
	contains(t, "timed-out wait", err.Error(), wantHolder, "waited 300ms")
	contains(t, "wait output", out.String(), "another migrator holds the lock of \"public\".\"runbook_schema_version\" on database "+db+" ("+wantHolder[len("held by "):], "waiting up to 300ms")
	// Nothing ran while the lock was held.
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('notes') IS NULL", Value: true})

	// A migrator that may wait long enough goes ahead once the lock is released.
	env2, out2 := testEnv(t, dsn)
	done := make(chan error, 1)
	go func() {
		done <- (&Migrate{Dir: dir, LockWait: "1m"}).Run(ctx, env2)
	}()
	waitFor(t, "the second migrator to wait for the lock", func() bool {
		return strings.Contains(out2.String(), "waiting up to 1m0s")
	})
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the waiting migrator failed: %v", err)
	}
	contains(t, "waiting migrator output", out2.String(), "waiting up to 1m0s", "lock taken", "now at version 4")
}

func TestMigrateConcurrentMigrators(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	dir := migrationsDir(t, "ok")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	outs := make([]*steptest.Buffer, 3)
	for i := range errs {
		env, out := testEnv(t, dsn)
		outs[i] = out
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := &Migrate{Dir: dir}
			if err := m.Validate(); err != nil {
				errs[i] = err
				return
			}
			errs[i] = m.Run(context.Background(), env)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v\n%s", i, err, outs[i])
		}
	}
	applied := 0
	for _, o := range outs {
		applied += strings.Count(o.String(), "▲ 0004_seed.up.sql")
	}
	if applied != 1 {
		t.Errorf("the last migration ran %d times, want once", applied)
	}
	env, _ := testEnv(t, dsn)
	mustRun(t, env, &Query{SQL: "SELECT count(*) FROM notes WHERE body = 'seeded'", Value: uint64(1)})
	if v, dirty, _ := versionRow(t, dsn); v != 4 || dirty {
		t.Errorf("version row = %d dirty %t", v, dirty)
	}
}
