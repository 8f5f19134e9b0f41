package gitcp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

const plantedKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPlantedSecretKeyMaterial0123456789abcdefAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n"
const plantedPassword = "s3cr3t-Planted-Passw0rd"

func TestCheckpointRefusesSecretMaterial(t *testing.T) {
	cases := []struct {
		name, path, content string
		mode                os.FileMode
		opts                []Option
		why                 string
	}{
		{name: "env file", path: ".env", content: "DB_PASSWORD=" + plantedPassword + "\n", mode: 0o644, why: "it is an environment (.env) file"},
		{name: "env file of a stage", path: "deploy/.env.production", content: "X=" + plantedPassword + "\n", mode: 0o644, why: "it is an environment (.env) file"},
		{name: "key file name", path: "certs/server.key", content: "not even PEM " + plantedPassword + "\n", mode: 0o644, why: "its name is that of a private key"},
		{name: "PEM private key in any file", path: "nginx/bundle.pem", content: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" + plantedKey, mode: 0o644, why: "it holds a PEM private key"},
		{name: "owner-only file", path: "config/db-password.txt", content: plantedPassword + "\n", mode: 0o600, why: "it is readable by its owner only (mode 0600), as generated secrets are"},
		{name: "secrets folder", path: "secrets/api_token", content: plantedPassword + "\n", mode: 0o644, opts: []Option{WithSecretDirs("secrets")}, why: "it is in a secrets directory"},
		{name: "secret pattern", path: "app/jwt.secret", content: plantedPassword + "\n", mode: 0o644, opts: []Option{WithSecretPatterns("*.secret")}, why: "it matches a secret pattern"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := newWorkspace(t, map[string]string{"README.md": "r\n"})
			state := t.TempDir()
			journal := journalFile(t, state, "phase1", "j\n")
			writeMode(t, dir, tc.path, tc.content, tc.mode)
			write(t, dir, "README.md", "changed too\n")
			r, err := Open(dir, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			head := git(t, dir, "rev-parse", "HEAD")
			indexBefore := read(t, dir, ".git/index")
			req := request(0, time.Minute, "README.md", tc.path)
			req.Journal = journal
			_, err = r.Checkpoint(context.Background(), req)
			var se *SecretError
			if !errors.As(err, &se) {
				t.Fatalf("checkpoint of %s: err = %v, want a SecretError", tc.path, err)
			}
			want := tc.path + " (" + tc.why + ")"
			for _, w := range []string{want, "nothing was committed", "add them to the workspace's .gitignore or to runbook's checkpoint ignore list"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), plantedPassword) || strings.Contains(err.Error(), "PlantedSecretKeyMaterial") {
				t.Errorf("the error shows the secret: %v", err)
			}
			if git(t, dir, "rev-parse", "HEAD") != head {
				t.Error("HEAD moved: something was committed")
			}
			if read(t, dir, ".git/index") != indexBefore {
				t.Error("the index changed")
			}
			if exists(dir, ".git/index.lock") {
				t.Error("index.lock left behind")
			}
			// No object in the repository holds the secret.
			assertNoObjectContains(t, dir, "PlantedSecretKeyMaterial", plantedPassword)

			// Ignoring the file lets the rest through, without it.
			if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("/"+tc.path+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := r.Commit(context.Background(), request(0, time.Minute, "README.md", tc.path, ".gitignore"))
			if err != nil {
				t.Fatalf("after ignoring %s: %v", tc.path, err)
			}
			if !slices.Equal(res.Changed, []string{".gitignore", "README.md"}) || !slices.Equal(res.Ignored, []string{tc.path}) {
				t.Errorf("Changed %v, Ignored %v", res.Changed, res.Ignored)
			}
			assertNoObjectContains(t, dir, "PlantedSecretKeyMaterial", plantedPassword)
			assertConsistent(t, dir)
		})
	}
}

// assertNoObjectContains reads every object of the repository (loose and
// packed) and fails if one holds any of the strings.
func assertNoObjectContains(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	all := git(t, dir, "cat-file", "--batch-all-objects", "--batch")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("an object of %s holds %q", dir, s)
		}
	}
}

func TestCheckpointSecretRulesOverrides(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"README.md": "r\n"})
	write(t, dir, ".env.example", "DB_PASSWORD=change-me\n")
	write(t, dir, "testdata/fixture.key", plantedKey)
	writeMode(t, dir, "private.txt", "owner only\n", 0o600)
	write(t, dir, "local/.env", "X=1\n")

	// Without overrides: the fixture key, the owner-only file and
	// local/.env are refused, and all three are named.
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{".env.example", "testdata/fixture.key", "private.txt", "local/.env"}
	_, err = r.Checkpoint(context.Background(), request(0, time.Minute, paths...))
	var se *SecretError
	if !errors.As(err, &se) || len(se.Files) != 3 {
		t.Fatalf("err = %v", err)
	}
	// With them: allowed files go in, ignore-listed ones stay out.
	r, err = Open(dir, WithAllow("testdata/*.key"), WithoutModeRule(), WithIgnore("local/"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Commit(context.Background(), request(0, time.Minute, paths...))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Changed, []string{".env.example", "private.txt", "testdata/fixture.key"}) || !slices.Equal(res.Ignored, []string{"local/.env"}) {
		t.Errorf("Changed %v Ignored %v", res.Changed, res.Ignored)
	}
}

