package pg

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

func TestExecQueryUndo(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, out := testEnv(t, dsn)
	ep := endpointOf(t, dsn)

	do := &Exec{SQL: "CREATE TABLE notes (id serial PRIMARY KEY, body text);\nINSERT INTO notes (body) VALUES ('a;1'), ('b')"}
	verify := []steps.Action{
		&Query{SQL: "SELECT body FROM notes ORDER BY id", Expect: [][]any{{"a;1"}, {"b"}}},
		&Query{SQL: "SELECT count(*) FROM notes", Value: uint64(2)},
		&Query{SQL: "SELECT id FROM notes WHERE body = $1", Args: []any{"b"}, Rows: pInt(1)},
	}
	undo := &Exec{SQL: "DROP TABLE IF EXISTS notes"}
	gone := &Query{SQL: "SELECT to_regclass('notes') IS NULL", Value: true}

	mustRun(t, env, do)
	if got, want := out.String(), "connected to "+ep+"\nCREATE TABLE\nINSERT 0 2\nCOMMIT\n"; got != want {
		t.Errorf("do output:\n got %q\nwant %q", got, want)
	}
	for _, v := range verify {
		mustRun(t, env, v)
	}
	mustFail(t, env, gone, "query on "+ep+": expected the value = 'true', found 'f'")
	// Running the do again must fail cleanly and change nothing.
	err := mustFail(t, env, do, "")
	contains(t, "second do", err.Error(), `relation "notes" already exists (SQLSTATE 42P07)`, "the transaction was rolled back, nothing was applied")

	mustRun(t, env, undo)
	mustRun(t, env, gone)
	// Verify after undo: the do's checks now fail, saying why.
	mustFail(t, env, verify[1], `query on `+ep+` failed: ERROR: relation "notes" does not exist (SQLSTATE 42P01) at line 1, column 22: SELECT count(*) FROM notes`)

	// A database that does not exist: the message says so and what to do.
	err = mustFail(t, env, &Query{Conn: Conn{Database: "rb_pg_no_such_db"}, SQL: "SELECT 1", Value: uint64(1)}, "")
	contains(t, "missing database", err.Error(), "connect to "+strings.TrimSuffix(ep, "/"+ep[strings.LastIndexByte(ep, '/')+1:])+"/rb_pg_no_such_db (target db)",
		`database "rb_pg_no_such_db" does not exist (SQLSTATE 3D000)`, "create the database first, or connect to an existing one with database:")
}

func TestExecRollsBackOnFailure(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, _ := testEnv(t, dsn)
	ep := endpointOf(t, dsn)
	mustFail(t, env, &Exec{SQL: "CREATE TABLE first_half (id int);\n\nINSERT INTO  nope VALUES (1);"},
		`sql: statement 2 of 2 (line 3) failed on `+ep+`: ERROR: relation "nope" does not exist (SQLSTATE 42P01) at line 3, column 14: INSERT INTO  nope VALUES (1);; the transaction was rolled back, nothing was applied`)
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('first_half')", Expect: [][]any{{nil}}})

	// Without a transaction the first statement stays, and the message says so.
	mustFail(t, env, &Exec{SQL: "CREATE TABLE first_half (id int);\nINSERT INTO nope VALUES (1);", Transaction: pFalse()},
		`sql: statement 2 of 2 (line 2) failed on `+ep+`: ERROR: relation "nope" does not exist (SQLSTATE 42P01) at line 2, column 13: INSERT INTO nope VALUES (1);; no transaction: the 1 statement(s) before it stay applied`)
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('first_half')::text", Value: "first_half"})
}

func TestExecNoTransactionCreateDatabase(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, _ := testEnv(t, dsn)
	other := randName("rb_pg_other_")
	t.Cleanup(func() {
		admin := adminConn(t)
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{other}.Sanitize()+" WITH (FORCE)")
	})
	create := &Exec{Conn: Conn{Database: "postgres"}, SQL: "CREATE DATABASE ${ident:db}", Idents: map[string]string{"db": other}}
	err := mustFail(t, env, create, "")
	contains(t, "CREATE DATABASE in a transaction", err.Error(),
		"CREATE DATABASE cannot run inside a transaction block (SQLSTATE 25001)",
		"this statement cannot run in a transaction, set transaction: false")

	create.Transaction = pFalse()
	mustRun(t, env, create)
	exists := &Query{Conn: Conn{Database: "postgres"}, SQL: "SELECT count(*) FROM pg_database WHERE datname = $1", Args: []any{other}, Value: uint64(1)}
	mustRun(t, env, exists)
	drop := &Exec{Conn: Conn{Database: "postgres"}, SQL: "DROP DATABASE ${ident:db}", Idents: map[string]string{"db": other}, Transaction: pFalse()}
	mustRun(t, env, drop)
	exists.Value = uint64(0)
	mustRun(t, env, exists)
}

