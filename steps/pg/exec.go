package pg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// Exec is the `pg.exec` action: run SQL, in one transaction unless told
// otherwise.
//
//   - pg.exec:
//     target: db                  # default
//     sql: |
//     CREATE EXTENSION IF NOT EXISTS pgcrypto;
//     ALTER DATABASE ${ident:db} SET pgaudit.log = ${literal:classes};
//     idents: {db: app}
//     literals: {classes: "ddl,write"}
//   - pg.exec:
//     sql: INSERT INTO notes(body) VALUES ($1)
//     args: ["${target.note}"]
//   - pg.exec:
//     database: postgres
//     sql: CREATE DATABASE scratch
//     transaction: false          # CREATE DATABASE, ALTER SYSTEM, VACUUM ...
//
// The script is split into statements (quotes, dollar quotes and comments
// respected) and each is run in turn, so output names each statement's
// result and an error names the statement's line. With `args:` the SQL must
// be one statement: its $1, $2 ... are bound, never spliced.
type Exec struct {
	Conn `yaml:",inline"`
	// SQL is the script; File (in the workspace) or Embedded (in the
	// binary) name a file holding it instead.
	SQL      string `yaml:"sql"`
	File     string `yaml:"file"`
	Embedded string `yaml:"embedded"`
	// Args are bind parameters for $1, $2 ...; strings may use
	// ${target.NAME}.
	Args []any `yaml:"args"`
	// Idents and Literals fill ${ident:K} and ${literal:K}, quoted.
	Idents   map[string]string `yaml:"idents"`
	Literals map[string]string `yaml:"literals"`
	// Transaction: nil or true runs the whole script in one transaction.
	Transaction *bool `yaml:"transaction"`

	embedded fs.FS
	valid    bool
}

// Validate implements runbooks.Validator.
func (e *Exec) Validate() error {
	if err := e.Conn.validate(); err != nil {
		return err
	}
	n := 0
	for _, s := range []string{e.SQL, e.File, e.Embedded} {
		if strings.TrimSpace(s) != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of sql:, file: (in the workspace) or embedded: (compiled in)")
	}
	if e.SQL != "" {
		if err := checkPlaceholders(e.SQL, e.Idents, e.Literals); err != nil {
			return err
		}
		stmts, err := splitSQL(e.SQL)
		if err != nil {
			return fmt.Errorf("sql: %w", err)
		}
		if len(stmts) == 0 {
			return errors.New("sql holds no statement")
		}
		if len(e.Args) > 0 && len(stmts) > 1 {
			return fmt.Errorf("args bind to one statement, and this SQL has %d: split it into several pg.exec actions", len(stmts))
		}
	}
	for _, a := range e.Args {
		switch a.(type) {
		case nil, string, bool, int64, uint64, float64, int:
		default:
			return fmt.Errorf("args: %v is a %T; bind parameters must be strings, numbers, booleans or null", a, a)
		}
	}
	e.valid = true
	return nil
}

func (e *Exec) inTx() bool { return e.Transaction == nil || *e.Transaction }

// Describe implements steps.Action.
func (e *Exec) Describe(env *steps.Env) string {
	var b strings.Builder
	b.WriteString("exec SQL on " + e.show(env))
	if e.inTx() {
		b.WriteString(" in one transaction")
	} else {
		b.WriteString(" statement by statement, no transaction")
	}
	switch {
	case e.File != "":
		b.WriteString(": the statements of " + e.File)
	case e.Embedded != "":
		b.WriteString(": the statements of embedded " + e.Embedded)
	default:
		sql, err := fillPlaceholders(env, e.SQL, e.Idents, e.Literals, true)
		if err != nil {
			sql = e.SQL
		}
		b.WriteString(":\n" + env.Redact.String(strings.TrimSpace(sql)))
	}
	if len(e.Args) > 0 {
		b.WriteString("\nwith " + showArgs(env, e.Args))
	}
	return b.String()
}

func showArgs(env *steps.Env, args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		v := "NULL"
		switch x := a.(type) {
		case nil:
		case string:
			v = "'" + env.ShowExpand(x) + "'"
		default:
			v = fmt.Sprint(x)
		}
		parts[i] = fmt.Sprintf("$%d = %s", i+1, v)
	}
	return strings.Join(parts, ", ")
}

