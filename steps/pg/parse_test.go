package pg

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

const runbookHead = `id: db-hardening
title: Database hardening
schedule: {date: "2025-10-24", timezone: UTC}
targets:
  db: {kind: postgres, env: RUNBOOK_DB_DSN, secret: true}
phases:
  - id: item3
    title: Database hardening
    slot: "11:00-14:00"
    steps:
      - id: extensions
        title: Install extensions
        budget: 5m
        guide: guide.md#extensions
`

func parse(t *testing.T, steps string) (*runbooks.Runbook, error) {
	t.Helper()
	r := newRegistry()
	guides := fstest.MapFS{"guide.md": {Data: []byte("# Extensions\n")}}
	return runbooks.Parse([]byte(runbookHead+steps), "rb.yaml", nil, runbooks.LoadOptions{Actions: r, Guides: guides})
}

func newRegistry() *steps.Registry {
	r := steps.NewRegistry()
	RegisterWith(r, Options{Embedded: fstest.MapFS{
		"sql/migrations/0001_a.up.sql": {Data: []byte("CREATE TABLE a(id int);")},
	}})
	return r
}

func TestParseRunbookWithPgActions(t *testing.T) {
	rb, err := parse(t, `        do:
          - pg.exec:
              sql: CREATE EXTENSION IF NOT EXISTS pgcrypto
          - pg.exec:
              target: db
              database: postgres
              transaction: false
              sql: ALTER DATABASE ${ident:db} SET pgaudit.log = ${literal:classes}
              idents: {db: app}
              literals: {classes: "ddl,write"}
          - pg.set: {name: pgaudit.log, value: "ddl,write"}
          - pg.migrate: {embedded: sql/migrations, lock_wait: 10s}
        verify:
          - pg.query:
              sql: SELECT count(*) FROM pg_extension WHERE extname = $1
              args: [pgcrypto]
              value: 1
          - pg.query:
              sql: SELECT extname, 1.5, true, null FROM pg_extension
              expect: [[pgcrypto, 1.5, true, null]]
          - pg.settings:
              expect:
                - shared_preload_libraries contains pgaudit
                - pgaudit.log = 'ddl,write'
          - pg.extension: {name: pgaudit, version: "1.7", preloaded: true}
        undo:
          - pg.migrate: {embedded: sql/migrations, revert: true}
          - pg.set: {name: pgaudit.log, restore: true}
          - pg.exec: {sql: DROP EXTENSION IF EXISTS pgcrypto}
          - pg.extension: {name: pgcrypto, present: false}
`)
	if err != nil {
		t.Fatal(err)
	}
	st := rb.Phases[0].Steps[0]
	if len(st.Do) != 4 || len(st.Verify) != 4 || len(st.Undo) != 4 {
		t.Fatalf("do/verify/undo = %d/%d/%d actions, want 4/4/4", len(st.Do), len(st.Verify), len(st.Undo))
	}
	x := st.Do[1].Params.(*Exec)
	if x.Target != "db" || x.Database != "postgres" || x.inTx() || x.Idents["db"] != "app" || x.Literals["classes"] != "ddl,write" {
		t.Errorf("pg.exec decoded as %+v", x)
	}
	q := st.Verify[0].Params.(*Query)
	if len(q.Args) != 1 || q.Args[0] != "pgcrypto" || q.chk.Op != "=" || q.chk.Want != "1" {
		t.Errorf("pg.query decoded as args %#v check %+v", q.Args, q.chk)
	}
	q2 := st.Verify[1].Params.(*Query)
	want := "rows ['pgcrypto', '1.5', 'true', NULL]"
	if got := q2.expectation(&steps.Env{}); got != want {
		t.Errorf("expectation = %q, want %q", got, want)
	}
	e := st.Verify[3].Params.(*Extension)
	if e.Name != "pgaudit" || e.Version != "1.7" || !e.Preloaded || !e.present() {
		t.Errorf("pg.extension decoded as %+v", e)
	}
	m := st.Do[3].Params.(*Migrate)
	env := &steps.Env{Targets: steps.Targets{"db": "postgres://app:hunter22@db:5432/app"}, Redact: steps.NewRedactor()}
	d := m.Describe(env)
	if !strings.Contains(d, "migrations: 0001_a") || !strings.Contains(d, "waiting up to 10s") || strings.Contains(d, "hunter22") {
		t.Errorf("pg.migrate Describe = %q", d)
	}
}

func TestParseRejectsBadPgParams(t *testing.T) {
	for _, tc := range []struct {
		name, steps, want string
	}{
		{"unknown field", `        do:
          - pg.exec:
              sql: SELECT 1
              transactoin: false
`, `rb.yaml:18:15: pg.exec: unknown field "transactoin"`},
		{"wrong type", `        do:
          - pg.query:
              sql: SELECT 1
              rows: many
`, "rb.yaml:18:21: pg.query: cannot unmarshal string into Go struct field Query.Rows of type int"},
		{"no sql", `        do:
          - pg.exec: {target: db}
`, "rb.yaml:16:13: pg.exec: give exactly one of sql:, file: (in the workspace) or embedded: (compiled in)"},
		{"target spliced", `        do:
          - pg.exec: {sql: "SELECT '${target.db}'"}
`, "rb.yaml:16:13: pg.exec: SQL may not contain ${target.NAME}"},
		{"missing ident", `        do:
          - pg.exec: {sql: "DROP TABLE ${ident:t}"}
`, "rb.yaml:16:13: pg.exec: SQL uses ${ident:t} with no value"},
		{"bad setting expr", `        verify:
          - pg.settings: {expect: ["pgaudit.log is ddl"]}
`, `rb.yaml:16:13: pg.settings: expect: "pgaudit.log is ddl" is not NAME OP VALUE`},
		{"two modes", `        undo:
          - pg.migrate: {dir: m, down: 1, revert: true}
`, "rb.yaml:16:13: pg.migrate: give at most one of the keys to, down, revert and force"},
		{"args with two statements", `        do:
          - pg.exec: {sql: "SELECT $1; SELECT 2", args: [1]}
`, "args bind to one statement, and this SQL has 2"},
		{"set without value", `        do:
          - pg.set: {name: pgaudit.log}
`, "pg.set: give value: (to set it) or restore: true (the undo), not both or neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.steps)
			if err == nil {
				t.Fatalf("parsed; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
