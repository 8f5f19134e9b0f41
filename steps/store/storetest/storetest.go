// Package storetest gives a test a shared-run store database of its own on
// the throwaway store cluster that RUNBOOK_TEST_STOREDSN names (a
// superuser's postgres:// URL; .ci/services.sh starts one). Tests of the
// store, of the engine's write path and of the CLI use it, so the rule for
// a missing cluster is written once: the test is skipped, unless
// RUNBOOK_REQUIRE_SERVICES is set, when it fails.
package storetest

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

// Admin is the store cluster's DSN, or the end of tb when there is none.
func Admin(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("RUNBOOK_TEST_STOREDSN")
	if admin == "" {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			tb.Fatal("RUNBOOK_REQUIRE_SERVICES is set but RUNBOOK_TEST_STOREDSN is not: eval \"$(bash .ci/services.sh)\" starts the store's PostgreSQL and exports it")
		}
		tb.Skip("RUNBOOK_TEST_STOREDSN is not set: no store PostgreSQL (RUNBOOK_REQUIRE_SERVICES=1 makes this a failure)")
	}
	return admin
}

// Conn connects to the store cluster as its superuser, closed at the end
// of tb.
func Conn(tb testing.TB) *pgx.Conn {
	tb.Helper()
	admin := Admin(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			tb.Fatalf("connect to the store cluster (RUNBOOK_TEST_STOREDSN): %v", err)
		}
		tb.Skipf("no store PostgreSQL at RUNBOOK_TEST_STOREDSN (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// DB creates an empty database named prefix + random hex on the store
// cluster, drops it (with its connections) when tb ends, and returns its
// DSN, as the cluster's superuser, and its name.
func DB(tb testing.TB, prefix string) (dsn, name string) {
	tb.Helper()
	admin := Admin(tb)
	c := Conn(tb)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = prefix + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return With(tb, admin, name, ""), name
}

// With is dsn with another database and, when user is not empty, another
// user (without a password: the test cluster trusts loopback).
func With(tb testing.TB, dsn, db, user string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("RUNBOOK_TEST_STOREDSN must be a postgres:// URL, not %q", dsn)
	}
	u.Path = "/" + db
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}
