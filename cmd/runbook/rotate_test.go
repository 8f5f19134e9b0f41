package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/runbook-dev/runbook/steps/steptest"
)

// The password-rotation runbook under testdata, run headless through the
// real binary against the test PostgreSQL: the rotation, its rollback, and
// a kill -9 in the middle of it.

// rotPasswordGroup: members must log in with a password from 127.0.0.1
// (see steps/pg's tests); the test cluster trusts loopback otherwise.
const rotPasswordGroup = "rb_password_auth"

type rotation struct {
	admin     *pgx.Conn
	adminDSN  string
	dsn       string // the test database, as the runbook's db target
	db, role  string
	oldPW     string
	oldVerif  string
	fixture   string
	state     string
	workspace string
	logPath   string
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newRotation(t *testing.T) *rotation {
	t.Helper()
	r := &rotation{adminDSN: steptest.PostgresDSN(t)}
	ctx := context.Background()
	admin := steptest.PostgresConn(t)
	r.admin = admin
	exec := func(sql string) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	id := randHex(5)
	r.db, r.role = "rb_rot_"+id, "rb_pw_rot_"+id
	exec("CREATE DATABASE " + r.db)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), r.adminDSN)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+r.db+" WITH (FORCE)")
		c.Exec(context.Background(), "DROP ROLE IF EXISTS "+r.role)
	})
	// Every statement the runbook's sessions send goes to the server log.
	exec("ALTER DATABASE " + r.db + " SET log_statement = 'all'")
	exec(`DO $$BEGIN CREATE ROLE ` + rotPasswordGroup + ` NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$`)
	ensurePasswordRule(t, admin)
	r.oldPW = "Old-App-Password-" + randHex(8)
	exec("CREATE ROLE " + r.role + " LOGIN IN ROLE " + rotPasswordGroup + " PASSWORD '" + r.oldPW + "'")
	r.oldVerif = r.verifier(t)

	var dataDir string
	var logFile *string
	if err := admin.QueryRow(ctx, "SELECT current_setting('data_directory'), pg_current_logfile()").Scan(&dataDir, &logFile); err != nil {
		t.Fatal(err)
	}
	r.logPath = filepath.Join(dataDir, "server.log")
	if logFile != nil {
		r.logPath = *logFile
		if !filepath.IsAbs(r.logPath) {
			r.logPath = filepath.Join(dataDir, r.logPath)
		}
	}
	u, err := url.Parse(r.adminDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("RUNBOOK_TEST_PGDSN must be a postgres:// URL here: %v", err)
	}
	u.Path = "/" + r.db
	r.dsn = u.String()

	if r.fixture, err = filepath.Abs("../../testdata/runbooks/rotate-db-password/rotate.yaml"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r.state, r.workspace = filepath.Join(dir, "state"), filepath.Join(dir, "work")
	os.MkdirAll(filepath.Join(r.workspace, "secrets"), 0o700)
	if err := os.WriteFile(filepath.Join(r.workspace, "secrets", "db_password"), []byte(r.oldPW), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.workspace, ".gitignore"), []byte("secrets/\n"), 0o644)
	os.WriteFile(filepath.Join(r.workspace, "README.md"), []byte("the application's deployment\n"), 0o644)
	git(t, r.workspace, "init", "-q")
	git(t, r.workspace, "add", ".")
	git(t, r.workspace, "commit", "-q", "-m", "before")
	return r
}

// ensurePasswordRule puts a pg_hba.conf rule first that makes members of
// rotPasswordGroup log in with scram-sha-256, and reloads.
func ensurePasswordRule(t *testing.T, admin *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_hba_file_rules
		WHERE line_number = (SELECT min(line_number) FROM pg_hba_file_rules)
		AND user_name = ARRAY['+`+rotPasswordGroup+`'] AND auth_method = 'scram-sha-256'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		return
	}
	var hba string
	if err := admin.QueryRow(ctx, "SHOW hba_file").Scan(&hba); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(hba)
	if err == nil {
		err = os.WriteFile(hba, append([]byte("host all +"+rotPasswordGroup+" 127.0.0.1/32 scram-sha-256\n"), b...), 0o600)
	}
	if err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatalf("cannot add the password rule to %s: %v", hba, err)
		}
		t.Skipf("cannot add the password rule to %s (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %v", hba, err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
}