func TestBindParametersIdentsAndLiterals(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, _ := testEnv(t, dsn)
	hostile := `x'); DROP TABLE kv; --`
	weird := `we"ird; DROP TABLE kv; --`
	env.Targets["note"] = hostile
	mustRun(t, env, &Exec{SQL: "CREATE TABLE kv (k text PRIMARY KEY, v text, n int)"})
	mustRun(t, env, &Exec{SQL: "INSERT INTO kv VALUES ($1, $2, $3)", Args: []any{"k1", "${target.note}", uint64(42)}})
	mustRun(t, env, &Query{SQL: "SELECT v, n FROM kv WHERE k = $1", Args: []any{"k1"}, Expect: [][]any{{hostile, uint64(42)}}})
	// A string bound to an int parameter is sent as text and parsed by the server.
	mustRun(t, env, &Query{SQL: "SELECT count(*) FROM kv WHERE n = $1", Args: []any{"42"}, Value: uint64(1)})

	mustRun(t, env, &Exec{SQL: "CREATE TABLE ${ident:t} (id int)", Idents: map[string]string{"t": weird}})
	mustRun(t, env, &Query{SQL: "SELECT count(*) FROM pg_class WHERE relname = $1", Args: []any{weird}, Value: uint64(1)})
	mustRun(t, env, &Query{SQL: "SELECT count(*) FROM ${ident:t}", Idents: map[string]string{"t": weird}, Value: uint64(0)})
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('kv') IS NOT NULL", Value: true})

	// Literals quoted locally read back exactly as bound parameters do.
	for i, s := range []string{"", "it's", `back\slash`, `\'; DROP TABLE kv; --`, "tab\tnew\nline", "ünïcødé ✓", "$$ dollar $$"} {
		env.Targets["lit"] = s
		mustRun(t, env, &Exec{SQL: "INSERT INTO kv (k, v) VALUES ($1, ${literal:v})", Args: []any{fmt.Sprint("lit", i)}, Literals: map[string]string{"v": "${target.lit}"}})
		mustRun(t, env, &Query{SQL: "SELECT v = $1 FROM kv WHERE k = $2", Args: []any{"${target.lit}", fmt.Sprint("lit", i)}, Value: true})
	}
}

func TestExtensionsDoVerifyUndo(t *testing.T) {
	t.Parallel()
	dsn, db := testDB(t)
	env, out := testEnv(t, dsn)
	admin := adminConn(t)
	for _, ext := range []string{"pgcrypto", "pgaudit"} {
		t.Run(ext, func(t *testing.T) {
			var version string
			if err := admin.QueryRow(context.Background(), "SELECT default_version FROM pg_available_extensions WHERE name = $1", ext).Scan(&version); err != nil {
				t.Fatalf("%s is not available on the test server (install it, e.g. postgresql-15-pgaudit): %v", ext, err)
			}
			do := &Exec{SQL: "CREATE EXTENSION IF NOT EXISTS ${ident:ext}", Idents: map[string]string{"ext": ext}}
			present := &Extension{Name: ext, Version: version, Preloaded: ext == "pgaudit"}
			absent := &Extension{Name: ext, Present: pFalse()}
			undo := &Exec{SQL: "DROP EXTENSION IF EXISTS ${ident:ext}", Idents: map[string]string{"ext": ext}}

			mustFail(t, env, present, fmt.Sprintf("extension %s: expected installed in database %s, found not installed (the server offers version %s: CREATE EXTENSION %s)", ext, db, version, ext))
			mustRun(t, env, absent)
			mustRun(t, env, do)
			out.Reset()
			mustRun(t, env, present)
			want := fmt.Sprintf("extension %s: version %s installed\n", ext, version)
			if ext == "pgaudit" {
				mustRun(t, env, &Settings{Expect: []string{"shared_preload_libraries contains pgaudit"}})
			}
			if !strings.HasPrefix(out.String(), want) {
				t.Errorf("verify output = %q, want it to start %q", out.String(), want)
			}
			mustFail(t, env, &Extension{Name: ext, Version: "0.0"}, fmt.Sprintf("extension %s: expected version 0.0, found version %s (ALTER EXTENSION %s UPDATE TO '0.0')", ext, version, ext))
			mustFail(t, env, absent, fmt.Sprintf("extension %s: expected absent from database %s, found version %s installed", ext, db, version))
			mustRun(t, env, undo)
			mustRun(t, env, absent)
			mustFail(t, env, present, "")
		})
	}
	mustFail(t, env, &Extension{Name: "no_such_extension"}, "extension no_such_extension: expected installed in database "+db+", found not installed and not available on the server (install its package, e.g. postgresql-15-no_such_extension, on the database host)")
	mustFail(t, env, &Extension{Name: "pgcrypto", Preloaded: true, Present: nil}, "")
}

