package runbooks_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/assets"
	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/lab"
	"github.com/runbook-dev/runbook/steps/pg"
	"github.com/runbook-dev/runbook/steps/steptest"
)

// These tests run the embedded runbook's actions for real: the workspace
// steps (certificates, nginx configuration, migrations, env template) do,
// verify, undo and verify again in a scratch git repository; the database
// steps against a real PostgreSQL; the guides' by-hand commands, made
// exactly as the guides say, must pass the same verify. The stack steps
// (compose, containers, HTTPS) are proven by the rehearsal against the lab.

// needTools skips when a tool is missing, unless the environment promises
// the full set (RUNBOOK_REQUIRE_SERVICES), where a missing tool is a failure.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
				t.Fatalf("RUNBOOK_REQUIRE_SERVICES is set but %s is not on PATH: %v", tool, err)
			}
			t.Skipf("%s not on PATH (set RUNBOOK_REQUIRE_SERVICES to make this a failure)", tool)
		}
	}
}

// codeBlocks returns the fenced code blocks of a guide section whose info
// string is lang, in order.
func codeBlocks(t *testing.T, rb *runbooks.Runbook, ref, lang string) []string {
	t.Helper()
	file, anchor, _ := strings.Cut(ref, "#")
	sec, err := runbooks.GuideSection(rb.Guides, runbooks.GuideRef{File: file, Anchor: anchor})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur *strings.Builder
	for _, line := range strings.Split(sec, "\n") {
		switch {
		case cur == nil && line == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if len(out) == 0 {
		t.Fatalf("guide %s has no %s code block", ref, lang)
	}
	return out
}

type workspace struct {
	t   *testing.T
	dir string
	env *steps.Env
	out *bytes.Buffer
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{t: t, dir: dir, out: &bytes.Buffer{}}
	w.env = &steps.Env{
		Out:       w.out,
		Targets:   steps.Targets{"docker": os.Getenv("DOCKER_HOST"), "workspace": dir},
		Redact:    steps.NewRedactor(),
		Workspace: dir,
		StateDir:  t.TempDir(),
		Clock:     steps.SystemClock{},
		Touched:   new(steps.PathSet),
	}
	if w.env.Targets["docker"] == "" {
		w.env.Targets["docker"] = "unix:///var/run/docker.sock"
	}
	// The interpreter the lab's profile would name; without one the
	// runbook's default, whose pytest check then fails saying what to
	// install.
	w.env.Targets["python"] = "python3"
	if py, err := lab.FindPython(context.Background(), os.Getenv("PATH")); err == nil {
		w.env.Targets["python"] = py
	}
	w.run("git", "init", "-q")
	return w
}

// forStep points the environment at a step: its own save directory, as a
// session gives it.
func (w *workspace) forStep(id string) {
	w.env.Step = id
	w.env.SaveDir = filepath.Join(w.env.StateDir, "saved", id)
	w.env.StepStarted = time.Now()
}

func (w *workspace) run(argv ...string) {
	w.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func (w *workspace) write(rel, content string, mode os.FileMode) {
	w.t.Helper()
	p := filepath.Join(w.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		w.t.Fatal(err)
	}
}

func (w *workspace) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(w.dir, rel))
	return err == nil
}

// local are the action types that need nothing but the workspace.
var local = map[string]bool{
	"shell": true, "file.template": true, "file.restore": true, "file.assert": true,
	"cert.generate": true, "cert.remove": true, "secret.generate": true, "secret.remove": true,
}

// actions runs the workspace-local actions of a list in order and returns
// each one's error, keyed by its name (or type and position).
func (w *workspace) actions(list []runbooks.Action) map[string]error {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := map[string]error{}
	for i, a := range list {
		if !local[a.Type] {
			continue
		}
		key := a.Name
		if key == "" {
			key = fmt.Sprintf("%s#%d", a.Type, i+1)
		}
		res[key] = a.Params.(steps.Action).Run(ctx, w.env)
	}
	if len(res) == 0 {
		w.t.Fatal("no workspace actions to run")
	}
	return res
}

func (w *workspace) wantPass(id string, res map[string]error) {
	w.t.Helper()
	for name, err := range res {
		if err != nil {
			w.t.Errorf("step %s, %q: %v\noutput:\n%s", id, name, err, w.out)
		}
	}
}

func (w *workspace) wantFail(id, name string, res map[string]error) {
	w.t.Helper()
	err, ok := res[name]
	if !ok {
		w.t.Fatalf("step %s has no action %q", id, name)
	}
	if err == nil {
		w.t.Errorf("step %s, %q passed, want a failure", id, name)
	}
}

// wantSomeFail says at least one action failed (a verify after its undo).
func (w *workspace) wantSomeFail(id string, res map[string]error) {
	w.t.Helper()
	for _, err := range res {
		if err != nil {
			return
		}
	}
	w.t.Errorf("step %s: every verify action passed after the undo", id)
}

func step(t *testing.T, rb *runbooks.Runbook, id string) runbooks.Step {
	t.Helper()
	pi, si, ok := rb.StepRef(id)
	if !ok {
		t.Fatalf("no step %s", id)
	}
	return rb.Phases[pi].Steps[si]
}

// labGitignore is the ignore file of the staging workspace (and the lab's).
const labGitignore = ".env\n.env.*\nsecrets/\nnginx/certs/*.key\n"

// The workspace steps, for real: do, verify, undo, verify again. The undo
// must leave the workspace as it found it.
func TestEmbeddedPhase1WorkspaceStepsDoVerifyUndo(t *testing.T) {
	needTools(t, "git", "openssl")
	rb := loadPhase1(t)
	w := newWorkspace(t)
	w.write(".gitignore", labGitignore, 0o644)
	w.run("git", "add", "-A")
	w.run("git", "commit", "-q", "-m", "before")
	for _, tc := range []struct {
		id      string
		files   []string // what the do leaves in the workspace
		touched []string // what it reports for the checkpoint
	}{
		{"item2-generate-certificates",
			[]string{"nginx/certs/ca.crt", "nginx/certs/server.crt", "nginx/certs/server.key", "secrets/ca.key"},
			[]string{"nginx/certs/ca.crt", "nginx/certs/server.crt"}},
		{"item2-nginx-configuration", []string{"nginx/conf.d/default.conf"}, []string{"nginx/conf.d/default.conf"}},
		{"item3-create-migrations",
			[]string{"db/migrations/001_security_extensions.up.sql", "db/migrations/001_security_extensions.down.sql"},
			[]string{"db/migrations/001_security_extensions.down.sql", "db/migrations/001_security_extensions.up.sql"}},
		{"item4-create-templates", []string{".env.staging.example"}, []string{".env.staging.example"}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			w.t = t
			s := step(t, rb, tc.id)
			w.forStep(tc.id)
			w.env.Touched = new(steps.PathSet)
			w.wantPass(s.ID, w.actions(s.Do))
			for _, f := range tc.files {
				if !w.exists(f) {
					t.Errorf("do did not write %s", f)
				}
			}
			if got := w.env.Touched.List(); strings.Join(got, " ") != strings.Join(tc.touched, " ") {
				t.Errorf("reported for the checkpoint: %v, want %v (never a key or a secret)", got, tc.touched)
			}
			w.wantPass(s.ID, w.actions(s.Verify))
			// A retry (or a resume) of the do changes nothing.
			w.wantPass(s.ID, w.actions(s.Do))
			w.wantPass(s.ID, w.actions(s.Verify))

			w.wantPass(s.ID, w.actions(s.Undo))
			for _, f := range tc.files {
				if w.exists(f) {
					t.Errorf("undo left %s", f)
				}
			}
			w.wantSomeFail(s.ID, w.actions(s.Verify))
			// The undo may run twice harmlessly.
			w.wantPass(s.ID, w.actions(s.Undo))
		})
	}
	w.t = t
	// Every undo left the workspace as the first commit has it.
	cmd := exec.Command("git", "status", "--porcelain", "--ignored")
	cmd.Dir = w.dir
	out, err := cmd.Output()
	if err != nil || len(out) != 0 {
		t.Errorf("workspace after the undos: %v\n%s", err, out)
	}
}

