// Package storetest gives a test a shared-run store database of its own on
// the throwaway store cluster that RUNBOOK_TEST_STOREDSN names (a
// superuser's postgres:// URL; .ci/services.sh starts one). Tests of the
// store, of the engine's write path and of the CLI use it, so the rule for
// a missing cluster is written once: the test is skipped, unless
// RUNBOOK_REQUIRE_SERVICES is set, when it fails.
package storetest

import (
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps/steptest"
)

// cluster is the store's throwaway PostgreSQL.
func cluster() steptest.Cluster {
	return steptest.Cluster{Env: "RUNBOOK_TEST_STOREDSN", What: "the store PostgreSQL"}
}

// Admin is the store cluster's DSN, or the end of tb when there is none.
func Admin(tb testing.TB) string { tb.Helper(); return cluster().DSN(tb) }

// Conn connects to the store cluster as its superuser, closed at the end
// of tb.
func Conn(tb testing.TB) *pgx.Conn { tb.Helper(); return cluster().Conn(tb) }

// DB creates an empty database named prefix + random hex on the store
// cluster, drops it (with its connections) when tb ends, and returns its
// DSN, as the cluster's superuser, and its name.
func DB(tb testing.TB, prefix string) (dsn, name string) {
	tb.Helper()
	return cluster().Database(tb, prefix)
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