func TestSetDatabaseSettingSavedAndRestored(t *testing.T) {
	t.Parallel()
	dsn, db := testDB(t)
	env, out := testEnv(t, dsn)
	ep := endpointOf(t, dsn)
	// What a fresh session of the database sees before the step.
	var before string
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(context.Background(), "SELECT current_setting('pgaudit.log')").Scan(&before); err != nil {
		t.Fatalf("pgaudit.log is not a setting on the test server (is pgaudit in shared_preload_libraries?): %v", err)
	}
	c.Close(context.Background())
	if before == "ddl,write" {
		t.Fatalf("test server already has pgaudit.log = %q; the test needs another starting value", before)
	}

	do := &Set{Name: "pgaudit.log", Value: "ddl,write"}
	verify := &Settings{Expect: []string{"pgaudit.log = 'ddl,write'", "shared_preload_libraries contains pgaudit"}}
	undo := &Set{Name: "pgaudit.log", Restore: true}
	verifyUndone := &Settings{Expect: []string{"pgaudit.log = '" + before + "'"}}

	mustFail(t, env, verify, fmt.Sprintf("settings on %s: pgaudit.log: expected = 'ddl,write', found '%s'", ep, before))
	// A first attempt sets another value; the retry sets the intended one.
	// The undo must still go back to what was there before the step.
	mustRun(t, env, &Set{Name: "pgaudit.log", Value: "ddl"})
	out.Reset()
	mustRun(t, env, do)
	if got, want := out.String(), "pgaudit.log for the database: was 'ddl', now 'ddl,write'\n"; got != want {
		t.Errorf("do output %q, want %q", got, want)
	}
	out.Reset()
	mustRun(t, env, verify)
	if got, want := out.String(), "pgaudit.log = 'ddl,write': ok = 'ddl,write'\n"; !strings.HasPrefix(got, want) {
		t.Errorf("verify output %q, want it to start %q", got, want)
	}
	mustRun(t, env, undo)
	mustRun(t, env, verifyUndone)
	mustFail(t, env, verify, "")
	// A second undo finds nothing saved and changes nothing.
	out.Reset()
	mustRun(t, env, undo)
	contains(t, "second undo", out.String(), "nothing saved by this step's do")

	// A value the database held before is restored, not reset.
	mustRun(t, env, &Exec{SQL: "ALTER DATABASE ${ident:db} SET pgaudit.log = 'read'", Idents: map[string]string{"db": db}})
	mustRun(t, env, do)
	mustRun(t, env, verify)
	mustRun(t, env, undo)
	mustRun(t, env, &Settings{Expect: []string{"pgaudit.log = read"}})

	mustFail(t, env, &Settings{Expect: []string{"runbook_no_such.setting = x"}},
		fmt.Sprintf("settings on %s: runbook_no_such.setting: expected = 'x', found not set (no such setting: is the library that defines it in shared_preload_libraries?)", ep))
}