func TestCheckpointScanFindsSecretsToo(t *testing.T) {
	// Without touched paths the scan's findings go through the same rules.
	dir := newWorkspace(t, map[string]string{"README.md": "r\n"})
	write(t, dir, "conf/app.env.txt", "fine\n")
	write(t, dir, "conf/.env", "TOKEN="+plantedPassword+"\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Checkpoint(context.Background(), request(0, time.Minute))
	var se *SecretError
	if !errors.As(err, &se) || len(se.Files) != 1 || se.Files[0].Path != "conf/.env" {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), plantedPassword) {
		t.Error("secret in the error")
	}
}

func TestMessageIsRedacted(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	r, err := Open(dir, WithRedactor(steps.NewRedactor(plantedPassword)))
	if err != nil {
		t.Fatal(err)
	}
	req := request(0, time.Minute, "a.txt")
	req.Step.Title = "Rotate " + plantedPassword
	write(t, dir, "a.txt", "b\n")
	if _, err := r.Checkpoint(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	msg := git(t, dir, "log", "-1", "--format=%B")
	if strings.Contains(msg, plantedPassword) || !strings.Contains(msg, "Rotate [redacted]") {
		t.Errorf("message:\n%s", msg)
	}
}

func TestHasPrivateKey(t *testing.T) {
	for in, want := range map[string]bool{
		plantedKey: true,
		"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n": true,
		"-----BEGIN ENCRYPTED PRIVATE KEY-----\n":                                        true,
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n":                 false,
		"ssl_certificate_key /etc/nginx/certs/server.key; # PRIVATE KEY-----":            false,
		"": false,
	} {
		if got := hasPrivateKey([]byte(in)); got != want {
			t.Errorf("hasPrivateKey(%.40q) = %v, want %v", in, got, want)
		}
	}
}

// A checkpoint never brings a known secret value into history; a file that
// was already committed with it (the compose file a runbook is moving the
// secret out of) goes on being committed.
func TestCheckpointRefusesNewKnownSecretValues(t *testing.T) {
	const old, rotated = "old-db-pass-1234", "rotated-db-pass-5678"
	dir := newWorkspace(t, map[string]string{"compose.yml": "DB_PASSWORD: " + old + "\n"})
	state := t.TempDir()
	journal := journalFile(t, state, "phase1", "j\n")
	r, err := Open(dir, WithRedactor(steps.NewRedactor(old, rotated)))
	if err != nil {
		t.Fatal(err)
	}
	// The old value was there before: an edit elsewhere is committed.
	write(t, dir, "compose.yml", "# edited\nDB_PASSWORD: "+old+"\n")
	req := request(0, time.Minute, "compose.yml")
	req.Journal = journal
	if _, err := r.Checkpoint(context.Background(), req); err != nil {
		t.Fatalf("file already committed with the secret: %v", err)
	}
	// A new value in a tracked file, or in a new file, is refused.
	for _, f := range []struct{ path, content string }{
		{"compose.yml", "DB_PASSWORD: " + rotated + "\n"},
		{"notes.txt", "the password is " + old + "\n"},
	} {
		write(t, dir, f.path, f.content)
		req := request(1, time.Minute, f.path)
		req.Journal = journal
		_, err := r.Checkpoint(context.Background(), req)
		var se *SecretError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), f.path+" (it holds a secret value runbook knows") {
			t.Fatalf("%s with a new secret value: %v", f.path, err)
		}
		if strings.Contains(err.Error(), old) || strings.Contains(err.Error(), rotated) {
			t.Fatalf("the refusal shows the secret: %v", err)
		}
		if log := git(t, dir, "log", "-p"); strings.Contains(log, rotated) || strings.Count(log, old) != 2 {
			t.Fatalf("history holds a new secret:\n%s", log)
		}
		git(t, dir, "checkout", "-q", "--", ".")
		os.Remove(filepath.Join(dir, "notes.txt"))
	}
}

// An undo puts back what history held, secrets included (the before state
// of a runbook that moved them out): its checkpoint is not refused.
func TestUndoCheckpointMayRestoreAnEarlierSecret(t *testing.T) {
	const old = "old-db-pass-1234"
	dir := newWorkspace(t, map[string]string{"compose.yml": "DB_PASSWORD: " + old + "\n"})
	journal := journalFile(t, t.TempDir(), "phase1", "j\n")
	r, err := Open(dir, WithRedactor(steps.NewRedactor(old)))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "compose.yml", "DB_PASSWORD_FILE: /run/secrets/db_password\n")
	req := request(0, time.Minute, "compose.yml")
	req.Journal = journal
	if _, err := r.Checkpoint(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "compose.yml", "DB_PASSWORD: "+old+"\n")
	req.Undo = true
	if _, err := r.Checkpoint(context.Background(), req); err != nil {
		t.Fatalf("undo checkpoint restoring the before state: %v", err)
	}
	req.Undo = false
	write(t, dir, "compose.yml", "# again\nDB_PASSWORD: "+old+"\n")
	if _, err := r.Checkpoint(context.Background(), req); err != nil {
		t.Fatalf("the value is in the committed file again: %v", err)
	}
}

// Foreign text in a commit message (a step title, a reason, a phase name)
// never brings its escape sequences along.
func TestMessageIsTerminalSafe(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	req := request(0, time.Minute, "a.txt")
	req.Step.Title = "Rotate \x1b]0;pwned\x07keys \x1b[2J\u202e"
	req.Phase.Title = "Item \x1b]52;c;cm0gLXJmIC8K\x07two"
	write(t, dir, "a.txt", "b\n")
	if _, err := r.Checkpoint(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	msg := git(t, dir, "log", "-1", "--format=%B")
	if strings.ContainsAny(msg, "\x1b\x07\u202e") || !strings.Contains(msg, "Rotate keys") {
		t.Errorf("message carries control text:\n%q", msg)
	}
}