func (r *rotation) verifier(t *testing.T) string {
	t.Helper()
	var v string
	if err := r.admin.QueryRow(context.Background(), "SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = $1", r.role).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (r *rotation) env() []string {
	return []string{"ROTATE_DB_DSN=" + r.dsn, "ROTATE_APP_ROLE=" + r.role}
}

func (r *rotation) args(cmd string, extra ...string) []string {
	a := []string{cmd}
	if cmd == "run" {
		a = append(a, "--headless")
	}
	// The fixture is planned for another day: the window is held today,
	// as an operator must say for a new run.
	a = append(a, "-f", r.fixture, "--state", r.state, "--workspace", r.workspace, "--operator", "tester", "--date", "today")
	return append(a, extra...)
}

// login tries the role with a password: nil when accepted.
func (r *rotation) login(pw string) error {
	cfg, err := pgx.ParseConfig(r.dsn)
	if err != nil {
		return err
	}
	cfg.User, cfg.Password = r.role, pw
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	c.Close(ctx)
	return nil
}

func (r *rotation) mustLogin(t *testing.T, what, pw string) {
	t.Helper()
	if err := r.login(pw); err != nil {
		t.Fatalf("%s: login refused: %v", what, err)
	}
}

func (r *rotation) mustBeRefused(t *testing.T, what, pw string) {
	t.Helper()
	err := r.login(pw)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("%s: want the login refused (28P01), got %v", what, err)
	}
}

func (r *rotation) file(t *testing.T, name string) (string, os.FileMode, bool) {
	t.Helper()
	p := filepath.Join(r.workspace, "secrets", name)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	return string(b), fi.Mode().Perm(), true
}

// noPlaintext fails when either password shows in the state directory
// (journal, logs, saved state), the output, or the workspace's history.
func (r *rotation) noPlaintext(t *testing.T, output string, secrets ...string) {
	t.Helper()
	r.noPlaintextIn(t, output, true, secrets...)
}

func (r *rotation) noPlaintextIn(t *testing.T, output string, history bool, secrets ...string) {
	t.Helper()
	texts := []string{"the output\n" + output}
	if history {
		texts = append(texts, git(t, r.workspace, "log", "--all", "-p", "--format=%H %s"))
	}
	filepath.WalkDir(r.state, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			texts = append(texts, p+"\n"+string(b))
		}
		return nil
	})
	for _, s := range secrets {
		for _, txt := range texts {
			if strings.Contains(txt, s) {
				name, _, _ := strings.Cut(txt, "\n")
				t.Errorf("a password shows in %s", name)
			}
		}
	}
}

// afterRollback checks the "before" state: the old password and its very
// verifier back, the secret files as they were.
func (r *rotation) afterRollback(t *testing.T, newPW string) {
	t.Helper()
	r.mustLogin(t, "after the rollback, the old password", r.oldPW)
	r.mustBeRefused(t, "after the rollback, the new password", newPW)
	if got := r.verifier(t); got != r.oldVerif {
		t.Error("after the rollback the role's verifier is not the one it had before")
	}
	if cur, mode, ok := r.file(t, "db_password"); !ok || cur != r.oldPW || mode != 0o600 {
		t.Errorf("after the rollback secrets/db_password is not the old password with mode 0600 (present %v, mode %04o)", ok, mode)
	}
	for _, f := range []string{"db_password.old", "db_password.next"} {
		if _, _, ok := r.file(t, f); ok {
			t.Errorf("after the rollback secrets/%s still exists", f)
		}
	}
}

func TestRotatePasswordRunbookThenRollback(t *testing.T) {
	r := newRotation(t)
	res := runbook(t, r.env(), r.args("run")...)
	if res.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", res.code, res.out, res.err)
	}
	if testing.Verbose() {
		t.Logf("run output:\n%s%s", res.out, res.err)
	}
	newPW, mode, ok := r.file(t, "db_password")
	if !ok || newPW == r.oldPW || len(newPW) != 32 || mode != 0o600 {
		t.Fatalf("secrets/db_password after the run: present %v, mode %04o, changed %v", ok, mode, newPW != r.oldPW)
	}
	if old, _, _ := r.file(t, "db_password.old"); old != r.oldPW {
		t.Fatal("secrets/db_password.old does not hold the rotated-out password")
	}
	r.mustLogin(t, "the new password", newPW)
	r.mustBeRefused(t, "the old password", r.oldPW)
	for _, want := range []string{
		"refused, as expected (password authentication failed for user",
		"accepted, as expected",
		"(sent as a SCRAM-SHA-256 verifier; previous one saved for the undo)",
		"ok   no plaintext secrets found",
	} {
		if !strings.Contains(res.out+res.err, want) {
			t.Errorf("the run's output lacks %q", want)
		}
	}
	// The server's statement log saw the ALTER ROLE, with a verifier only.
	if _, err := os.Stat(r.logPath); err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatalf("server log %s: %v", r.logPath, err)
		}
	} else {
		waitFor(t, "the ALTER ROLE in the server log", func() bool {
			b, _ := os.ReadFile(r.logPath)
			return strings.Contains(string(b), `ALTER ROLE "`+r.role+`" PASSWORD 'SCRAM-SHA-256$4096:`)
		})
		b, _ := os.ReadFile(r.logPath)
		if strings.Contains(string(b), newPW) {
			t.Error("the new password is in the server log")
		}
	}
	r.noPlaintext(t, res.out+res.err, newPW, r.oldPW)

	rb := runbook(t, r.env(), r.args("rollback", "--to", "start")...)
	if rb.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", rb.code, rb.out, rb.err)
	}
	r.afterRollback(t, newPW)
	r.noPlaintext(t, rb.out+rb.err, newPW, r.oldPW)
}

