package pg

import (
	"reflect"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps"
)

func TestSplitSQL(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{"one", "SELECT 1", []string{"SELECT 1"}},
		{"two with trailing", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"empty statements dropped", ";;  ;\n-- just a comment\n;", nil},
		{"semicolon in string", "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"doubled quote", "SELECT 'it''s; fine'; SELECT 2", []string{"SELECT 'it''s; fine'", "SELECT 2"}},
		{"E string backslash quote", `SELECT E'a\';b'; SELECT 2`, []string{`SELECT E'a\';b'`, "SELECT 2"}},
		{"plain string backslash is literal", `SELECT 'a\'; SELECT 2`, []string{`SELECT 'a\'`, "SELECT 2"}},
		{"quoted identifier", `SELECT 1 AS "x;y"; SELECT 2`, []string{`SELECT 1 AS "x;y"`, "SELECT 2"}},
		{"line comment", "SELECT 1 -- not; here\n; SELECT 2", []string{"SELECT 1 -- not; here", "SELECT 2"}},
		{"nested block comment", "SELECT /* a /* b; */ c; */ 1; SELECT 2", []string{"SELECT /* a /* b; */ c; */ 1", "SELECT 2"}},
		{"dollar quote", "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2",
			[]string{"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "SELECT 2"}},
		{"tagged dollar quote with $$ inside", "DO $body$ BEGIN PERFORM '$$;'; END $body$; SELECT 2",
			[]string{"DO $body$ BEGIN PERFORM '$$;'; END $body$", "SELECT 2"}},
		{"positional params are not dollar quotes", "SELECT $1, $2; SELECT 3", []string{"SELECT $1, $2", "SELECT 3"}},
		{"identifier with dollar", "SELECT a$b$c FROM t; SELECT 2", []string{"SELECT a$b$c FROM t", "SELECT 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitSQL(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			var sqls []string
			for _, s := range got {
				sqls = append(sqls, s.SQL)
				if !strings.HasPrefix(tc.src[s.Offset:], s.SQL) {
					t.Errorf("offset %d of %q does not point at it", s.Offset, s.SQL)
				}
			}
			if !reflect.DeepEqual(sqls, tc.want) {
				t.Errorf("split(%q) = %q, want %q", tc.src, sqls, tc.want)
			}
		})
	}
}

func TestSplitSQLUnterminated(t *testing.T) {
	for src, want := range map[string]string{
		"SELECT 1;\nSELECT 'abc":     "unterminated string starting at line 2, column 8",
		"SELECT \"x":                 "unterminated quoted identifier starting at line 1, column 8",
		"SELECT 1 /* never closed":   "unterminated block comment starting at line 1, column 10",
		"DO $x$ BEGIN END $y$":       "unterminated dollar-quoted string $x$ starting at line 1, column 4",
		"SELECT E'it\\'s unfinished": "unterminated string starting at line 1, column 9",
	} {
		_, err := splitSQL(src)
		if err == nil || err.Error() != want {
			t.Errorf("splitSQL(%q) error = %v, want %q", src, err, want)
		}
	}
}

func TestQuoteLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"":             "''",
		"ddl,write":    "'ddl,write'",
		"it's":         "'it''s'",
		`back\slash`:   `E'back\\slash'`,
		`both\'`:       `E'both\\'''`,
		"ünïcødé ✓":    "'ünïcødé ✓'",
		"'; DROP x --": "'''; DROP x --'",
	} {
		got, err := quoteLiteral(in)
		if err != nil || got != want {
			t.Errorf("quoteLiteral(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a\x00b", "\xff"} {
		if _, err := quoteLiteral(bad); err == nil {
			t.Errorf("quoteLiteral(%q) accepted", bad)
		}
	}
}

func TestFillPlaceholders(t *testing.T) {
	env := &steps.Env{Targets: steps.Targets{"dbname": "app", "pw": "s3cret-value"}, Redact: steps.NewRedactor("s3cret-value")}
	sql := "ALTER ROLE ${ident:role} PASSWORD ${literal:pw}; ALTER DATABASE ${ident:db} SET x = ${literal:v}"
	idents := map[string]string{"role": `we"ird`, "db": "${target.dbname}"}
	literals := map[string]string{"pw": "${target.pw}", "v": "it's"}
	got, err := fillPlaceholders(env, sql, idents, literals, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `ALTER ROLE "we""ird" PASSWORD 's3cret-value'; ALTER DATABASE "app" SET x = 'it''s'`
	if got != want {
		t.Errorf("run form:\n got %s\nwant %s", got, want)
	}
	shown, err := fillPlaceholders(env, sql, idents, literals, true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(shown, "s3cret") || !strings.Contains(shown, "PASSWORD '[redacted]'") {
		t.Errorf("plan form shows %s", shown)
	}
	if _, err := fillPlaceholders(env, "SELECT ${ident:nope}", nil, nil, false); err == nil || !strings.Contains(err.Error(), "${ident:nope} with no value") {
		t.Errorf("missing ident: %v", err)
	}
	if _, err := fillPlaceholders(env, "SELECT ${ident:x}", map[string]string{"x": "${target.missing}"}, nil, false); err == nil || !strings.Contains(err.Error(), `unknown target "missing"`) {
		t.Errorf("unknown target: %v", err)
	}
}

func TestLineCol(t *testing.T) {
	sql := "SELECT 1;\n\nCREAT TABLE x();"
	line, col, text := lineCol(sql, 11, 1)
	if line != 3 || col != 1 || text != "CREAT TABLE x();" {
		t.Errorf("lineCol = %d, %d, %q", line, col, text)
	}
	line, col, _ = lineCol("SELECT 'é', nope", 0, 13)
	if line != 1 || col != 13 {
		t.Errorf("lineCol with multibyte = %d:%d, want 1:13", line, col)
	}
}
