package steptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The test PostgreSQL is the server RUNBOOK_TEST_PGDSN names: a superuser
// on a throwaway cluster with pgaudit preloaded, which .ci/services.sh
// starts and prints. Without it a test is skipped, unless
// RUNBOOK_REQUIRE_SERVICES is set (CI), when that is a failure: the rule
// is written here once.

// required says whether a missing service fails the test.
func required() bool { return os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" }

// PostgresDSN is the test server's superuser URL.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("RUNBOOK_TEST_PGDSN")
	if dsn == "" {
		if required() {
			t.Fatal(`RUNBOOK_REQUIRE_SERVICES is set but RUNBOOK_TEST_PGDSN is not: run eval "$(bash .ci/services.sh)" to start PostgreSQL and export it`)
		}
		t.Skip(`RUNBOOK_TEST_PGDSN is not set: no PostgreSQL to test against (eval "$(bash .ci/services.sh)"; RUNBOOK_REQUIRE_SERVICES=1 makes this a failure)`)
	}
	return dsn
}

// PostgresConn connects to the test server as its superuser, closed at the
// end of the test.
func PostgresConn(t testing.TB) *pgx.Conn {
	t.Helper()
	dsn := PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if required() {
			t.Fatalf("connect to RUNBOOK_TEST_PGDSN: %v", err)
		}
		t.Skipf("no PostgreSQL at RUNBOOK_TEST_PGDSN (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// PostgresDatabase creates a database of the test's own on the test
// server, named prefix and random hex, dropped (connections and all) at
// the end, and returns its URL and name: tests run in parallel with each
// other and with other packages on one cluster.
func PostgresDatabase(t testing.TB, prefix string) (dsn, name string) {
	t.Helper()
	admin := PostgresConn(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = prefix + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	adminDSN := PostgresDSN(t)
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return WithDatabase(adminDSN, name), name
}

// WithDatabase is dsn (a URL or key=value string) pointing at database db
// of the same server.
func WithDatabase(dsn, db string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + db
		return u.String()
	}
	return dsn + " dbname=" + db
}
