package pg

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/steps"
)

func TestCheckEval(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		op, want string
		got      *string
		ok       bool
	}{
		{"=", "on", str("on"), true},
		{"=", "true", str("on"), true},
		{"=", "off", str("on"), false},
		{"=", "1.5", str("1.50"), true},
		{"=", "1", str("t"), false},
		{"=", "ddl,write", str("ddl,write"), true},
		{"=", "ddl", str("ddl,write"), false},
		{"=", "x", nil, false},
		{"!=", "x", nil, true},
		{"!=", "none", str("ddl"), true},
		{"contains", "pgaudit", str("pg_stat_statements, pgaudit"), true},
		{"contains", "pgaudit", str(`"pgaudit"`), true},
		{"contains", "audit", str("pgaudit"), false},
		{"!contains", "pgaudit", str(""), true},
		{"matches", `^ddl(,|$)`, str("ddl,write"), true},
		{"matches", `^write`, str("ddl,write"), false},
		{">=", "50", str("100"), true},
		{"<", "50", str("100"), false},
		{">", "1", str("abc"), false},
	} {
		c, err := newCheck(tc.op, tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.eval(tc.got); got != tc.ok {
			v := "NULL"
			if tc.got != nil {
				v = *tc.got
			}
			t.Errorf("%s %s on %q = %t, want %t", tc.op, tc.want, v, got, tc.ok)
		}
	}
	if _, err := newCheck("~", "x"); err == nil || !strings.Contains(err.Error(), `unknown operator "~"`) {
		t.Errorf("bad op: %v", err)
	}
	if _, err := newCheck(">", "many"); err == nil || err.Error() != `> needs a number, got "many"` {
		t.Errorf("non-numeric >: %v", err)
	}
}

