package pg

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// Set is the `pg.set` action: give a setting a value for a database, a
// role, or the whole server (ALTER SYSTEM), keeping what was there for the
// undo. The same action with `restore: true` is the undo.
//
//	do:
//	  - pg.set: {name: pgaudit.log, value: "ddl,write"}          # this database
//	  - pg.set: {scope: system, name: log_connections, value: "on", reload: true}
//	undo:
//	  - pg.set: {name: pgaudit.log, restore: true}
//	  - pg.set: {scope: system, name: log_connections, restore: true, reload: true}
//
// Scope database (the default) is ALTER DATABASE <the target's database>
// SET; role is ALTER ROLE <role> SET; system is ALTER SYSTEM SET, which a
// reload (`reload: true`, pg_reload_conf) or a restart makes take effect.
// New sessions see the value: check it with pg.settings.
type Set struct {
	Conn    `yaml:",inline"`
	Scope   string `yaml:"scope"`
	Role    string `yaml:"role"`
	Name    string `yaml:"name"`
	Value   any    `yaml:"value"`
	Reload  bool   `yaml:"reload"`
	Restore bool   `yaml:"restore"`

	value string
	valid bool
}

var settingNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

func (s *Set) scope() string {
	if s.Scope == "" {
		return "database"
	}
	return s.Scope
}

// Validate implements runbooks.Validator.
func (s *Set) Validate() error {
	if err := s.Conn.validate(); err != nil {
		return err
	}
	switch s.scope() {
	case "database", "system":
		if s.Role != "" {
			return fmt.Errorf("role applies to scope: role, not scope: %s", s.scope())
		}
	case "role":
		if strings.TrimSpace(s.Role) == "" {
			return errors.New("scope role needs role: the role name")
		}
	default:
		return fmt.Errorf("scope %q: expected database, role or system", s.Scope)
	}
	if !settingNameRE.MatchString(s.Name) {
		return fmt.Errorf("name %q is not a setting name (e.g. pgaudit.log, log_connections)", s.Name)
	}
	if s.Restore == (s.Value != nil) {
		return errors.New("give value: (to set it) or restore: true (the undo), not both or neither")
	}
	if s.Value != nil {
		v, err := textOf(s.Value)
		if err != nil {
			return fmt.Errorf("value: %w", err)
		}
		s.value = v
	}
	s.valid = true
	return nil
}

func (s *Set) where(env *steps.Env) string {
	switch s.scope() {
	case "system":
		return "the server (ALTER SYSTEM)"
	case "role":
		return "role " + env.ShowExpand(s.Role)
	}
	return "the database"
}

// Describe implements steps.Action.
func (s *Set) Describe(env *steps.Env) string {
	if !s.valid {
		_ = s.Validate()
	}
	var b strings.Builder
	if s.Restore {
		fmt.Fprintf(&b, "restore setting %s of %s on %s to what it was before this step (saved)", s.Name, s.where(env), s.show(env))
	} else {
		fmt.Fprintf(&b, "set %s = %s for %s on %s, saving the previous value for the undo", s.Name, quoteShow(env.Redact.String(s.value)), s.where(env), s.show(env))
	}
	if s.Reload {
		b.WriteString(", then pg_reload_conf()")
	}
	return b.String()
}

// prior is what a setting was before the step.
type prior struct {
	Database string `json:"database"`
	Set      bool   `json:"set"`
	Value    string `json:"value"`
}

func (s *Set) saveFile(env *steps.Env) string {
	role := ""
	if s.scope() == "role" {
		role = env.ShowExpand(s.Role)
	}
	return saveName("set", s.target(), s.scope(), role, strings.ToLower(s.Name))
}

