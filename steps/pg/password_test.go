package pg

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// passwordAuthGroup is a group role whose members must log in with a
// password (scram-sha-256) from 127.0.0.1, whatever else pg_hba.conf
// trusts. The test cluster trusts loopback, so without this rule no login
// could ever be refused. Only test roles are members.
const passwordAuthGroup = "rb_password_auth"

// passwordAuthRole creates a login role that is a member of
// passwordAuthGroup, making sure the pg_hba.conf rule for that group is
// in place (first line, loaded).
func passwordAuthRole(t *testing.T) string {
	t.Helper()
	admin := adminConn(t)
	ctx := context.Background()
	_, err := admin.Exec(ctx, `DO $$BEGIN CREATE ROLE `+passwordAuthGroup+` NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$`)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_hba_file_rules
		WHERE line_number = (SELECT min(line_number) FROM pg_hba_file_rules)
		AND user_name = ARRAY['+`+passwordAuthGroup+`'] AND auth_method = 'scram-sha-256'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		var hba string
		if err := admin.QueryRow(ctx, "SHOW hba_file").Scan(&hba); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(hba)
		if err == nil {
			line := "host all +" + passwordAuthGroup + " 127.0.0.1/32 scram-sha-256\n"
			err = os.WriteFile(hba, append([]byte(line), b...), 0o600)
		}
		if err != nil {
			if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
				t.Fatalf("cannot add the password rule to %s (RUNBOOK_REQUIRE_SERVICES is set): %v", hba, err)
			}
			t.Skipf("cannot add the password rule to %s, so no login can be refused here (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %v", hba, err)
		}
		if _, err := admin.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
	}
	role := randName("rb_pw_")
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN IN ROLE "+passwordAuthGroup); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, adminDSN(t))
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP ROLE IF EXISTS "+role)
	})
	return role
}

// serverLog returns the test cluster's log file. With the logging
// collector on, pg_current_logfile names it; without it the server writes to
// what started it (pg_ctl -l), which the test cluster points at server.log
// in the data directory.
func serverLog(t *testing.T) string {
	t.Helper()
	admin := adminConn(t)
	var dataDir string
	var logFile *string
	if err := admin.QueryRow(context.Background(), "SELECT current_setting('data_directory'), pg_current_logfile()").Scan(&dataDir, &logFile); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, "server.log")
	if logFile != nil {
		path = *logFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dataDir, path)
		}
	}
	if _, err := os.ReadFile(path); err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatalf("server log %s not readable (RUNBOOK_REQUIRE_SERVICES is set): %v", path, err)
		}
		t.Skipf("the server log %s is not readable here (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %v", path, err)
	}
	return path
}

