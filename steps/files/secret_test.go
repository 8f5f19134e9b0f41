package files_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/files"
)

func TestSecretGenerateDoVerifyUndo(t *testing.T) {
	env, out := newEnv(t, nil)
	gen := &files.SecretGenerate{Path: "secrets/db_password"}
	mustRun(t, gen, env)
	v := read(t, env, "secrets/db_password")
	if len(v) != 32 || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Errorf("secret %d chars, not alnum", len(v))
	}
	if m := modeOf(t, env, "secrets/db_password"); m != 0o600 {
		t.Errorf("mode %04o", m)
	}
	if m := modeOf(t, env, "secrets"); m != 0o700 {
		t.Errorf("secrets dir mode %04o, want 0700", m)
	}
	if strings.Contains(out.String(), v) {
		t.Fatalf("secret printed:\n%s", out)
	}
	if got := env.Redact.String("dsn password " + v); got != "dsn password "+steps.Mask {
		t.Errorf("the redactor was not taught the secret: %q", got)
	}
	touched(t, env) // never reported for a checkpoint
	if want := "generated a 32-char alnum secret into secrets/db_password (mode 0600; value never shown, not committed)\n"; out.String() != want {
		t.Errorf("output %q, want %q", out, want)
	}

	// verify
	mustRun(t, &files.Assert{Path: "secrets/db_password", Mode: 0o600, Content: `^[A-Za-z0-9]{32}$`}, env)

	// Run again: the secret in use is kept.
	out.Reset()
	again, _ := newEnv(t, nil)
	again.Workspace, again.SaveDir, again.Out = env.Workspace, env.SaveDir, out
	mustRun(t, gen, again)
	if read(t, env, "secrets/db_password") != v {
		t.Error("a second run replaced the secret")
	}
	if !again.Redact.Known(v) {
		t.Error("a kept secret was not taught to the redactor (a resumed run would show it)")
	}

	// undo, then verify-after-undo
	mustRun(t, &files.SecretRemove{Path: "secrets/db_password"}, env)
	if exists(env, "secrets") {
		t.Error("the secrets directory this step created is still there")
	}
	err := run(t, &files.Assert{Path: "secrets/db_password", Mode: 0o600}, env)
	if err == nil || err.Error() != "secrets/db_password: expected a file, found none" {
		t.Errorf("verify after undo: %v", err)
	}
}

func TestSecretGenerateKeepsAndTightens(t *testing.T) {
	env, out := newEnv(t, nil)
	write(t, env, "secrets/api_key", "an-old-secret-value-123", 0o644)
	mustRun(t, &files.SecretGenerate{Path: "secrets/api_key"}, env)
	if read(t, env, "secrets/api_key") != "an-old-secret-value-123" {
		t.Error("existing secret replaced")
	}
	if m := modeOf(t, env, "secrets/api_key"); m != 0o600 {
		t.Errorf("mode %04o, want 0600", m)
	}
	if want := "keeping the existing secret in secrets/api_key; mode was 0644, now 0600\n"; out.String() != want {
		t.Errorf("output %q", out)
	}
	mustRun(t, &files.SecretRemove{Path: "secrets/api_key"}, env)
	if read(t, env, "secrets/api_key") != "an-old-secret-value-123" || modeOf(t, env, "secrets/api_key") != 0o644 {
		t.Error("undo did not put back the mode it changed (and only that)")
	}
}

func TestSecretGenerateForce(t *testing.T) {
	env, out := newEnv(t, nil)
	write(t, env, "secrets/key", "previous-secret-value-xyz", 0o600)
	mustRun(t, &files.SecretGenerate{Path: "secrets/key", Length: 64, Alphabet: "hex", Force: true}, env)
	v := read(t, env, "secrets/key")
	if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
		t.Errorf("hex secret of %d chars", len(v))
	}
	if strings.Contains(out.String(), v) || strings.Contains(out.String(), "previous-secret-value-xyz") {
		t.Fatalf("secret printed:\n%s", out)
	}
	mustRun(t, &files.SecretRemove{Path: "secrets/key"}, env)
	if read(t, env, "secrets/key") != "previous-secret-value-xyz" {
		t.Error("undo did not restore the replaced secret")
	}
}

func TestSecretGenerateAlphabets(t *testing.T) {
	env, _ := newEnv(t, nil)
	// An absolute path outside the workspace is allowed.
	mustRun(t, &files.SecretGenerate{Path: filepath.Join(filepath.Dir(env.Workspace), "outside", "token"), Length: 43, Alphabet: "base64url"}, env)
	v := read(t, env, "../outside/token")
	if len(v) != 43 || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Errorf("base64url secret of %d chars", len(v))
	}
	// Draws are not constant: two secrets differ.
	mustRun(t, &files.SecretGenerate{Path: "s2", Length: 43, Alphabet: "base64url"}, env)
	if read(t, env, "s2") == v {
		t.Error("two generated secrets are equal")
	}
	for _, tc := range []struct {
		s    files.SecretGenerate
		want string
	}{
		{files.SecretGenerate{}, "path is required"},
		{files.SecretGenerate{Path: "x", Length: 8}, "length 8 must be 16–4096 characters"},
		{files.SecretGenerate{Path: "x", Alphabet: "emoji"}, `alphabet "emoji": expected alnum, hex or base64url`},
	} {
		if err := tc.s.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %s", tc.s, err, tc.want)
		}
	}
	want := "generate 32-char alnum secret into secrets/db_password (mode 0600, value never shown); an existing one is kept"
	if got := (&files.SecretGenerate{Path: "secrets/db_password"}).Describe(env); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
}
