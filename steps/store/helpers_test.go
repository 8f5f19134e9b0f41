package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps/store/storetest"
)

// The integration tests run against the store cluster RUNBOOK_TEST_STOREDSN
// names (a superuser on a throwaway PostgreSQL of its own; .ci/services.sh
// starts one). Each test works in a database of its own, dropped at the end.

func storeDSN(tb testing.TB) string { return storetest.Admin(tb) }

// adminConn connects to dsn (a test database on the store cluster, as its
// superuser), closed at the end of tb.
func adminConn(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to the store cluster: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func dsnWith(tb testing.TB, dsn, db, user string) string { return storetest.With(tb, dsn, db, user) }

// testDB creates an empty database on the store cluster for one test and
// returns its owner DSN.
func testDB(tb testing.TB) (dsn, name string) { return storetest.DB(tb, "rb_store_") }

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
