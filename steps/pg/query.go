package pg

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// maxShownRows bounds how many result rows a query prints.
const maxShownRows = 20

// Query is the `pg.query` action: run one query and assert on its result.
//
//   - pg.query:
//     sql: SELECT count(*) FROM pg_extension WHERE extname = $1
//     args: [pgcrypto]
//     value: 1                     # the single value; op: = (default) ...
//   - pg.query:
//     sql: SELECT extname FROM pg_extension ORDER BY 1
//     expect: [[pgaudit], [pgcrypto], [plpgsql]]
//   - pg.query:
//     sql: SELECT 1 FROM pg_roles WHERE rolname = $1
//     args: [app_ro]
//     rows: 0
//
// Values are compared as the server prints them (text): NULL matches null,
// booleans match true/false/on/off, numbers compare as numbers.
type Query struct {
	Conn `yaml:",inline"`
	SQL  string `yaml:"sql"`
	Args []any  `yaml:"args"`
	// Idents fill ${ident:K} (quoted identifiers), for the rare query that
	// needs a name where no parameter may go.
	Idents map[string]string `yaml:"idents"`
	// Rows is the expected number of rows.
	Rows *int `yaml:"rows"`
	// Expect is every row's every value, in order.
	Expect [][]any `yaml:"expect"`
	// Value is the single value (one row, one column) compared with Op.
	Value any    `yaml:"value"`
	Op    string `yaml:"op"`

	chk   check
	valid bool
	env   *steps.Env // set on the copy judge works on
}

// Validate implements runbooks.Validator.
func (q *Query) Validate() error {
	if err := q.Conn.validate(); err != nil {
		return err
	}
	if strings.TrimSpace(q.SQL) == "" {
		return errors.New("sql is required")
	}
	if err := checkPlaceholders(q.SQL, q.Idents, nil); err != nil {
		return err
	}
	stmts, err := splitSQL(q.SQL)
	if err != nil {
		return fmt.Errorf("sql: %w", err)
	}
	if len(stmts) != 1 {
		return fmt.Errorf("sql must be one query, found %d statements", len(stmts))
	}
	n := 0
	if q.Rows != nil {
		n++
		if *q.Rows < 0 {
			return fmt.Errorf("rows %d: a row count cannot be negative", *q.Rows)
		}
	}
	if q.Expect != nil {
		n++
	}
	if q.Value != nil {
		n++
		want, err := textOf(q.Value)
		if err != nil {
			return fmt.Errorf("value: %w", err)
		}
		if hasTargetRef(want) {
			// Checked again with the target's value at run time; here
			// only the operator (a stand-in value for numeric ones).
			if _, err := newCheck(q.Op, "0"); err != nil {
				return fmt.Errorf("op: %w", err)
			}
			q.chk = check{Op: q.Op, Want: want}
			if q.chk.Op == "" {
				q.chk.Op = "="
			}
		} else if q.chk, err = newCheck(q.Op, want); err != nil {
			return fmt.Errorf("op: %w", err)
		}
	} else if q.Op != "" {
		return errors.New("op applies to value: give value too")
	}
	if n != 1 {
		return errors.New("give exactly one expectation: rows: N, expect: [[...], ...] or value: V (with op:)")
	}
	for i, row := range q.Expect {
		for j, v := range row {
			if _, err := textOf(v); err != nil {
				return fmt.Errorf("expect[%d][%d]: %w", i, j, err)
			}
		}
	}
	for _, a := range q.Args {
		switch a.(type) {
		case nil, string, bool, int64, uint64, float64, int:
		default:
			return fmt.Errorf("args: %v is a %T; bind parameters must be strings, numbers, booleans or null", a, a)
		}
	}
	q.valid = true
	return nil
}

// textOf renders an expected YAML scalar as text for comparison.
func textOf(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64, uint64, int:
		return fmt.Sprint(x), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("%v is a %T; expected a string, number, boolean or null", v, v)
}

// Describe implements steps.Action.
func (q *Query) Describe(env *steps.Env) string {
	sql, err := fillPlaceholders(env, q.SQL, q.Idents, nil, true)
	if err != nil {
		sql = q.SQL
	}
	s := "query " + q.show(env) + ":\n" + env.Redact.String(strings.TrimSpace(sql))
	if len(q.Args) > 0 {
		s += "\nwith " + showArgs(env, q.Args)
	}
	return s + "\nexpect " + q.expectation(env)
}

// hasTargetRef reports whether an expected value names a target.
func hasTargetRef(s string) bool { return strings.Contains(s, "${target.") }

var targetRefRE = regexp.MustCompile(`\$\{target\.[^}]*\}`)

func (q *Query) expectation(env *steps.Env) string {
	switch {
	case q.Rows != nil:
		return fmt.Sprintf("%d row(s)", *q.Rows)
	case q.Expect != nil:
		return env.Redact.String("rows " + showRows(expectedRows(env, q.Expect, true)))
	}
	if !q.valid {
		_ = q.Validate()
	}
	chk := q.chk
	chk.Want = env.ShowExpand(chk.Want)
	return "the value " + chk.String()
}

