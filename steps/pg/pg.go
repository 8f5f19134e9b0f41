// Package pg is the PostgreSQL action family: run SQL in a transaction,
// query and assert on the result, assert server settings and extensions,
// change a setting with a saved undo, run schema migrations up and down,
// set a role's password from a secret file (as a SCRAM verifier computed
// here) and check that a login is accepted or refused.
//
// Every action connects through a target (kind postgres; "db" unless the
// action names another with `target:`). The target's value is a URL or
// keyword DSN; when it is empty or unset the libpq PG* environment variables
// apply (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...). A password
// read from `password_file:` or found in the DSN is taught to the redactor
// before anything is printed, so it never reaches output, errors or the
// journal.
//
// Identifiers and literals are never spliced into SQL from runbook values:
// values go in as bind parameters (`args:`), or, where PostgreSQL takes no
// parameters (utility statements such as ALTER DATABASE ... SET), through
// `${ident:NAME}` and `${literal:NAME}` placeholders that are quoted the way
// the server's quote_ident and quote_literal do.
package pg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/runbook-dev/runbook/steps"
)

// DefaultTarget is the target pg actions use when they name none.
const DefaultTarget = "db"

// defaultConnectTimeout bounds a connection attempt when the DSN sets none,
// so an unreachable server fails in seconds, not at the step's timeout.
const defaultConnectTimeout = 10 * time.Second

// Options configure the family.
type Options struct {
	// Embedded is where `embedded:` paths of pg.exec and pg.migrate
	// resolve (SQL files and migration directories compiled into the
	// binary). Nil: such actions fail, saying this build has none.
	Embedded fs.FS
}

// Register adds the pg action types to a registry, without embedded files.
func Register(r *steps.Registry) { RegisterWith(r, Options{}) }

// RegisterWith adds the pg action types to a registry.
func RegisterWith(r *steps.Registry, opt Options) {
	r.Register("pg.exec", func() steps.Action { return &Exec{embedded: opt.Embedded} })
	r.Register("pg.query", func() steps.Action { return new(Query) })
	r.Register("pg.settings", func() steps.Action { return new(Settings) })
	r.Register("pg.extension", func() steps.Action { return new(Extension) })
	r.Register("pg.set", func() steps.Action { return new(Set) })
	r.Register("pg.migrate", func() steps.Action { return &Migrate{embedded: opt.Embedded} })
	r.Register("pg.password", func() steps.Action { return new(Password) })
	r.Register("pg.login", func() steps.Action { return new(Login) })
}

// Conn holds the connection parameters every pg action shares.
type Conn struct {
	// Target names the postgres target (default "db").
	Target string `yaml:"target"`
	// Database connects to another database of the same server (for
	// example "postgres", to create or drop a database).
	Database string `yaml:"database"`
	// PasswordFile is a file holding the password (a Docker secret such as
	// /run/secrets/db_password); relative paths are in the workspace.
	PasswordFile string `yaml:"password_file"`
}

func (c *Conn) target() string {
	if c.Target == "" {
		return DefaultTarget
	}
	return c.Target
}

func (c *Conn) validate() error {
	if c.Target != "" && strings.TrimSpace(c.Target) != c.Target {
		return fmt.Errorf("target %q has surrounding spaces", c.Target)
	}
	return nil
}

// show describes the connection for the plan view: the DSN with its
// password masked, or the PG* environment when the target is empty. No I/O.
func (c *Conn) show(env *steps.Env) string {
	dsn := env.Targets[c.target()]
	where := "target " + c.target()
	switch {
	case dsn == "":
		where += " (PG* environment)"
	default:
		where += " (" + maskDSN(env, dsn) + ")"
	}
	if c.Database != "" {
		where += ", database " + env.ShowExpand(c.Database)
	}
	if c.PasswordFile != "" {
		where += ", password from " + c.PasswordFile
	}
	return where
}

// maskDSN shows a DSN with its password masked, whatever its form.
func maskDSN(env *steps.Env, dsn string) string {
	// Not pgconn.ParseConfig: it reads .pgpass and service files, and the
	// plan view does no I/O. The redactor knows URL passwords and
	// password=... pairs; a URL's user info is masked here whole, however
	// it is escaped.
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			dsn = strings.Replace(u.String(), ":xxxxx@", ":"+steps.Mask+"@", 1)
		}
	}
	return env.Redact.String(dsn)
}

// session is an open connection and how to name it in messages.
type session struct {
	conn     *pgx.Conn
	endpoint string // postgres://user@host:port/db, never a password
}

func (s *session) close() {
	if s != nil && s.conn != nil {
		// A fresh context: closing must happen even when ctx is cancelled.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.conn.Close(ctx)
	}
}

// connect opens one connection for an action. Output lines go to env.Out.
func (c *Conn) connect(ctx context.Context, env *steps.Env) (*session, error) {
	return c.connectAs(ctx, env, "")
}

// cancelRequestDelay is how long a cancelled context waits before runbook
// asks the server to cancel the running statement; deadlineDelay is when
// the socket is given up on if the server does not answer that request.
const (
	cancelRequestDelay = 0
	deadlineDelay      = 5 * time.Second
)

// connectFailure is a connection error that names where it tried.
type connectFailure struct {
	redactedError
	endpoint string
}