func TestRotatePasswordKilledMidStepResumes(t *testing.T) {
	// Two points in the password step: its start durable in the journal
	// (its actions have at most begun), and the role's password changed
	// on the server (the file swap may or may not have followed).
	for _, point := range []string{"step started", "password changed"} {
		t.Run(point, func(t *testing.T) { killMidStep(t, point) })
	}
}

func killMidStep(t *testing.T, point string) {
	r := newRotation(t)
	cmd := exec.Command(bin, r.args("run")...)
	cmd.Env = append(os.Environ(), r.env()...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(r.state, "rotate-db-password", "journal")
	reached := func() bool {
		b, _ := os.ReadFile(journal)
		if !strings.Contains(string(b), "k=step.started\ts=set-password") {
			return false
		}
		return point == "step started" || r.verifier(t) != r.oldVerif
	}
	deadline := time.Now().Add(60 * time.Second)
	for !reached() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the password step never reached %q:\n%s", point, out.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	st := statusOf(t, r)
	_, _, moved := r.file(t, "db_password.old")
	t.Logf("killed at %q: dirty steps %v, verifier changed %v, file moved %v", point, st.Dirty, r.verifier(t) != r.oldVerif, moved)

	res := runbook(t, r.env(), r.args("run", "--take-over", "--on-dirty=retry")...)
	if res.code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", res.code, res.out, res.err)
	}
	st = statusOf(t, r)
	if !st.Finished || st.Done != st.Total || len(st.Dirty) != 0 {
		t.Fatalf("status after the resume: %+v", st)
	}
	newPW, _, _ := r.file(t, "db_password")
	r.mustLogin(t, "the new password", newPW)
	r.mustBeRefused(t, "the old password", r.oldPW)
	// Nothing applied twice: the move kept the rotated-out password (a
	// second move would have put the new one there), the secret was
	// generated once, and what the undo restores is the state before the
	// first attempt.
	if old, _, _ := r.file(t, "db_password.old"); old != r.oldPW {
		t.Fatal("secrets/db_password.old does not hold the rotated-out password: the move was applied twice")
	}
	if next, _, _ := r.file(t, "db_password.next"); next != newPW {
		t.Fatal("secrets/db_password.next and secrets/db_password differ: the secret was generated twice")
	}
	r.noPlaintext(t, out.String()+res.out+res.err, newPW, r.oldPW)

	rb := runbook(t, r.env(), r.args("rollback", "--to", "start")...)
	if rb.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", rb.code, rb.out, rb.err)
	}
	r.afterRollback(t, newPW)
}

// A workspace whose history holds the password being rotated out: the
// final scan fails and says where (commit, path, line), never the value.
func TestRotatePasswordFinalScanFindsTheOldPasswordInHistory(t *testing.T) {
	r := newRotation(t)
	cfg := filepath.Join(r.workspace, "app.yml")
	os.WriteFile(cfg, []byte("db:\n  host: db\n  note: "+r.oldPW+"\n"), 0o644)
	git(t, r.workspace, "add", "app.yml")
	git(t, r.workspace, "commit", "-q", "-m", "config with a pasted password")
	leak := strings.TrimSpace(git(t, r.workspace, "rev-parse", "--short=7", "HEAD"))
	os.WriteFile(cfg, []byte("db:\n  host: db\n"), 0o644)
	git(t, r.workspace, "commit", "-q", "-am", "take it out again")

	res := runbook(t, r.env(), r.args("run")...)
	if res.code != 1 {
		t.Fatalf("run: exit %d, want 1 (the final scan fails)\n%s%s", res.code, res.out, res.err)
	}
	want := "commit " + leak + " app.yml:3 (a rotated-out secret value (secrets/db_password before step set-password))"
	if !strings.Contains(res.out+res.err, want) {
		t.Fatalf("the run does not say where the old password is (want %q):\n%s%s", want, res.out, res.err)
	}
	newPW, _, _ := r.file(t, "db_password")
	r.noPlaintext(t, res.out+res.err, newPW)
	// The old one is in the history the test planted; nowhere else.
	r.noPlaintextIn(t, res.out+res.err, false, r.oldPW)
}

func statusOf(t *testing.T, r *rotation) statusJSON {
	t.Helper()
	res := runbook(t, r.env(), r.args("status", "--json")...)
	if res.code != 0 {
		t.Fatalf("status: exit %d: %s", res.code, res.err)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(res.out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, res.out)
	}
	return st
}