func storedVerifier(t *testing.T, role string) string {
	t.Helper()
	var v *string
	if err := adminConn(t).QueryRow(context.Background(), "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return deref(v)
}

func TestPasswordFromSecretFileLoginAndUndo(t *testing.T) {
	t.Parallel()
	dsn, db := testDB(t)
	role := passwordAuthRole(t)
	logPath := serverLog(t)
	admin := adminConn(t)
	ctx := context.Background()
	const oldPW, newPW = "Old-Passw0rd-4a1b9c7d", "New-Passw0rd-e83f02aa"
	// The old password set the ordinary way, so the server's own verifier
	// checks ours.
	if _, err := admin.Exec(ctx, "ALTER ROLE "+role+" PASSWORD '"+oldPW+"'"); err != nil {
		t.Fatal(err)
	}
	oldVerifier := storedVerifier(t, role)
	if !scramMatches(oldVerifier, oldPW) || scramMatches(oldVerifier, newPW) {
		t.Fatalf("the server's verifier %q does not match as computed here", oldVerifier)
	}
	// Every statement of the action's sessions goes to the server log, and
	// pgaudit logs role changes too.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+db+" SET log_statement = 'all'"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+db+" SET pgaudit.log = 'role,ddl'"); err != nil {
		t.Fatal(err)
	}

	env, out := testEnv(t, dsn)
	env.Workspace = t.TempDir()
	for name, v := range map[string]string{"pw.old": oldPW, "pw.new": newPW + "\n", "pw.wrong": "Wrong-Passw0rd-000"} {
		if err := os.WriteFile(filepath.Join(env.Workspace, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env.Targets["app_role"] = role
	do := &Password{Role: "${target.app_role}", From: "pw.new"}
	undo := &Password{Role: "${target.app_role}", Restore: true}
	newOK := &Login{User: role, Conn: Conn{PasswordFile: "pw.new"}, Expect: "ok"}
	newRefused := &Login{User: role, Conn: Conn{PasswordFile: "pw.new"}, Expect: "refused"}
	oldOK := &Login{User: role, Conn: Conn{PasswordFile: "pw.old"}}
	oldRefused := &Login{User: role, Conn: Conn{PasswordFile: "pw.old"}, Expect: "refused"}
	ep := endpointOf(t, dsn)
	roleEP := strings.Replace(ep, "postgres://postgres@", "postgres://"+role+"@", 1)

	if got, want := do.Describe(env), "set the password of role "+role+" on target db ("; !strings.HasPrefix(got, want) {
		t.Errorf("describe: %s", got)
	}
	// Before: the old password works, the new one does not.
	mustRun(t, env, oldOK)
	mustRun(t, env, newRefused)
	mustFail(t, env, &Login{User: role, Conn: Conn{PasswordFile: "pw.wrong"}},
		"login to "+roleEP+" with the password from pw.wrong was refused, expected it to be accepted: password authentication failed for user \""+role+"\" (SQLSTATE 28P01): check the role's password and pg_hba.conf")

	out.Reset()
	mustRun(t, env, do)
	if got, want := out.String(), "connected to"; strings.Contains(got, want) || !strings.Contains(got, "role "+role+" on "+ep+": had another password, now the one from pw.new (sent as a SCRAM-SHA-256 verifier; previous one saved for the undo)") {
		t.Errorf("do output: %q", got)
	}
	now := storedVerifier(t, role)
	if !scramMatches(now, newPW) || now == oldVerifier {
		t.Fatalf("after the do the role's verifier does not match the new password")
	}
	mustRun(t, env, newOK)
	mustRun(t, env, oldRefused)
	mustFail(t, env, oldOK, "login to "+roleEP+" with the password from pw.old was refused, expected it to be accepted: password authentication failed for user \""+role+"\" (SQLSTATE 28P01): check the role's password and pg_hba.conf")
	mustFail(t, env, newRefused, "login to "+roleEP+" with the password from pw.new was accepted, expected it to be refused: the old password still works (was the role's password changed? does pg_hba.conf trust this host?)")

	// Again: nothing changes (same verifier, same salt).
	out.Reset()
	mustRun(t, env, do)
	if storedVerifier(t, role) != now || !strings.Contains(out.String(), "already has the password from pw.new; left as it is") {
		t.Errorf("second do changed the password or said so: %q", out.String())
	}

	// What the undo needs is saved owner-only, and is a verifier, not the password.
	saved := filepath.Join(env.SaveDir, do.saveFile(role))
	fi, err := os.Stat(saved)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("saved verifier mode %04o, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(saved)
	if !strings.Contains(string(b), oldVerifier) || strings.Contains(string(b), oldPW) {
		t.Errorf("saved state: %s", b)
	}

	// The server log saw the ALTER ROLE with a verifier, never a password.
	waitFor(t, "the ALTER ROLE of "+role+" in "+logPath, func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), `ALTER ROLE "`+role+`" PASSWORD 'SCRAM-SHA-256$4096:`)
	})

	out.Reset()
	mustRun(t, env, undo)
	if got := storedVerifier(t, role); got != oldVerifier {
		t.Fatalf("after the undo the verifier is %q, want the old one", got)
	}
	mustRun(t, env, oldOK)
	mustRun(t, env, newRefused)
	if !strings.Contains(out.String(), "password restored to the one it had before this step") {
		t.Errorf("undo output: %q", out.String())
	}
	// An undo run twice does nothing, and says so.
	out.Reset()
	mustRun(t, env, undo)
	contains(t, "second undo", out.String(), "nothing saved by this step's do")

	logText, _ := os.ReadFile(logPath)
	all := out.String() + string(logText)
	for _, secret := range []string{newPW, oldPW} {
		if strings.Contains(all, secret) {
			t.Errorf("the password %q shows in the server log or output", secret)
		}
	}
	if strings.Contains(out.String(), "SCRAM-SHA-256$") {
		t.Errorf("a verifier shows in the output: %s", out.String())
	}
}

func TestPasswordRefusals(t *testing.T) {
	for _, a := range []interface{ Validate() error }{
		&Password{From: "x"},
		&Password{Role: "app"},
		&Password{Role: "app", From: "x", Restore: true},
		&Login{},
		&Login{Conn: Conn{PasswordFile: "x"}, Expect: "maybe"},
	} {
		if err := a.Validate(); err == nil {
			t.Errorf("%#v validates", a)
		}
	}
	// A server that cannot be reached proves nothing about a password.
	env, _ := testEnv(t, "postgres://app@127.0.0.1:1/app?sslmode=disable&connect_timeout=2")
	env.Workspace = t.TempDir()
	os.WriteFile(filepath.Join(env.Workspace, "pw"), []byte("some-password-1"), 0o600)
	err := run(t, env, &Login{Conn: Conn{PasswordFile: "pw"}, Expect: "refused"})
	if err == nil || !strings.HasPrefix(err.Error(), "could not tell whether the login is refused: connect to postgres://app@127.0.0.1:1/app (target db):") {
		t.Fatalf("unreachable server: %v", err)
	}
}

// A cancelled pg.exec or pg.query stops its statement on the server, not
// only in runbook: pg_stat_activity shows it gone.
func TestCancelStopsStatementOnServer(t *testing.T) {
	t.Parallel()
	dsn, _ := testDB(t)
	admin := adminConn(t)
	for _, a := range []steps.Action{
		&Exec{SQL: "SELECT pg_sleep(600)"},
		&Query{SQL: "SELECT pg_sleep(600)", Rows: pInt(1)},
	} {
		if err := a.(interface{ Validate() error }).Validate(); err != nil {
			t.Fatal(err)
		}
		env, _ := testEnv(t, dsn)
		env.Step = randName("cancel/")
		app := appName(env.Step)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, env) }()
		active := func() int {
			var n int
			if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
				WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep(600)%'`, app).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		waitFor(t, "pg_sleep running for "+app, func() bool { return active() == 1 })
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("%T: a cancelled pg_sleep(600) succeeded", a)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%T did not return within 10s of its cancel", a)
		}
		// Gone on the server within two seconds: the cancel request
		// reached it (a closed socket alone leaves pg_sleep running).
		deadline := time.Now().Add(2 * time.Second)
		for active() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%T: pg_sleep still active on the server 2s after the cancel", a)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