func TestEmbeddedPhase1CertificatesAsGuided(t *testing.T) {
	needTools(t, "git", "openssl", "sh")
	rb := loadPhase1(t)
	s := step(t, rb, "item2-generate-certificates")
	w := newWorkspace(t)
	w.forStep(s.ID)
	w.write(".gitignore", labGitignore, 0o644)
	sh := codeBlocks(t, rb, s.Guide.String(), "sh")
	ext := codeBlocks(t, rb, s.Guide.String(), "text")
	if len(sh) != 2 || len(ext) != 1 {
		t.Fatalf("guide %s: %d sh and %d text blocks, want 2 and 1", s.Guide, len(sh), len(ext))
	}
	w.run("sh", "-ec", sh[0])
	w.write("nginx/certs/server.ext", ext[0], 0o644)
	w.run("sh", "-ec", "cd nginx/certs\n"+sh[1])

	w.wantPass(s.ID, w.actions(s.Verify))

	if err := os.Chmod(filepath.Join(w.dir, "nginx/certs/server.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.wantFail(s.ID, "Server key is mode 0600", w.actions(s.Verify))

	// The commit step's verify: the key must stay out of git.
	c := step(t, rb, "item2-commit-verification")
	w.write("nginx/conf.d/default.conf", "# placeholder\n", 0o644)
	w.run("git", "add", "-A")
	w.run("git", "commit", "-q", "-m", "item 2")
	w.wantPass(c.ID, w.actions(c.Verify))
	w.run("git", "add", "-f", "nginx/certs/server.key")
	w.wantFail(c.ID, "Server key is not tracked", w.actions(c.Verify))
}

func TestEmbeddedPhase1NginxConfigAsGuided(t *testing.T) {
	rb := loadPhase1(t)
	s := step(t, rb, "item2-nginx-configuration")
	w := newWorkspace(t)
	conf := strings.Join(codeBlocks(t, rb, s.Guide.String(), "nginx"), "\n")
	w.write("nginx/conf.d/default.conf", conf, 0o644)
	w.wantPass(s.ID, w.actions(s.Verify))

	w.write("nginx/conf.d/default.conf", strings.Replace(conf, "TLSv1.2 TLSv1.3", "TLSv1.1 TLSv1.2 TLSv1.3", 1), 0o644)
	w.wantFail(s.ID, "TLS 1.2 and 1.3 only", w.actions(s.Verify))

	// What the guide shows is what the step renders, directive for
	// directive (the template's cipher list is longer, its comments
	// and wrapping differ).
	w.forStep(s.ID)
	w.write("nginx/conf.d/default.conf", "", 0o644)
	w.wantPass(s.ID, w.actions(s.Do))
	rendered, err := os.ReadFile(filepath.Join(w.dir, "nginx/conf.d/default.conf"))
	if err != nil {
		t.Fatal(err)
	}
	have := directives(string(rendered))
	for d := range directives(conf) {
		if strings.HasPrefix(d, "ssl_ciphers ") || strings.HasPrefix(d, "listen ") || strings.HasPrefix(d, "server_name ") {
			continue
		}
		if !have[d] {
			t.Errorf("the guide shows %q, the rendered configuration lacks it", d)
		}
	}
}

// directives lists an nginx configuration's statements, whitespace
// collapsed and statements that wrap joined.
func directives(conf string) map[string]bool {
	var lines []string
	for _, l := range strings.Split(conf, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	out := map[string]bool{}
	for _, st := range strings.FieldsFunc(strings.Join(lines, " "), func(r rune) bool { return r == ';' || r == '{' || r == '}' }) {
		if f := strings.Fields(st); len(f) > 0 {
			out[strings.Join(f, " ")] = true
		}
	}
	return out
}

// sqlStatements is a script's statements without comments.
func sqlStatements(src string) []string {
	var b strings.Builder
	for _, l := range strings.Split(src, "\n") {
		if i := strings.Index(l, "--"); i >= 0 {
			l = l[:i]
		}
		b.WriteString(l + " ")
	}
	var out []string
	for _, st := range strings.Split(b.String(), ";") {
		if f := strings.Fields(st); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

func TestEmbeddedPhase1MigrationsAsGuided(t *testing.T) {
	rb := loadPhase1(t)
	s := step(t, rb, "item3-create-migrations")
	w := newWorkspace(t)
	sql := codeBlocks(t, rb, s.Guide.String(), "sql")
	if len(sql) != 2 {
		t.Fatalf("guide %s: %d sql blocks, want 2 (up, down)", s.Guide, len(sql))
	}
	w.write("db/migrations/001_security_extensions.up.sql", sql[0], 0o644)
	w.write("db/migrations/001_security_extensions.down.sql", sql[1], 0o644)
	w.wantPass(s.ID, w.actions(s.Verify))

	w.write("db/migrations/001_security_extensions.up.sql", "CREATE EXTENSION pgcrypto;\n", 0o644)
	w.wantFail(s.ID, "Up migration creates pgaudit", w.actions(s.Verify))

	// The guide shows the embedded templates' statements.
	for i, name := range []string{"sql/security-extensions.up.sql.tmpl", "sql/security-extensions.down.sql.tmpl"} {
		tmpl, err := fs.ReadFile(assets.Templates(), name)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sqlStatements(string(tmpl)), sqlStatements(sql[i]); strings.Join(got, ";") != strings.Join(want, ";") {
			t.Errorf("template %s has %q, the guide shows %q", name, got, want)
		}
	}
}

func TestEmbeddedPhase1TemplatesAsGuided(t *testing.T) {
	needTools(t, "git")
	rb := loadPhase1(t)
	s := step(t, rb, "item4-create-templates")
	w := newWorkspace(t)
	w.forStep(s.ID)
	ignore := codeBlocks(t, rb, s.Guide.String(), "text")
	w.write(".gitignore", ignore[0], 0o644)
	w.wantPass(s.ID, w.actions(s.Do))
	w.wantPass(s.ID, w.actions(s.Verify))

	// The guide shows what the step writes: the same settings and
	// pointers, no value.
	example := codeBlocks(t, rb, s.Guide.String(), "sh")[0]
	rendered, err := os.ReadFile(filepath.Join(w.dir, ".env.staging.example"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(rendered), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if got, want := strings.Join(lines, "\n"), strings.TrimSpace(example); got != want {
		t.Errorf("rendered .env.staging.example:\n%s\nthe guide shows:\n%s", got, want)
	}

	// The integration step's file checks, with the secrets written as
	// secret.generate writes them.
	i := step(t, rb, "item4-tests-integrate")
	w.write("secrets/db_password", "0123456789abcdef", 0o600)
	w.write("secrets/secret_key", "0123456789abcdef", 0o600)
	w.wantPass(i.ID, w.actions(i.Verify))
	if err := os.Chmod(filepath.Join(w.dir, "secrets/db_password"), 0o640); err != nil {
		t.Fatal(err)
	}
	w.wantFail(i.ID, "Secret files are mode 0600", w.actions(i.Verify))

	w.write(".gitignore", "nginx/certs/*.key\n", 0o644)
	w.wantFail(s.ID, "secrets/ is ignored by git", w.actions(s.Verify))
}

// The environment check of the preparation phase, run for real. It needs a
// Docker engine as well as the tools.
func TestEmbeddedPhase1EnvironmentCheck(t *testing.T) {
	needTools(t, "docker", "openssl", "python3", "curl", "git")
	rb := loadPhase1(t)
	s := step(t, rb, "prep-verify-environment")
	w := newWorkspace(t)
	res := w.actions(s.Do)
	if err := res["Docker engine answers"]; err != nil && os.Getenv("RUNBOOK_REQUIRE_SERVICES") == "" {
		t.Skipf("no Docker engine at %s (set RUNBOOK_REQUIRE_SERVICES to make this a failure): %v", w.env.Targets["docker"], err)
	}
	w.wantPass(s.ID, res)

	// Outside a git repository the last check must fail.
	w.env.Workspace = t.TempDir()
	w.wantFail(s.ID, "Workspace is a git repository", w.actions(s.Do))
}

// Item 3's database steps against a real PostgreSQL 15 with pgaudit
// preloaded (RUNBOOK_TEST_PGDSN, a superuser; .ci/services.sh starts
// one), in a database of their own: the migrations as the runbook writes
// them, applied, verified, checked for pgcrypto, reverted, and verified
// gone with no version table left behind.
func TestEmbeddedPhase1MigrationsAgainstPostgres(t *testing.T) {
	admin := steptest.PostgresDSN(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("RUNBOOK_TEST_PGDSN: %v", err)
	}
	rb := loadPhase1(t)
	w := newWorkspace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A database of its own, made and dropped with the pg actions.
	name := fmt.Sprintf("runbook_phase1_%d", time.Now().UnixNano())
	w.env.Targets["admin"] = admin
	no := false
	create := &pg.Exec{Conn: pg.Conn{Target: "admin"}, SQL: "CREATE DATABASE ${ident:db}", Idents: map[string]string{"db": name}, Transaction: &no}
	drop := &pg.Exec{Conn: pg.Conn{Target: "admin"}, SQL: "DROP DATABASE IF EXISTS ${ident:db} WITH (FORCE)", Idents: map[string]string{"db": name}, Transaction: &no}
	for _, a := range []*pg.Exec{create, drop} {
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if err := create.Run(ctx, w.env); err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatalf("create a database on RUNBOOK_TEST_PGDSN: %v", err)
		}
		t.Skipf("no PostgreSQL at RUNBOOK_TEST_PGDSN: %v", err)
	}
	t.Cleanup(func() {
		if err := drop.Run(context.Background(), w.env); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	// Item 3's compose step sets pgaudit.log on the server's command
	// line; this shared server has pgaudit preloaded but logs nothing, so
	// the test database gets the same setting.
	audit := &pg.Exec{Conn: pg.Conn{Target: "admin"}, SQL: "ALTER DATABASE ${ident:db} SET pgaudit.log = 'ddl,write'", Idents: map[string]string{"db": name}}
	if err := audit.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := audit.Run(ctx, w.env); err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	w.env.Targets["db"] = u.String()
	w.env.Redact = steps.NewRedactor()
	if p, ok := u.User.Password(); ok {
		w.env.Redact.Add(p)
	}

	cm := step(t, rb, "item3-create-migrations")
	w.forStep(cm.ID)
	w.wantPass(cm.ID, w.actions(cm.Do))

	run := func(id string, list []runbooks.Action) {
		t.Helper()
		w.forStep(id)
		for _, a := range list {
			if a.Type == "docker.logs" {
				continue // the container's log: the rehearsal checks it
			}
			if err := a.Params.(steps.Action).Run(ctx, w.env); err != nil {
				t.Fatalf("step %s, %s at %s: %v\noutput:\n%s", id, a.Type, a.Pos, err, w.out)
			}
		}
	}
	rm := step(t, rb, "item3-run-migrations")
	run(rm.ID, rm.Do)
	run(rm.ID, rm.Verify)
	ve := step(t, rb, "item3-verify-extensions")
	run(ve.ID, ve.Do)
	run(ve.ID, ve.Verify)
	run(rm.ID, rm.Undo)
	// After the undo nothing of the step is left: the verify fails, the
	// version table is gone.
	w.forStep(rm.ID)
	if err := rm.Verify[0].Params.(steps.Action).Run(ctx, w.env); err == nil {
		t.Error("pgcrypto is still installed after the undo")
	}
	gone := &pg.Query{SQL: "SELECT to_regclass('runbook_schema_version') IS NULL", Value: true}
	if err := gone.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := gone.Run(ctx, w.env); err != nil {
		t.Errorf("version table after the undo: %v", err)
	}
	if strings.Contains(w.out.String(), "password=") {
		t.Errorf("output shows a password setting:\n%s", w.out)
	}
	if p, ok := u.User.Password(); ok && p != "" && strings.Contains(w.out.String(), p) {
		t.Error("output shows the database password")
	}
}