// connectAs is connect as another user (empty: the target's).
func (c *Conn) connectAs(ctx context.Context, env *steps.Env, user string) (*session, error) {
	name := c.target()
	dsn := env.Targets[name]
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, redactedf(env, err, "target %s: cannot read the database address %s: %v: expected a URL (postgres://USER@HOST:5432/DB) or key=value pairs; set it with --target %s=DSN or the target's environment variable", name, maskDSN(env, dsn), err, name)
	}
	// Whatever password the DSN, PGPASSWORD or a .pgpass file gave is a
	// secret from here on.
	env.Redact.Add(cfg.Password)
	if c.Database != "" {
		db, err := env.Expand(c.Database)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		cfg.Database = db
	}
	if c.PasswordFile != "" {
		pw, err := readPasswordFile(env, "password_file", c.PasswordFile)
		if err != nil {
			return nil, err
		}
		cfg.Password = pw
	}
	if user != "" {
		cfg.User = user
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = appName(env.Step)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		env.Printf("%s: %s", n.Severity, env.Redact.String(n.Message))
	}
	// A cancelled step (the operator quit, the step timed out) must stop
	// its statement on the server, not only here: closing the socket
	// leaves a pg_sleep or a long UPDATE running, holding its locks, until
	// the server notices the client is gone. So a cancelled context sends
	// a cancel request at once, and gives the socket up after a grace.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: cancelRequestDelay, DeadlineDelay: deadlineDelay}
	}
	s := &session{endpoint: endpoint(&cfg.Config)}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		how := "set the target with --target " + name + "=postgres://USER@HOST:PORT/DB or its environment variable (e.g. RUNBOOK_DB_DSN)"
		if dsn == "" {
			how = "target " + name + " is empty, so the PG* environment applied: " + how + ", or set PGHOST/PGPORT/PGUSER"
		}
		hint := "is the database up and listening there? " + how
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			switch pe.Code {
			case "28P01", "28000":
				hint = "check the user and password (password_file, PGPASSWORD or the DSN) and pg_hba.conf"
			case "3D000":
				hint = "create the database first, or connect to an existing one with database:"
			}
		}
		re := redactedf(env, err, "connect to %s (target %s): %v: %s", s.endpoint, name, err, hint).(*redactedError)
		return nil, &connectFailure{redactedError: *re, endpoint: s.endpoint}
	}
	s.conn = conn
	return s, nil
}

// appName is the application_name runbook's sessions carry, so a lock
// holder or a long query can be traced to a step in pg_stat_activity.
func appName(step string) string {
	n := "runbook"
	if step != "" {
		n += " " + step
	}
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// endpoint names where a config connects, without its password.
func endpoint(cfg *pgconn.Config) string {
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		return fmt.Sprintf("postgres://%s@[unix socket %s/.s.PGSQL.%d]/%s", cfg.User, host, cfg.Port, cfg.Database)
	}
	return fmt.Sprintf("postgres://%s@%s/%s", cfg.User, net.JoinHostPort(host, strconv.Itoa(int(cfg.Port))), cfg.Database)
}

func readPasswordFile(env *steps.Env, what, p string) (string, error) {
	p, err := env.Expand(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if !filepath.IsAbs(p) && env.Workspace != "" {
		p = filepath.Join(env.Workspace, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read %s %s: %w: point %s at the secret file (e.g. /run/secrets/db_password)", what, p, err, what)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%s %s is empty", what, p)
	}
	env.Redact.Add(pw)
	return pw, nil
}

// redactedError carries a message with secrets masked while keeping the
// cause for errors.Is / errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactedf formats a message (which may include cause's text) and masks
// every secret the redactor knows.
func redactedf(env *steps.Env, cause error, format string, args ...any) error {
	return &redactedError{msg: env.Redact.String(fmt.Sprintf(format, args...)), err: cause}
}

// pgErrorText renders a server error with the statement position as
// line:col of the SQL text it came from, and PostgreSQL's detail and hint.
func pgErrorText(err error, sql string, offset int) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	s := pe.Severity + ": " + pe.Message + " (SQLSTATE " + pe.Code + ")"
	if pe.Position > 0 {
		line, col, text := lineCol(sql, offset, int(pe.Position))
		s += fmt.Sprintf(" at line %d, column %d: %s", line, col, strings.TrimSpace(text))
	}
	if pe.Detail != "" {
		s += "; detail: " + pe.Detail
	}
	if pe.Hint != "" {
		s += "; hint: " + pe.Hint
	}
	return s
}

// lineCol turns a 1-based character position inside the statement that
// starts at byte offset of sql into a line and column of the whole text.
func lineCol(sql string, offset, pos int) (line, col int, text string) {
	if offset < 0 || offset > len(sql) {
		offset = 0
	}
	i := offset
	for n := 1; n < pos && i < len(sql); n++ {
		_, size := utf8.DecodeRuneInString(sql[i:])
		i += size
	}
	line = 1 + strings.Count(sql[:i], "\n")
	start := strings.LastIndexByte(sql[:i], '\n') + 1
	end := strings.IndexByte(sql[i:], '\n')
	if end < 0 {
		end = len(sql)
	} else {
		end += i
	}
	col = 1 + len([]rune(sql[start:i]))
	return line, col, sql[start:end]
}