// cell is one result value as text; nil is NULL.
type cell = *string

// expectedRows renders the expected rows as text, expanding
// ${target.NAME} in string values (env nil: as written; show: secret
// values masked, for display).
func expectedRows(env *steps.Env, exp [][]any, show bool) [][]cell {
	out := make([][]cell, len(exp))
	for i, row := range exp {
		out[i] = make([]cell, len(row))
		for j, v := range row {
			if v == nil {
				continue
			}
			s, _ := textOf(v)
			if env != nil && hasTargetRef(s) {
				if show {
					s = env.ShowExpand(s)
				} else if x, err := env.Expand(s); err == nil {
					s = x
				}
			}
			out[i][j] = &s
		}
	}
	return out
}

func showRows(rows [][]cell) string {
	if len(rows) == 0 {
		return "(none)"
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = showRow(r)
	}
	return strings.Join(parts, ", ")
}

func showRow(r []cell) string {
	vals := make([]string, len(r))
	for i, c := range r {
		if c == nil {
			vals[i] = "NULL"
		} else {
			vals[i] = quoteShow(*c)
		}
	}
	return "[" + strings.Join(vals, ", ") + "]"
}

// Run implements steps.Action.
func (q *Query) Run(ctx context.Context, env *steps.Env) error {
	if !q.valid {
		if err := q.Validate(); err != nil {
			return err
		}
	}
	sql, err := fillPlaceholders(env, q.SQL, q.Idents, nil, false)
	if err != nil {
		return redactedf(env, err, "sql: %v", err)
	}
	args, err := bindArgs(env, q.Args)
	if err != nil {
		return err
	}
	xq, err := q.expanded(env)
	if err != nil {
		return err
	}
	s, err := q.connect(ctx, env)
	if err != nil {
		return err
	}
	defer s.close()
	rows, err := queryText(ctx, s, sql, args)
	if err != nil {
		return redactedf(env, err, "query on %s failed: %s", s.endpoint, pgErrorText(err, sql, 0))
	}
	for i, r := range rows {
		if i == maxShownRows {
			env.Printf("... %d more row(s)", len(rows)-maxShownRows)
			break
		}
		env.Printf("%s", env.Redact.String(showRow(r)))
	}
	env.Printf("(%d row(s))", len(rows))
	if msg := xq.judge(rows); msg != "" {
		return errors.New(env.Redact.String(fmt.Sprintf("query on %s: %s", s.endpoint, msg)))
	}
	return nil
}

// expanded is the query with ${target.NAME} in its expected values
// replaced by the targets' values.
func (q *Query) expanded(env *steps.Env) (*Query, error) {
	x := *q
	if x.Value != nil && hasTargetRef(x.chk.Want) {
		want, err := env.Expand(x.chk.Want)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		if x.chk, err = newCheck(x.chk.Op, want); err != nil {
			return nil, errors.New(env.Redact.String(fmt.Sprintf("value: %v", err)))
		}
	}
	for i, row := range x.Expect {
		for j, v := range row {
			if s, ok := v.(string); ok && hasTargetRef(s) {
				if _, err := env.Expand(s); err != nil {
					return nil, fmt.Errorf("expect[%d][%d]: %w", i, j, err)
				}
			}
		}
	}
	x.env = env
	return &x, nil
}

// judge returns "" when rows meet the expectation, or says expected vs
// found.
func (q *Query) judge(rows [][]cell) string {
	switch {
	case q.Rows != nil:
		if len(rows) != *q.Rows {
			return fmt.Sprintf("expected %d row(s), found %d", *q.Rows, len(rows))
		}
	case q.Expect != nil:
		want := expectedRows(q.env, q.Expect, false)
		if !sameRows(rows, want) {
			return fmt.Sprintf("expected rows %s, found %s", showRows(want), showRows(rows))
		}
	default:
		if len(rows) != 1 || len(rows[0]) != 1 {
			cols := 0
			if len(rows) > 0 {
				cols = len(rows[0])
			}
			return fmt.Sprintf("expected one value (1 row, 1 column) %s, found %d row(s) of %d column(s)", q.chk, len(rows), cols)
		}
		got := rows[0][0]
		if q.Value == nil || !q.chk.eval(got) {
			found := "NULL"
			if got != nil {
				found = quoteShow(*got)
			}
			return fmt.Sprintf("expected the value %s, found %s", q.chk, found)
		}
	}
	return ""
}

func sameRows(got, want [][]cell) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return false
		}
		for j := range got[i] {
			g, w := got[i][j], want[i][j]
			if (g == nil) != (w == nil) {
				return false
			}
			if g != nil && !sameValue(*g, *w) {
				return false
			}
		}
	}
	return true
}

// queryText runs a query and returns every value as the server's text,
// nil for NULL.
func queryText(ctx context.Context, s *session, sql string, args []any) ([][]cell, error) {
	// Text results for every column: values then compare as PostgreSQL
	// prints them, whatever their type.
	all := append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)
	rows, err := s.conn.Query(ctx, sql, all...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]cell
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]cell, len(raw))
		for i, b := range raw {
			if b != nil {
				v := string(b)
				row[i] = &v
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
