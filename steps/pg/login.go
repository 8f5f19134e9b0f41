package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/runbook-dev/runbook/steps"
)

// Login is the `pg.login` action: try to log in with given credentials and
// check that the server accepts them (`expect: ok`, the default) or refuses
// them (`expect: refused`): after a rotation the new password must work and
// the old one must not.
//
//	verify:
//	  - pg.login: {user: app, password_file: secrets/db_password, expect: ok}
//	  - pg.login: {user: app, password_file: secrets/db_password.old, expect: refused}
//
// Only an authentication refusal counts as refused (SQLSTATE 28P01 wrong
// password, 28000 no pg_hba.conf entry or role may not log in); a server
// that cannot be reached fails the check either way, since it proves
// nothing about the password.
type Login struct {
	Conn `yaml:",inline"`
	// User logs in as this role instead of the target's user; ${target.NAME}
	// allowed.
	User string `yaml:"user"`
	// Expect is ok (default) or refused.
	Expect string `yaml:"expect"`

	valid bool
}

// Validate implements runbooks.Validator.
func (l *Login) Validate() error {
	if err := l.Conn.validate(); err != nil {
		return err
	}
	if strings.TrimSpace(l.PasswordFile) == "" {
		return errors.New("password_file is required: the file holding the password to try")
	}
	switch l.Expect {
	case "":
		l.Expect = "ok"
	case "ok", "refused":
	default:
		return fmt.Errorf("expect %q: expected ok or refused", l.Expect)
	}
	l.valid = true
	return nil
}

// ExpandedKeys names the parameters that expand ${target.NAME} (the
// loader refuses a placeholder anywhere else).
func (l *Login) ExpandedKeys() []string { return []string{"user", "database", "password_file"} }

func (l *Login) expect() string {
	if l.Expect == "" {
		return "ok"
	}
	return l.Expect
}

// Describe implements steps.Action.
func (l *Login) Describe(env *steps.Env) string {
	who := "the target's user"
	if l.User != "" {
		who = "user " + env.ShowExpand(l.User)
	}
	want := "accepted"
	if l.expect() == "refused" {
		want = "refused"
	}
	return fmt.Sprintf("log in as %s to %s and expect the login to be %s", who, l.show(env), want)
}

// Run implements steps.Action.
func (l *Login) Run(ctx context.Context, env *steps.Env) error {
	if !l.valid {
		if err := l.Validate(); err != nil {
			return err
		}
	}
	c := l.Conn
	user := ""
	if l.User != "" {
		u, err := env.Expand(l.User)
		if err != nil {
			return fmt.Errorf("user: %w", err)
		}
		user = u
	}
	sess, err := c.connectAs(ctx, env, user)
	from := env.ShowExpand(l.PasswordFile)
	if err == nil {
		defer sess.close()
		if l.expect() == "refused" {
			return fmt.Errorf("login to %s with the password from %s was accepted, expected it to be refused: the old password still works (was the role's password changed? does pg_hba.conf trust this host?)", sess.endpoint, from)
		}
		env.Printf("login to %s with the password from %s: accepted, as expected", sess.endpoint, from)
		return nil
	}
	var pe *pgconn.PgError
	refused := errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000")
	var ce *connectFailure
	ep := "the database"
	if errors.As(err, &ce) {
		ep = ce.endpoint
	}
	switch {
	case refused && l.expect() == "refused":
		env.Printf("login to %s with the password from %s: refused, as expected (%s, SQLSTATE %s)", ep, from, env.Redact.String(pe.Message), pe.Code)
		return nil
	case refused:
		return redactedf(env, err, "login to %s with the password from %s was refused, expected it to be accepted: %s (SQLSTATE %s): check the role's password and pg_hba.conf", ep, from, pe.Message, pe.Code)
	case l.expect() == "refused":
		return redactedf(env, err, "could not tell whether the login is refused: %v (only an authentication refusal counts)", err)
	}
	return err
}