func TestParseSettingExpr(t *testing.T) {
	for in, want := range map[string]settingCheck{
		"shared_preload_libraries contains pgaudit": {Name: "shared_preload_libraries", check: check{Op: "contains", Want: "pgaudit"}},
		"pgaudit.log = 'ddl,write'":                 {Name: "pgaudit.log", check: check{Op: "=", Want: "ddl,write"}},
		"ssl=on":                                    {Name: "ssl", check: check{Op: "=", Want: "on"}},
		"search_path = '\"$user\", public'":         {Name: "search_path", check: check{Op: "=", Want: `"$user", public`}},
		"application_name = ''":                     {Name: "application_name", check: check{Op: "=", Want: ""}},
		"x = 'it''s'":                               {Name: "x", check: check{Op: "=", Want: "it's"}},
		"max_connections >= 50":                     {Name: "max_connections", check: check{Op: ">=", Want: "50"}},
		"log_statement <> all":                      {Name: "log_statement", check: check{Op: "!=", Want: "all"}},
	} {
		got, err := parseSettingExpr(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		got.re = nil
		if got != want {
			t.Errorf("%q = %+v, want %+v", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"pgaudit.log":                        "is not NAME OP VALUE",
		"pgaudit.log =":                      "has no value: write '' for an empty one",
		"x = 'a'b'":                          "a quote inside a quoted value is written ''",
		"x matches (":                        "matches: error parsing regexp",
		"1x = 2":                             "is not NAME OP VALUE",
		"shared_preload_librariescontains x": "put spaces around contains",
	} {
		_, err := parseSettingExpr(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestQueryJudge(t *testing.T) {
	str := func(s string) *string { return &s }
	rows := func(vals ...*string) [][]cell {
		var out [][]cell
		for _, v := range vals {
			out = append(out, []cell{v})
		}
		return out
	}
	n := func(i int) *int { return &i }
	for _, tc := range []struct {
		name string
		q    Query
		got  [][]cell
		want string
	}{
		{"rows ok", Query{SQL: "x", Rows: n(2)}, rows(str("a"), str("b")), ""},
		{"rows wrong", Query{SQL: "x", Rows: n(0)}, rows(str("a")), "expected 0 row(s), found 1"},
		{"expect ok", Query{SQL: "x", Expect: [][]any{{"a"}, {nil}}}, rows(str("a"), nil), ""},
		{"expect wrong", Query{SQL: "x", Expect: [][]any{{"pgcrypto"}}}, rows(str("plpgsql")), "expected rows ['pgcrypto'], found ['plpgsql']"},
		{"expect none found", Query{SQL: "x", Expect: [][]any{{uint64(1)}}}, nil, "expected rows ['1'], found (none)"},
		{"value ok", Query{SQL: "x", Value: uint64(1)}, rows(str("1")), ""},
		{"value wrong", Query{SQL: "x", Value: "on"}, rows(str("off")), "expected the value = 'on', found 'off'"},
		{"value null", Query{SQL: "x", Value: "on"}, rows(nil), "expected the value = 'on', found NULL"},
		{"value shape", Query{SQL: "x", Value: "on"}, rows(str("a"), str("b")), "expected one value (1 row, 1 column) = 'on', found 2 row(s) of 1 column(s)"},
		{"value op", Query{SQL: "x", Value: uint64(3), Op: ">="}, rows(str("2")), "expected the value >= '3', found '2'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.q.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tc.q.judge(tc.got); got != tc.want {
				t.Errorf("judge = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_add_col.up.sql":   {Data: []byte("ALTER TABLE t ADD c int;")},
		"m/0002_add_col.down.sql": {Data: []byte("ALTER TABLE t DROP c;")},
		"m/0001_create.up.sql":    {Data: []byte("CREATE TABLE t(id int);")},
		"m/10_index.up.sql":       {Data: []byte("\n-- runbook:no-transaction\nCREATE INDEX CONCURRENTLY i ON t(id);")},
		"m/README.md":             {Data: []byte("not a migration")},
		"dup/1_a.up.sql":          {Data: []byte("SELECT 1")},
		"dup/01_b.up.sql":         {Data: []byte("SELECT 1")},
		"bad/create.sql":          {Data: []byte("SELECT 1")},
		"orphan/1_a.down.sql":     {Data: []byte("SELECT 1")},
		"empty/1_a.up.sql":        {Data: []byte("-- nothing\n")},
		"unterminated/1_a.up.sql": {Data: []byte("SELECT 'x")},
		"none/notes.txt":          {Data: []byte("")},
	}
	ms, err := loadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.name)
	}
	if strings.Join(got, " ") != "0001_create 0002_add_col 10_index" {
		t.Fatalf("order = %v", got)
	}
	if ms[0].hasDown || !ms[1].hasDown || !ms[0].upTx || ms[2].upTx {
		t.Errorf("down/tx flags wrong: %+v", ms)
	}
	for dir, want := range map[string]string{
		"dup":          "migrations 01_b and 1_a have the same version 1",
		"bad":          "migration file bad/create.sql: expected VERSION_NAME.up.sql",
		"orphan":       "migration 1_a has a down file and no 1_a.up.sql",
		"empty":        "migration empty/1_a.up.sql holds no SQL",
		"unterminated": "migration unterminated/1_a.up.sql: unterminated string",
		"none":         "no migrations in none",
		"missing":      "read migrations directory missing",
	} {
		_, err := loadMigrations(fsys, dir)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", dir, err, want)
		}
	}
}

func TestDescribeMasksPasswords(t *testing.T) {
	for _, dsn := range []string{
		"postgres://app:pl4nted-Secret@db:5432/app?sslmode=disable",
		"postgres://app:pl4nted%2FSecret@db:5432/app",
		"host=db user=app password=pl4nted-Secret dbname=app",
		"host=db user=app password='pl4nted Secret' dbname=app",
	} {
		env := &steps.Env{Targets: steps.Targets{"db": dsn, "note": "pl4nted-Secret"}, Redact: steps.NewRedactor()}
		for _, a := range []steps.Action{
			&Exec{SQL: "INSERT INTO t VALUES ($1)", Args: []any{"${target.note}"}},
			&Query{SQL: "SELECT 1", Value: uint64(1)},
			&Settings{Expect: []string{"ssl = on"}},
			&Extension{Name: "pgcrypto"},
			&Set{Name: "pgaudit.log", Value: "ddl"},
			&Migrate{Dir: "m", Conn: Conn{PasswordFile: "/run/secrets/db_password"}},
		} {
			// The note target is not marked secret; teach the redactor the
			// way ResolveTargets would for a secret target.
			env.Redact.Add("pl4nted-Secret")
			d := a.Describe(env)
			if strings.Contains(d, "pl4nted") || strings.Contains(d, "Secret") {
				t.Errorf("%T.Describe with %q shows the password: %s", a, dsn, d)
			}
			if !strings.Contains(d, "db") {
				t.Errorf("%T.Describe does not name the target: %s", a, d)
			}
		}
	}
	env := &steps.Env{Targets: steps.Targets{}, Redact: steps.NewRedactor()}
	if d := (&Extension{Name: "pgcrypto"}).Describe(env); !strings.Contains(d, "target db (PG* environment)") {
		t.Errorf("empty target: %s", d)
	}
}

func TestLockKeyStable(t *testing.T) {
	a, b := lockKey(`"public"."runbook_schema_version"`), lockKey(`"public"."other"`)
	if a == b {
		t.Fatal("two tables share a lock key")
	}
	if a != lockKey(`"public"."runbook_schema_version"`) {
		t.Fatal("lock key is not stable")
	}
}
