package files_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/runbook-dev/runbook/steps/files"
)

// The planted secrets of the scan tests. None may appear in any output.
const (
	plantedCompose = "staging_pass_123"
	plantedKnown   = "Xk3pQ9vLm2Wz8RtY"
	plantedHistory = "old-history-pw-77"
)

func TestSecretScanWorkingTree(t *testing.T) {
	env, out := newEnv(t, nil)
	write(t, env, "secrets/db_password", plantedKnown, 0o600)
	write(t, env, "docker-compose.staging.yml", `services:
  db:
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: `+plantedCompose+`
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
  app:
    environment:
      DATABASE_PASSWORD: ${DB_PASSWORD}
      SECRET_KEY: "{{ .secret_key }}"
`, 0o644)
	write(t, env, "config/app.env", "DB_HOST=db\nDB_PASS="+plantedKnown+"\n", 0o644)
	write(t, env, "src/config.py", `password = settings.DB_PASSWORD
token = get_token()
api_key = os.environ["API_KEY"]
DATABASE_URL = "postgresql://app:`+plantedCompose+`@db:5432/app"
`, 0o644)
	write(t, env, "certs/server.key", "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n", 0o600)
	write(t, env, "docs/guide.md", "Example: `password: hunter2hunter2` <!-- runbook:allow-secret -->\nSet password: <your password>\n", 0o644)
	write(t, env, "bin/tool", "\x00\x01password=abcdefghijk", 0o755)

	scan := &files.SecretScan{KnownFrom: []string{"secrets/db_password"}}
	err := run(t, scan, env)
	want := "4 plaintext secret(s) found: certs/server.key:1 (PEM private key), config/app.env:2 (the secret value of secrets/db_password), " +
		"docker-compose.staging.yml:5 (password assignment), src/config.py:4 (password in URL): " +
		"move each value into a secret file and reference the file; rotate any secret found in git history"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	for _, s := range []string{plantedCompose, plantedKnown, "MIGHAgEAMBMG", "hunter2"} {
		if strings.Contains(out.String()+err.Error()+scan.Describe(env), s) {
			t.Fatalf("planted secret %q shown:\n%s\n%v", s, out, err)
		}
	}
	if !strings.Contains(out.String(), "FAIL secret at docker-compose.staging.yml:5 (password assignment)") {
		t.Errorf("output:\n%s", out)
	}
	if !env.Redact.Known(plantedKnown) {
		t.Error("the known secret was not taught to the redactor")
	}

	// After the fix (the undo of a leak, in effect) the scan passes.
	write(t, env, "docker-compose.staging.yml", "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/db_password\n", 0o644)
	write(t, env, "config/app.env", "DB_HOST=db\nDB_PASSWORD_FILE=/run/secrets/db_password\n", 0o644)
	scan = &files.SecretScan{KnownFrom: []string{"secrets/db_password"}, Exclude: []string{"certs/*.key", "src/**"}}
	out.Reset()
	if err := run(t, scan, env); err != nil {
		t.Fatalf("clean workspace: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "ok   no plaintext secrets found") {
		t.Errorf("output:\n%s", out)
	}
}

func TestSecretScanHistory(t *testing.T) {
	env, out := newEnv(t, nil)
	repo, err := git.PlainInit(env.Workspace, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "ops", Email: "ops@example.org", When: time.Date(2025, 10, 23, 17, 0, 0, 0, time.UTC)}
	commit := func(msg string) string {
		t.Helper()
		if _, err := wt.Add("."); err != nil {
			t.Fatal(err)
		}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: sig})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()[:7]
	}
	write(t, env, "README.md", "staging stack\n", 0o644)
	commit("initial")
	write(t, env, "compose.yml", "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: "+plantedHistory+"\n", 0o644)
	leak := commit("add compose")
	write(t, env, "compose.yml", "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/db_password\n", 0o644)
	commit("use a secret file")

	// The working tree is clean now.
	mustRun(t, &files.SecretScan{}, env)

	scan := &files.SecretScan{History: true}
	err = run(t, scan, env)
	want := fmt.Sprintf("1 plaintext secret(s) found: commit %s compose.yml:4 (password assignment): move each value into a secret file and reference the file; rotate any secret found in git history", leak)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	if strings.Contains(out.String()+err.Error(), plantedHistory) {
		t.Fatal("the secret from history was shown")
	}
	if !strings.Contains(out.String(), "scanned 3 commits of git history") {
		t.Errorf("output:\n%s", out)
	}
	// A bound on the walk: only the newest commit is scanned.
	if err := run(t, &files.SecretScan{History: true, MaxCommits: 1}, env); err != nil {
		t.Errorf("max_commits 1: %v", err)
	}
}

func TestSecretScanErrors(t *testing.T) {
	env, _ := newEnv(t, nil)
	err := run(t, &files.SecretScan{History: true}, env)
	want := "history: true, but the workspace " + env.Workspace + " is not a git repository (no .git): turn history off or point --workspace at the repository"
	if err == nil || err.Error() != want {
		t.Errorf("not a repository:\n got %v\nwant %s", err, want)
	}
	err = run(t, &files.SecretScan{KnownFrom: []string{"secrets/missing"}}, env)
	if err == nil || !strings.HasPrefix(err.Error(), "read the known secret in secrets/missing: open ") || !strings.HasSuffix(err.Error(), ": no such file or directory: generate it first (secret.generate) or fix known_from") {
		t.Errorf("missing known_from: %v", err)
	}
	off := false
	if err := (&files.SecretScan{Builtin: &off}).Validate(); err == nil || err.Error() != "nothing to look for: builtin patterns are off and there are no patterns, known_from files or run_secrets" {
		t.Errorf("Validate: %v", err)
	}
	if err := (&files.SecretScan{Paths: []string{"/etc/*"}}).Validate(); err == nil || err.Error() != `glob "/etc/*" is not a workspace-relative pattern` {
		t.Errorf("Validate: %v", err)
	}
	// Extra patterns.
	write(t, env, "notes.txt", "ticket ACME-SECRET-0042\n", 0o644)
	err = run(t, &files.SecretScan{Builtin: &off, Patterns: []string{`ACME-SECRET-\d+`}}, env)
	if err == nil || !strings.HasPrefix(err.Error(), `1 plaintext secret(s) found: notes.txt:1 (pattern /ACME-SECRET-\d+/)`) {
		t.Errorf("extra pattern: %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(env.Workspace, "notes.txt")); statErr != nil {
		t.Fatal(statErr)
	}
}

func BenchmarkSecretScan1000Files(b *testing.B) {
	env, _ := newEnv(b, nil)
	env.Out = nil
	for i := range 1000 {
		write(b, env, fmt.Sprintf("dir%02d/file%04d.yml", i%20, i), strings.Repeat("key: value\nname: something ordinary here\n", 50), 0o644)
	}
	write(b, env, "secrets/s", plantedKnown, 0o600)
	s := &files.SecretScan{KnownFrom: []string{"secrets/s"}}
	if err := s.Validate(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.Run(b.Context(), env); err != nil {
			b.Fatal(err)
		}
	}
}