func TestSetRoleAndSystemScopes(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, _ := testEnv(t, dsn)
	admin := adminConn(t)
	ctx := context.Background()
	role := randName("rb_pg_role_")
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adminConn(t).Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize()) })
	roleSettings := &Query{SQL: `SELECT cfg FROM pg_db_role_setting s, unnest(s.setconfig) cfg
		WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = $1)`, Args: []any{role}}

	mustRun(t, env, &Set{Scope: "role", Role: role, Name: "pgaudit.log", Value: "all"})
	roleSettings.Expect = [][]any{{"pgaudit.log=all"}}
	mustRun(t, env, roleSettings)
	mustRun(t, env, &Set{Scope: "role", Role: role, Name: "pgaudit.log", Restore: true})
	roleSettings.Expect = [][]any{}
	mustRun(t, env, roleSettings)

	// ALTER SYSTEM on a setting whose only effect is what the server logs
	// about autovacuum, so other tests sharing the cluster do not notice.
	const name = "log_autovacuum_min_duration"
	before := ""
	if err := admin.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&before); err != nil {
		t.Fatal(err)
	}
	fileSetting := &Query{SQL: "SELECT setting FROM pg_file_settings WHERE name = $1 AND sourcefile LIKE '%auto.conf'", Args: []any{name}}
	fileSetting.Expect = [][]any{}
	mustRun(t, env, fileSetting)
	mustRun(t, env, &Set{Scope: "system", Name: name, Value: "123456", Reload: true})
	fileSetting.Expect = [][]any{{"123456"}}
	mustRun(t, env, fileSetting)
	// The reload is asynchronous: wait until a new session sees it.
	waitFor(t, "a new session to see "+name+" after pg_reload_conf", func() bool {
		return run(t, env, &Settings{Expect: []string{name + " = 123456ms"}}) == nil
	})
	mustRun(t, env, &Set{Scope: "system", Name: name, Restore: true, Reload: true})
	fileSetting.Expect = [][]any{}
	mustRun(t, env, fileSetting)
	waitFor(t, "a new session to see "+name+" back at "+before, func() bool {
		return run(t, env, &Settings{Expect: []string{name + " = '" + before + "'"}}) == nil
	})
}

// waitFor polls cond until it holds or 20 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUnreachableDatabase(t *testing.T) {
	// Not parallel: it sets PG* variables.
	// A port with nothing listening: bind one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const planted = "Planted-Pass-7c1e"
	env, out := testEnv(t, "postgres://app:"+planted+"@"+addr+"/app?sslmode=disable&connect_timeout=5")
	err = run(t, env, &Query{SQL: "SELECT 1", Value: uint64(1)})
	if err == nil {
		t.Fatal("connected to a port with nothing listening")
	}
	want := "connect to postgres://app@" + addr + "/app (target db): failed to connect to `user=app database=app`: " + addr +
		" (127.0.0.1): dial error: dial tcp " + addr + ": connect: connection refused: is the database up and listening there? set the target with --target db=postgres://USER@HOST:PORT/DB or its environment variable (e.g. RUNBOOK_DB_DSN)"
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	for _, s := range []string{err.Error(), out.String(), (&Query{SQL: "SELECT 1", Value: uint64(1)}).Describe(env)} {
		if strings.Contains(s, planted) {
			t.Errorf("the password shows: %s", s)
		}
	}

	// An empty target means the PG* environment; the message says so.
	env2, _ := testEnv(t, "")
	t.Setenv("PGHOST", "127.0.0.1")
	t.Setenv("PGPORT", addr[strings.LastIndexByte(addr, ':')+1:])
	t.Setenv("PGUSER", "app")
	t.Setenv("PGDATABASE", "app")
	t.Setenv("PGPASSWORD", planted)
	t.Setenv("PGCONNECT_TIMEOUT", "5")
	t.Setenv("PGSSLMODE", "disable")
	err = run(t, env2, &Exec{SQL: "SELECT 1"})
	if err == nil {
		t.Fatal("connected to a port with nothing listening")
	}
	contains(t, "PG* error", err.Error(), "connect to postgres://app@"+addr+"/app (target db)", "target db is empty, so the PG* environment applied", "or set PGHOST/PGPORT/PGUSER")
	if strings.Contains(err.Error(), planted) {
		t.Errorf("PGPASSWORD shows: %s", err)
	}
}