// Run implements steps.Action.
func (s *Set) Run(ctx context.Context, env *steps.Env) error {
	if !s.valid {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	role := ""
	if s.scope() == "role" {
		r, err := env.Expand(s.Role)
		if err != nil {
			return fmt.Errorf("role: %w", err)
		}
		role = r
	}
	sess, err := s.connect(ctx, env)
	if err != nil {
		return err
	}
	defer sess.close()
	db := sess.conn.Config().Database
	name := s.saveFile(env)
	cur, err := s.current(ctx, sess.conn, role)
	if err != nil {
		return redactedf(env, err, "read the current %s of %s on %s: %v", s.Name, s.where(env), sess.endpoint, err)
	}
	var to prior
	if s.Restore {
		ok, err := loadSaved(env.SaveDir, name, &to)
		if err != nil {
			return err
		}
		if !ok {
			env.Printf("%s: nothing saved by this step's do, so nothing to restore (it never changed it)", s.Name)
			return nil
		}
		if s.scope() != "system" && to.Database != db {
			return fmt.Errorf("the saved %s was for database %s, and this connects to %s: point the undo at the same database as the do", s.Name, to.Database, db)
		}
	} else {
		to = prior{Database: db, Set: true, Value: s.value}
		if _, err := saveOnce(env.SaveDir, name, prior{Database: db, Set: cur != nil, Value: deref(cur)}); err != nil {
			return err
		}
	}
	stmt, err := s.statement(db, role, to)
	if err != nil {
		return err
	}
	if _, err := sess.conn.Exec(ctx, stmt); err != nil {
		return redactedf(env, err, "set %s of %s on %s: %s", s.Name, s.where(env), sess.endpoint, pgErrorText(err, stmt, 0))
	}
	was := "not set"
	if cur != nil {
		was = quoteShow(*cur)
	}
	now := "not set (default)"
	if to.Set {
		now = quoteShow(to.Value)
	}
	env.Printf("%s for %s: was %s, now %s", s.Name, s.where(env), env.Redact.String(was), env.Redact.String(now))
	if s.Reload {
		var ok bool
		if err := sess.conn.QueryRow(ctx, "SELECT pg_reload_conf()").Scan(&ok); err != nil || !ok {
			return redactedf(env, err, "pg_reload_conf() on %s: %v (the setting is written; reload or restart the server)", sess.endpoint, err)
		}
		env.Printf("configuration reloaded")
	}
	if s.Restore {
		return dropSaved(env.SaveDir, name)
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// statement builds the ALTER ... SET / RESET with every name and value
// quoted.
func (s *Set) statement(db, role string, to prior) (string, error) {
	var head string
	switch s.scope() {
	case "system":
		head = "ALTER SYSTEM"
	case "role":
		r, err := quoteIdent(role)
		if err != nil {
			return "", fmt.Errorf("role: %w", err)
		}
		head = "ALTER ROLE " + r
	default:
		d, err := quoteIdent(db)
		if err != nil {
			return "", fmt.Errorf("database: %w", err)
		}
		head = "ALTER DATABASE " + d
	}
	parts := strings.Split(s.Name, ".")
	for i, p := range parts {
		q, err := quoteIdent(strings.ToLower(p))
		if err != nil {
			return "", err
		}
		parts[i] = q
	}
	guc := strings.Join(parts, ".")
	if !to.Set {
		return head + " RESET " + guc, nil
	}
	lit, err := quoteLiteral(to.Value)
	if err != nil {
		return "", fmt.Errorf("value: %w", err)
	}
	return head + " SET " + guc + " = " + lit, nil
}

// current reads the value the scope itself holds for the setting (not the
// effective value): nil when the scope does not set it.
func (s *Set) current(ctx context.Context, conn *pgx.Conn, role string) (*string, error) {
	var rows pgx.Rows
	var err error
	switch s.scope() {
	case "system":
		// pg_file_settings reads the files now, so it shows what ALTER
		// SYSTEM wrote even before a reload. Superuser (or
		// pg_read_all_settings) only, like ALTER SYSTEM itself. The last
		// entry of postgresql.auto.conf wins, as in the server.
		rows, err = conn.Query(ctx, `SELECT name || '=' || coalesce(setting, '') FROM pg_file_settings
			WHERE sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno`)
	case "role":
		rows, err = conn.Query(ctx, `SELECT cfg FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg
			WHERE s.setdatabase = 0 AND s.setrole = (SELECT oid FROM pg_roles WHERE rolname = $1)`, role)
	default:
		rows, err = conn.Query(ctx, `SELECT cfg FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg
			WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found *string
	for rows.Next() {
		var cfg string
		if err := rows.Scan(&cfg); err != nil {
			return nil, err
		}
		if k, v, ok := strings.Cut(cfg, "="); ok && strings.EqualFold(k, s.Name) {
			found = &v
		}
	}
	return found, rows.Err()
}
