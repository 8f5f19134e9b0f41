package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps/store"
)

// TestStoreInitAndRoles: `store init` creates the schema of a new store
// database and says its version; with --roles it also creates the reader
// and writer roles; `store roles` prints the SQL that does so.
func TestStoreInitAndRoles(t *testing.T) {
	dsn := shareStoreDSN(t)
	env := []string{"RUNBOOK_STORE="}
	r := runbook(t, env, "store", "init", "--store", dsn)
	migs, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("schema version %d", migs[len(migs)-1].Version)
	if r.code != 0 || !strings.Contains(r.out, want) || !strings.Contains(r.out, "store init --roles") {
		t.Fatalf("store init: exit %d, want %q\n%s%s", r.code, want, r.out, r.err)
	}
	r = runbook(t, env, "store", "init", "--roles", "--store", dsn)
	if r.code != 0 || !strings.Contains(r.out, "roles runbook_reader and runbook_writer are set up") {
		t.Fatalf("store init --roles: exit %d\n%s%s", r.code, r.out, r.err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname IN ('runbook_reader','runbook_writer')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("roles after store init --roles: %d (%v)", n, err)
	}
	var canInsert bool
	if err := conn.QueryRow(ctx, `SELECT has_table_privilege('runbook_writer', 'runbook.records', 'INSERT') AND NOT has_table_privilege('runbook_reader', 'runbook.records', 'INSERT')`).Scan(&canInsert); err != nil || !canInsert {
		t.Fatalf("writer may insert records and reader may not: %v (%v)", canInsert, err)
	}

	r = runbook(t, env, "store", "roles")
	if r.code != 0 || r.out != store.RolesSQL {
		t.Fatalf("store roles: exit %d, printed %d bytes, want the %d bytes of roles.sql", r.code, len(r.out), len(store.RolesSQL))
	}
}

// TestStoreInitNamesWhatWasTried: no store named is a usage error; a store
// that cannot be reached is named without its password, with what to do.
func TestStoreInitNamesWhatWasTried(t *testing.T) {
	env := []string{"RUNBOOK_STORE="}
	r := runbook(t, env, "store", "init")
	if r.code != exitUsage || !strings.Contains(r.err, "no shared-run store: give --store DSN") {
		t.Fatalf("no store: exit %d\n%s", r.code, r.err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r = runbook(t, env, "store", "init", "--store", "postgres://ops:hunter2@"+addr+"/runs?connect_timeout=2")
	if r.code == 0 || strings.Contains(r.err+r.out, "hunter2") ||
		!strings.Contains(r.err, "postgres://ops:xxxxx@"+addr+"/runs") || !strings.Contains(r.err, "is its PostgreSQL running and reachable?") {
		t.Fatalf("unreachable store: exit %d\n%s", r.code, r.err)
	}
}
