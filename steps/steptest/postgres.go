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

// Cluster is a throwaway PostgreSQL cluster the tests use, named by an
// environment variable holding its superuser's URL (.ci/services.sh starts
// it and prints the variable). Without it a test is skipped, unless
// RUNBOOK_REQUIRE_SERVICES is set (CI), when that is a failure: the rule is
// written here once.
type Cluster struct {
	Env  string // the variable naming it: RUNBOOK_TEST_PGDSN
	What string // what it is, in messages: "the test PostgreSQL"
}

// TestPostgres is the cluster for steps' targets (pgaudit preloaded).
func TestPostgres() Cluster {
	return Cluster{Env: "RUNBOOK_TEST_PGDSN", What: "the test PostgreSQL"}
}

// required says whether a missing service fails the test.
func required() bool { return os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" }

// DSN is the cluster's superuser URL.
func (c Cluster) DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(c.Env)
	if dsn == "" {
		if required() {
			t.Fatalf(`RUNBOOK_REQUIRE_SERVICES is set but %s is not: eval "$(bash .ci/services.sh)" starts %s and exports it`, c.Env, c.What)
		}
		t.Skipf(`%s is not set: no %s to test against (eval "$(bash .ci/services.sh)"; RUNBOOK_REQUIRE_SERVICES=1 makes this a failure)`, c.Env, c.What)
	}
	return dsn
}

// Conn connects to the cluster as its superuser, closed at the end of t.
func (c Cluster) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	dsn := c.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if required() {
			t.Fatalf("connect to %s (%s): %v", c.What, c.Env, err)
		}
		t.Skipf("no %s at %s (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %v", c.What, c.Env, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Database creates an empty database of the test's own on the cluster,
// named prefix and random hex, dropped (connections and all) at the end of
// t, and returns its URL, as the superuser, and its name: tests run in
// parallel with each other and with other packages on one cluster.
func (c Cluster) Database(t testing.TB, prefix string) (dsn, name string) {
	t.Helper()
	admin := c.Conn(t)
	adminDSN := c.DSN(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = prefix + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return WithDatabase(adminDSN, name), name
}

// PostgresDSN is TestPostgres().DSN.
func PostgresDSN(t testing.TB) string { t.Helper(); return TestPostgres().DSN(t) }

// PostgresConn is TestPostgres().Conn.
func PostgresConn(t testing.TB) *pgx.Conn { t.Helper(); return TestPostgres().Conn(t) }

// PostgresDatabase is TestPostgres().Database.
func PostgresDatabase(t testing.TB, prefix string) (dsn, name string) {
	t.Helper()
	return TestPostgres().Database(t, prefix)
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
