package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// Settings is the `pg.settings` action: assert server settings as a new
// session of the target database sees them (so per-database and per-role
// settings count).
//
//   - pg.settings:
//     expect:
//   - shared_preload_libraries contains pgaudit
//   - pgaudit.log = 'ddl,write'
//   - ssl = on
//   - max_connections >= 50
//
// Each line is NAME OP VALUE; OP is one of =, !=, <, <=, >, >=, contains,
// !contains (an item of a comma-separated list), matches (a regexp). A
// setting that does not exist (an extension's setting when the library is
// not loaded) is reported as such.
type Settings struct {
	Conn   `yaml:",inline"`
	Expect []string `yaml:"expect"`

	checks []settingCheck
}

// Validate implements runbooks.Validator.
func (s *Settings) Validate() error {
	if err := s.Conn.validate(); err != nil {
		return err
	}
	if len(s.Expect) == 0 {
		return errors.New("expect is required: a list of NAME OP VALUE, e.g. \"shared_preload_libraries contains pgaudit\"")
	}
	checks := make([]settingCheck, 0, len(s.Expect))
	for _, e := range s.Expect {
		probe := e
		if hasTargetRef(e) {
			// The value comes from a target at run time; check the shape
			// with a stand-in.
			probe = targetRefRE.ReplaceAllString(e, "0")
		}
		c, err := parseSettingExpr(probe)
		if err != nil {
			return fmt.Errorf("expect: %w", err)
		}
		checks = append(checks, c)
	}
	s.checks = checks
	return nil
}

// Describe implements steps.Action.
func (s *Settings) Describe(env *steps.Env) string {
	shown := make([]string, len(s.Expect))
	for i, e := range s.Expect {
		shown[i] = env.ShowExpand(e)
	}
	return "check settings on " + s.show(env) + " (current_setting): " + env.Redact.String(strings.Join(shown, "; "))
}