// bindArgs expands ${target.NAME} in string args.
func bindArgs(env *steps.Env, args []any) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			v, err := env.Expand(s)
			if err != nil {
				return nil, fmt.Errorf("args[%d]: %w", i, err)
			}
			a = v
		}
		out[i] = a
	}
	return out, nil
}

// script loads the SQL text of an action: inline, workspace file or
// embedded file.
func script(env *steps.Env, inline, file, embedded string, emb fs.FS) (text, name string, err error) {
	switch {
	case file != "":
		p := file
		if !filepath.IsAbs(p) && env.Workspace != "" {
			p = filepath.Join(env.Workspace, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", "", fmt.Errorf("read SQL file %s: %w", p, err)
		}
		return string(b), file, nil
	case embedded != "":
		if emb == nil {
			return "", "", fmt.Errorf("embedded SQL %s: this build has no embedded files for pg actions; use file: with a path in the workspace", embedded)
		}
		b, err := fs.ReadFile(emb, embedded)
		if err != nil {
			return "", "", fmt.Errorf("read embedded SQL %s: %w", embedded, err)
		}
		return string(b), embedded, nil
	}
	return inline, "sql", nil
}

// Run implements steps.Action.
func (e *Exec) Run(ctx context.Context, env *steps.Env) error {
	if !e.valid {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	text, name, err := script(env, e.SQL, e.File, e.Embedded, e.embedded)
	if err != nil {
		return err
	}
	sql, err := fillPlaceholders(env, text, e.Idents, e.Literals, false)
	if err != nil {
		return redactedf(env, err, "%s: %v", name, err)
	}
	stmts, err := splitSQL(sql)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(stmts) == 0 {
		return fmt.Errorf("%s holds no statement", name)
	}
	if len(e.Args) > 0 && len(stmts) > 1 {
		return fmt.Errorf("%s: args bind to one statement, and it has %d: split it into several pg.exec actions", name, len(stmts))
	}
	args, err := bindArgs(env, e.Args)
	if err != nil {
		return err
	}
	s, err := e.connect(ctx, env)
	if err != nil {
		return err
	}
	defer s.close()
	env.Printf("connected to %s", s.endpoint)
	return execScript(ctx, env, s, name, sql, stmts, args, e.inTx())
}

// execScript runs statements, in one transaction when tx is set. Errors
// name the statement (by its line in the script) and, inside a
// transaction, say that nothing was applied.
func execScript(ctx context.Context, env *steps.Env, s *session, name, sql string, stmts []statement, args []any, tx bool) (err error) {
	var t pgx.Tx
	if tx {
		if t, err = s.conn.Begin(ctx); err != nil {
			return redactedf(env, err, "begin a transaction on %s: %v", s.endpoint, err)
		}
		defer func() {
			if err != nil {
				// A fresh context: roll back even when ctx is what failed.
				rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = t.Rollback(rctx)
			}
		}()
	}
	for i, st := range stmts {
		var tag string
		if tx {
			ct, xerr := t.Exec(ctx, st.SQL, args...)
			tag, err = ct.String(), xerr
		} else {
			ct, xerr := s.conn.Exec(ctx, st.SQL, args...)
			tag, err = ct.String(), xerr
		}
		if err != nil {
			line, _, _ := lineCol(sql, st.Offset, 1)
			what := fmt.Sprintf("%s: statement %d of %d (line %d) failed on %s: %s", name, i+1, len(stmts), line, s.endpoint, pgErrorText(err, sql, st.Offset))
			switch {
			case tx:
				what += "; the transaction was rolled back, nothing was applied"
				if strings.Contains(err.Error(), "cannot run inside a transaction block") || strings.Contains(err.Error(), "cannot be executed within a pipeline") {
					what += ": this statement cannot run in a transaction, set transaction: false"
				}
			case i > 0:
				what += fmt.Sprintf("; no transaction: the %d statement(s) before it stay applied", i)
			}
			return redactedf(env, err, "%s", what)
		}
		env.Printf("%s", tag)
	}
	if tx {
		if err = t.Commit(ctx); err != nil {
			return redactedf(env, err, "%s: commit on %s: %v: nothing was applied", name, s.endpoint, err)
		}
		env.Printf("COMMIT")
	}
	return nil
}
