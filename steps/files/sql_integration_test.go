package files_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps/files"
	"github.com/runbook-dev/runbook/steps/steptest"
)

// pgDSN returns the test server's DSN. Without one the test is skipped,
// unless the services are required (CI), where that is a failure.
func pgDSN(t *testing.T) string { return steptest.PostgresDSN(t) }

// The init-extensions template renders SQL that a real PostgreSQL 15 with
// pgaudit preloaded accepts, twice, and that leaves pgcrypto and pgaudit
// installed and pgaudit configured for the database it ran in.
func TestSQLTemplateAgainstPostgres(t *testing.T) {
	dsn := pgDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("RUNBOOK_TEST_PGDSN: %v", err)
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to PostgreSQL at %s:%d: %v: is it running (.ci/services.sh)?", cfg.Host, cfg.Port, err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	db := "runbook_files_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatalf("create database: %v", err)
	}
	defer func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
	}()
	cfg.Database = db

	env, _ := newEnv(t, nil)
	tpl := &files.Template{Template: "sql/init-extensions.sql.tmpl", Path: "db/init/01-extensions.sql", Vars: map[string]any{"pgaudit_log": "write, ddl"}}
	mustRun(t, tpl, env)
	script := read(t, env, "db/init/01-extensions.sql")

	for i := range 2 { // idempotent: an init script may run again
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, script); err != nil {
			t.Fatalf("run %d of the rendered SQL: %v\n%s", i+1, err, script)
		}
		conn.Close(ctx)
	}

	conn, err := pgx.ConnectConfig(ctx, cfg) // a new session sees the database settings
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname IN ('pgcrypto', 'pgaudit')").Scan(&n); err != nil || n != 2 {
		t.Errorf("extensions installed: %d (%v), want 2", n, err)
	}
	for setting, want := range map[string]string{"pgaudit.log": "write, ddl", "pgaudit.log_parameter": "off", "pgaudit.log_relation": "on"} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", setting, got, err, want)
		}
	}
	var digest string
	if err := conn.QueryRow(ctx, "SELECT encode(digest('runbook', 'sha256'), 'hex')").Scan(&digest); err != nil || len(digest) != 64 {
		t.Errorf("pgcrypto digest: %q %v", digest, err)
	}

	// The file's undo.
	mustRun(t, &files.Restore{Path: "db/init/01-extensions.sql"}, env)
	mustRun(t, &files.Assert{Path: "db/init/01-extensions.sql", Absent: true}, env)
}
