package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The integration tests run against the store cluster RUNBOOK_TEST_STOREDSN
// names (a superuser on a throwaway PostgreSQL of its own; .ci/services.sh
// starts one). Each test works in a database of its own, dropped at the end.

func storeDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("RUNBOOK_TEST_STOREDSN")
	if dsn == "" {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			tb.Fatal("RUNBOOK_REQUIRE_SERVICES is set but RUNBOOK_TEST_STOREDSN is not: run eval \"$(bash .ci/services.sh)\" to start the store's PostgreSQL and export it")
		}
		tb.Skip("RUNBOOK_TEST_STOREDSN is not set: no store PostgreSQL to test against (eval \"$(bash .ci/services.sh)\")")
	}
	return dsn
}

func adminConn(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			tb.Fatalf("connect to the store cluster: %v", err)
		}
		tb.Skipf("no store PostgreSQL at RUNBOOK_TEST_STOREDSN: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// dsnWith returns dsn with another database and, when user is not empty,
// another user.
func dsnWith(tb testing.TB, dsn, db, user string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("RUNBOOK_TEST_STOREDSN must be a postgres:// URL")
	}
	u.Path = "/" + db
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}

// testDB creates an empty database on the store cluster for one test and
// returns its owner DSN.
func testDB(tb testing.TB) (dsn, name string) {
	tb.Helper()
	admin := storeDSN(tb)
	c := adminConn(tb, admin)
	name = randName("rb_store_")
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
	return dsnWith(tb, admin, name, ""), name
}

// notices collects a store's notices.
type notices struct {
	mu  sync.Mutex
	all []string
}

func (n *notices) add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.all = append(n.all, s)
}

func (n *notices) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.all...)
}

// openStore opens (and so migrates) a store on a fresh database.
func openStore(tb testing.TB) (*Store, string, *notices) {
	tb.Helper()
	dsn, _ := testDB(tb)
	ns := &notices{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, Options{Notice: ns.add})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(s.Close)
	return s, dsn, ns
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// newRun registers a run and takes its lease as alice.
func newRun(tb testing.TB, s *Store, id string) Lease {
	tb.Helper()
	ctx := ctxT(tb)
	if _, err := s.CreateRun(ctx, id, "phase1", false); err != nil {
		tb.Fatal(err)
	}
	l, err := s.Acquire(ctx, id, Holder{Operator: "alice", Host: "laptop-a", PID: 101})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}
