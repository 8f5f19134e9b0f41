package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// Password is the `pg.password` action: give a role the password held in a
// secret file, without the password ever being sent. runbook computes the
// SCRAM-SHA-256 verifier itself (fresh salt, 4096 iterations) and sends
// ALTER ROLE ... PASSWORD '<verifier>', which PostgreSQL stores as is: the
// plaintext is in no SQL text, no statement log or pgaudit line, no output
// and no journal record. The role's previous verifier is read from
// pg_authid (superuser) and kept, owner-only, in the step's save directory;
// the same action with `restore: true` is the undo and puts it back.
//
//	do:
//	  - pg.password: {role: app, from: secrets/db_password.next}
//	undo:
//	  - pg.password: {role: app, restore: true}
//
// A role whose verifier already matches the file's password is left alone,
// so a retried or resumed step does not change it again.
type Password struct {
	Conn `yaml:",inline"`
	// Role is the role whose password changes; ${target.NAME} allowed.
	Role string `yaml:"role"`
	// From is the secret file holding the new password (workspace-relative
	// or absolute; ${target.NAME} allowed). Trailing newlines are not part
	// of the password.
	From string `yaml:"from"`
	// Restore makes this the undo: put back the verifier saved by the do.
	Restore bool `yaml:"restore"`

	valid bool
}

// Validate implements runbooks.Validator.
func (p *Password) Validate() error {
	if err := p.Conn.validate(); err != nil {
		return err
	}
	if strings.TrimSpace(p.Role) == "" {
		return errors.New("role is required: the role whose password changes")
	}
	if p.Restore == (strings.TrimSpace(p.From) != "") {
		return errors.New("give from: (the secret file with the new password) or restore: true (the undo), not both or neither")
	}
	p.valid = true
	return nil
}

// ExpandedKeys names the parameters that expand ${target.NAME} (the
// loader refuses a placeholder anywhere else). The target it connects
// through is Conn's.
func (p *Password) ExpandedKeys() []string {
	return []string{"role", "from", "database", "password_file"}
}

// Describe implements steps.Action.
func (p *Password) Describe(env *steps.Env) string {
	if p.Restore {
		return fmt.Sprintf("restore the password of role %s on %s to the verifier saved before this step", env.ShowExpand(p.Role), p.show(env))
	}
	return fmt.Sprintf("set the password of role %s on %s from the secret file %s: ALTER ROLE ... PASSWORD '<SCRAM-SHA-256 verifier computed here>' (the password is never sent; the previous verifier is saved for the undo)",
		env.ShowExpand(p.Role), p.show(env), env.ShowExpand(p.From))
}

// priorPassword is what a role's password was before the step. Verifier
// is secret material: the file is owner-only and the value is taught to
// the redactor whenever it is read.
type priorPassword struct {
	Role     string `json:"role"`
	Had      bool   `json:"had"`
	Verifier string `json:"verifier,omitempty"`
}

func (p *Password) saveFile(role string) string {
	return saveName("password", p.target(), role)
}