func TestPlantedSecretsNeverShown(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, out := testEnv(t, dsn)
	const filePass = "Planted-File-Pass-91f2"
	const targetSecret = "Planted-Target-Secret-44ab"
	pwFile := filepath.Join(t.TempDir(), "db_password")
	if err := os.WriteFile(pwFile, []byte(filePass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// As ResolveTargets does for a target marked secret.
	env.Targets["token"] = targetSecret
	env.Redact.Add(targetSecret)
	conn := Conn{PasswordFile: pwFile}
	var errs []string
	// The test server trusts loopback, so the password is sent but not
	// needed: the connection works and the secrets travel in SQL instead.
	mustRun(t, env, &Exec{Conn: conn, SQL: "CREATE TABLE s (v text)"})
	mustRun(t, env, &Exec{Conn: conn, SQL: "INSERT INTO s VALUES ($1), (${literal:p})", Args: []any{"${target.token}"}, Literals: map[string]string{"p": filePass}})
	mustRun(t, env, &Query{Conn: conn, SQL: "SELECT v FROM s ORDER BY v", Expect: [][]any{{filePass}, {targetSecret}}})
	for _, a := range []steps.Action{
		&Query{Conn: conn, SQL: "SELECT v FROM s ORDER BY v", Rows: pInt(0)},
		&Query{Conn: conn, SQL: "SELECT $1::int", Args: []any{"${target.token}"}, Value: uint64(1)},
		&Exec{Conn: conn, SQL: "SELECT ${literal:p}::int", Literals: map[string]string{"p": "${target.token}"}},
		&Exec{Conn: conn, SQL: "SELECT '" + filePass + "'::int"},
		&Settings{Conn: conn, Expect: []string{"application_name = " + targetSecret}},
		&Set{Conn: conn, Name: "pgaudit.log", Value: "bogus," + targetSecret},
	} {
		err := run(t, env, a)
		if err == nil {
			t.Errorf("%T succeeded; the test needs it to fail with the secret in the server's message", a)
			continue
		}
		errs = append(errs, err.Error(), a.Describe(env))
	}
	// Set with a secret value succeeds; its output must mask it.
	mustRun(t, env, &Set{Conn: conn, Name: "application_name", Value: targetSecret})
	all := strings.Join(append(errs, out.String()), "\n")
	for _, secret := range []string{filePass, targetSecret} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q shows in output or errors:\n%s", secret, all)
		}
	}
	contains(t, "output", all, steps.Mask, "invalid input syntax for type integer")
}

func TestPgauditLogsDDL(t *testing.T) {
	t.Parallel()
	dsn, db := testDB(t)
	env, _ := testEnv(t, dsn)
	mustRun(t, env, &Set{Name: "pgaudit.log", Value: "ddl"})
	mustRun(t, env, &Settings{Expect: []string{"pgaudit.log = ddl"}})
	table := randName("audited_")
	mustRun(t, env, &Exec{SQL: "CREATE TABLE ${ident:t} (id int)", Idents: map[string]string{"t": table}})

	path := serverLog(t)
	want := "AUDIT: SESSION,"
	var line string
	waitFor(t, "an AUDIT line for CREATE TABLE "+table+" in "+path, func() bool {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, want) && strings.Contains(l, "CREATE TABLE") && strings.Contains(l, table) {
				line = l
				return true
			}
		}
		return false
	})
	contains(t, "audit line", line, ",DDL,CREATE TABLE,")
	// After the undo, DDL in that database is no longer audited.
	mustRun(t, env, &Set{Name: "pgaudit.log", Restore: true})
	table2 := randName("unaudited_")
	mustRun(t, env, &Exec{SQL: "CREATE TABLE ${ident:t} (id int)", Idents: map[string]string{"t": table2}})
	// A marker statement after it, audited through a session of its own
	// with pgaudit.log set, proves the log has caught up.
	marker := randName("marker_")
	mustRun(t, env, &Exec{SQL: "SET pgaudit.log = 'ddl'; CREATE TABLE ${ident:t} (id int)", Idents: map[string]string{"t": marker}})
	waitFor(t, "the marker audit line", func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), marker)
	})
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), table2) {
		t.Errorf("DDL on %s in database %s was audited after the undo", table2, db)
	}
}

func TestExecFromWorkspaceAndEmbeddedFiles(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	env, _ := testEnv(t, dsn)
	env.Workspace = t.TempDir()
	if err := os.MkdirAll(filepath.Join(env.Workspace, "sql"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(env.Workspace, "sql", "init.sql"), []byte("-- init\nCREATE TABLE from_file (id int);\nINSERT INTO from_file VALUES (1);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	emb := fstest.MapFS{"sql/drop.sql": {Data: []byte("DROP TABLE from_file;")}}
	mustRun(t, env, &Exec{File: "sql/init.sql"})
	mustRun(t, env, &Query{SQL: "SELECT count(*) FROM from_file", Value: uint64(1)})
	mustRun(t, env, &Exec{Embedded: "sql/drop.sql", embedded: emb})
	mustRun(t, env, &Query{SQL: "SELECT to_regclass('from_file') IS NULL", Value: true})
	err := mustFail(t, env, &Exec{File: "sql/missing.sql"}, "")
	contains(t, "missing file", err.Error(), "read SQL file "+filepath.Join(env.Workspace, "sql", "missing.sql"))
	mustFail(t, env, &Exec{Embedded: "sql/drop.sql"}, "embedded SQL sql/drop.sql: this build has no embedded files for pg actions; use file: with a path in the workspace")
	if d := (&Exec{File: "sql/init.sql"}).Describe(env); !strings.HasSuffix(d, "in one transaction: the statements of sql/init.sql") {
		t.Errorf("Describe = %q", d)
	}
}