// Run implements steps.Action.
func (s *Settings) Run(ctx context.Context, env *steps.Env) error {
	if s.checks == nil {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	checks := append([]settingCheck(nil), s.checks...)
	for i, e := range s.Expect {
		if !hasTargetRef(e) {
			continue
		}
		x, err := env.Expand(e)
		if err != nil {
			return fmt.Errorf("expect: %w", err)
		}
		if checks[i], err = parseSettingExpr(x); err != nil {
			return errors.New(env.Redact.String(fmt.Sprintf("expect: %v", err)))
		}
	}
	sess, err := s.connect(ctx, env)
	if err != nil {
		return err
	}
	defer sess.close()
	var failed []string
	for _, c := range checks {
		got, err := setting(ctx, sess.conn, c.Name)
		if err != nil {
			return redactedf(env, err, "read setting %s on %s: %v", c.Name, sess.endpoint, err)
		}
		found := "not set"
		if got != nil {
			found = quoteShow(*got)
		}
		ok := c.eval(got)
		mark := "ok"
		if !ok {
			mark = "FAILED"
			msg := fmt.Sprintf("%s: expected %s, found %s", c.Name, c.check, found)
			if got == nil {
				msg += " (no such setting: is the library that defines it in shared_preload_libraries?)"
			}
			failed = append(failed, msg)
		}
		env.Printf("%s", env.Redact.String(fmt.Sprintf("%s = %s: %s %s", c.Name, found, mark, c.check)))
	}
	if len(failed) > 0 {
		return errors.New(env.Redact.String(fmt.Sprintf("settings on %s: %s", sess.endpoint, strings.Join(failed, "; "))))
	}
	return nil
}

// setting reads one setting; nil when the server has no such setting.
func setting(ctx context.Context, conn *pgx.Conn, name string) (*string, error) {
	var v *string
	err := conn.QueryRow(ctx, "SELECT current_setting($1, true)", name).Scan(&v)
	return v, err
}

// Extension is the `pg.extension` action: assert that an extension is
// installed in the database (optionally at a version, optionally with its
// library preloaded), or that it is absent.
//
//   - pg.extension: {name: pgcrypto}
//   - pg.extension: {name: pgaudit, version: "1.7", preloaded: true}
//   - pg.extension: {name: pgcrypto, present: false}   # after the undo
type Extension struct {
	Conn    `yaml:",inline"`
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	// Present: nil or true asserts installed; false asserts absent.
	Present *bool `yaml:"present"`
	// Preloaded also asserts shared_preload_libraries lists the extension
	// (pgaudit works only then).
	Preloaded bool `yaml:"preloaded"`
}

func (x *Extension) present() bool { return x.Present == nil || *x.Present }

// Validate implements runbooks.Validator.
func (x *Extension) Validate() error {
	if err := x.Conn.validate(); err != nil {
		return err
	}
	if strings.TrimSpace(x.Name) == "" {
		return errors.New("name is required: the extension, e.g. pgcrypto")
	}
	if !x.present() && (x.Version != "" || x.Preloaded) {
		return errors.New("version and preloaded apply to a present extension, not with present: false")
	}
	return nil
}

// Describe implements steps.Action.
func (x *Extension) Describe(env *steps.Env) string {
	if !x.present() {
		return fmt.Sprintf("check extension %s is absent on %s (pg_extension)", x.Name, x.show(env))
	}
	s := fmt.Sprintf("check extension %s is installed", x.Name)
	if x.Version != "" {
		s += " at version " + x.Version
	}
	s += " on " + x.show(env) + " (pg_extension)"
	if x.Preloaded {
		s += " and in shared_preload_libraries"
	}
	return s
}

// Run implements steps.Action.
func (x *Extension) Run(ctx context.Context, env *steps.Env) error {
	if err := x.Validate(); err != nil {
		return err
	}
	s, err := x.connect(ctx, env)
	if err != nil {
		return err
	}
	defer s.close()
	var installed, available *string
	err = s.conn.QueryRow(ctx, `SELECT
		(SELECT extversion FROM pg_extension WHERE extname = $1),
		(SELECT default_version FROM pg_available_extensions WHERE name = $1)`, x.Name).Scan(&installed, &available)
	if err != nil {
		return redactedf(env, err, "look up extension %s on %s: %v", x.Name, s.endpoint, err)
	}
	db := s.conn.Config().Database
	switch {
	case installed == nil && x.present():
		msg := fmt.Sprintf("extension %s: expected installed in database %s, found not installed", x.Name, db)
		if available != nil {
			msg += fmt.Sprintf(" (the server offers version %s: CREATE EXTENSION %s)", *available, x.Name)
		} else {
			msg += " and not available on the server (install its package, e.g. postgresql-15-" + x.Name + ", on the database host)"
		}
		return fmt.Errorf("%s", msg)
	case installed != nil && !x.present():
		return fmt.Errorf("extension %s: expected absent from database %s, found version %s installed", x.Name, db, *installed)
	case installed == nil:
		env.Printf("extension %s: absent, as expected", x.Name)
		return nil
	}
	if x.Version != "" && *installed != x.Version {
		return fmt.Errorf("extension %s: expected version %s, found version %s (ALTER EXTENSION %s UPDATE TO '%s')", x.Name, x.Version, *installed, x.Name, x.Version)
	}
	env.Printf("extension %s: version %s installed", x.Name, *installed)
	if x.Preloaded {
		libs, err := setting(ctx, s.conn, "shared_preload_libraries")
		if err != nil {
			return redactedf(env, err, "read shared_preload_libraries on %s: %v", s.endpoint, err)
		}
		found := ""
		if libs != nil {
			found = *libs
		}
		if !listHas(found, x.Name) {
			return fmt.Errorf("extension %s: expected in shared_preload_libraries, found %s: add it to the server's configuration and restart the server", x.Name, quoteShow(found))
		}
		env.Printf("shared_preload_libraries = %s: has %s", quoteShow(found), x.Name)
	}
	return nil
}