// Run implements steps.Action.
func (p *Password) Run(ctx context.Context, env *steps.Env) error {
	if !p.valid {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	role, err := env.Expand(p.Role)
	if err != nil {
		return fmt.Errorf("role: %w", err)
	}
	var pw string
	if !p.Restore {
		// Read (and teach the redactor) before anything connects or prints.
		if pw, err = readPasswordFile(env, "from", p.From); err != nil {
			return err
		}
		if err := scramPasswordOK(pw); err != nil {
			return fmt.Errorf("from %s: %w", env.ShowExpand(p.From), err)
		}
	}
	sess, err := p.connect(ctx, env)
	if err != nil {
		return err
	}
	defer sess.close()
	cur, err := currentVerifier(ctx, sess.conn, role)
	if err != nil {
		return redactedf(env, err, "read the password of role %s on %s: %v", role, sess.endpoint, err)
	}
	env.Redact.Add(deref(cur.verifier))
	if !cur.exists {
		return fmt.Errorf("role %s does not exist on %s: create it first, or check the role parameter", role, sess.endpoint)
	}
	name := p.saveFile(role)
	if p.Restore {
		return p.restore(ctx, env, sess, role, name, cur.verifier)
	}
	if _, err := saveOnce(env.SaveDir, name, priorPassword{Role: role, Had: cur.verifier != nil, Verifier: deref(cur.verifier)}); err != nil {
		return err
	}
	if cur.verifier != nil && scramMatches(*cur.verifier, pw) {
		env.Printf("role %s on %s already has the password from %s; left as it is", role, sess.endpoint, env.ShowExpand(p.From))
		return nil
	}
	verifier, err := newScramVerifier(pw)
	if err != nil {
		return fmt.Errorf("compute the SCRAM verifier: %w", err)
	}
	env.Redact.Add(verifier)
	if err := alterPassword(ctx, sess, role, &verifier); err != nil {
		return redactedf(env, err, "set the password of role %s on %s: %s", role, sess.endpoint, pgErrorText(err, "", 0))
	}
	was := "had no password"
	if cur.verifier != nil {
		was = "had another password"
	}
	env.Printf("role %s on %s: %s, now the one from %s (sent as a SCRAM-SHA-256 verifier; previous one saved for the undo)", role, sess.endpoint, was, env.ShowExpand(p.From))
	return nil
}

func (p *Password) restore(ctx context.Context, env *steps.Env, sess *session, role, name string, cur *string) error {
	var was priorPassword
	ok, err := loadSaved(env.SaveDir, name, &was)
	if err != nil {
		return err
	}
	if !ok {
		env.Printf("role %s: nothing saved by this step's do, so nothing to restore (it never changed the password)", role)
		return nil
	}
	env.Redact.Add(was.Verifier)
	var to *string
	if was.Had {
		to = &was.Verifier
	}
	if (cur == nil) == (to == nil) && (to == nil || *cur == *to) {
		env.Printf("role %s on %s already has its password from before this step", role, sess.endpoint)
		return dropSaved(env.SaveDir, name)
	}
	if err := alterPassword(ctx, sess, role, to); err != nil {
		return redactedf(env, err, "restore the password of role %s on %s: %s", role, sess.endpoint, pgErrorText(err, "", 0))
	}
	if to == nil {
		env.Printf("role %s on %s: password removed again (it had none before this step)", role, sess.endpoint)
	} else {
		env.Printf("role %s on %s: password restored to the one it had before this step", role, sess.endpoint)
	}
	return dropSaved(env.SaveDir, name)
}

type roleVerifier struct {
	exists   bool
	verifier *string
}

// currentVerifier reads a role's stored password (pg_authid: superuser
// only; pg_roles shows it as ********).
func currentVerifier(ctx context.Context, conn *pgx.Conn, role string) (roleVerifier, error) {
	var rv roleVerifier
	err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&rv.verifier)
	if errors.Is(err, pgx.ErrNoRows) {
		return rv, nil
	}
	if err != nil {
		return rv, fmt.Errorf("%w (reading pg_authid needs a superuser connection)", err)
	}
	rv.exists = true
	return rv, nil
}

// alterPassword sets a role's stored password to an already-computed
// verifier, or to none. ALTER ROLE takes no bind parameters; the role is
// quoted as an identifier and the verifier (base64 and '$:=' only) as a
// literal.
func alterPassword(ctx context.Context, sess *session, role string, verifier *string) error {
	r, err := quoteIdent(role)
	if err != nil {
		return fmt.Errorf("role: %w", err)
	}
	stmt := "ALTER ROLE " + r + " PASSWORD NULL"
	if verifier != nil {
		lit, err := quoteLiteral(*verifier)
		if err != nil {
			return err
		}
		stmt = "ALTER ROLE " + r + " PASSWORD " + lit
	}
	_, err = sess.conn.Exec(ctx, stmt)
	return err
}
