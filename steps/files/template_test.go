package files_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/assets"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/files"
)

const confPath = "nginx/conf.d/default.conf"

func nginxTemplate() *files.Template {
	return &files.Template{
		Template: "nginx/tls.conf.tmpl",
		Path:     confPath,
		Vars:     map[string]any{"upstream": "app:8000", "redirect_authority": "localhost:8443"},
	}
}

// do, verify, undo, verify-after-undo, for a file that existed before.
func TestTemplateDoVerifyUndo(t *testing.T) {
	env, out := newEnv(t, nil)
	write(t, env, confPath, "server { listen 80; }\n", 0o640)

	mustRun(t, nginxTemplate(), env)
	got := read(t, env, confPath)
	for _, want := range []string{"server app:8000;", "listen 443 ssl;", "return 301 https://localhost:8443$request_uri;", "ssl_protocols       TLSv1.2 TLSv1.3;"} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered file lacks %q", want)
		}
	}
	if m := modeOf(t, env, confPath); m != 0o644 {
		t.Errorf("mode %04o, want 0644", m)
	}
	for _, want := range []string{"--- a/" + confPath, "+++ b/" + confPath, "-server { listen 80; }", "+    server app:8000;", "wrote " + confPath + " ("} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	touched(t, env, confPath)

	verify := &files.Assert{Path: confPath, Mode: 0o644, Content: `listen 443 ssl`}
	mustRun(t, verify, env)

	// Run again (a retry): nothing to do, and the saved "before" is kept.
	out.Reset()
	mustRun(t, nginxTemplate(), env)
	if !strings.Contains(out.String(), confPath+" is up to date") {
		t.Errorf("second run:\n%s", out)
	}

	out.Reset()
	mustRun(t, &files.Restore{Path: confPath}, env)
	if got := read(t, env, confPath); got != "server { listen 80; }\n" {
		t.Errorf("after restore: %q", got)
	}
	if m := modeOf(t, env, confPath); m != 0o640 {
		t.Errorf("mode after restore %04o, want 0640", m)
	}
	if !strings.Contains(out.String(), "restored "+confPath+" to its content before this step") {
		t.Errorf("restore output:\n%s", out)
	}

	err := run(t, verify, env)
	want := confPath + ": mode: expected 0644, found 0640; content: expected a match for /listen 443 ssl/, found none"
	if err == nil || err.Error() != want {
		t.Errorf("verify after undo:\n got %v\nwant %s", err, want)
	}

	out.Reset()
	mustRun(t, &files.Restore{Path: confPath}, env)
	if !strings.Contains(out.String(), confPath+" was already restored") {
		t.Errorf("second restore:\n%s", out)
	}
}

// A file the step created is removed by the undo, with the directories
// created for it.
func TestTemplateNewFileUndoRemoves(t *testing.T) {
	env, _ := newEnv(t, nil)
	tpl := &files.Template{Content: "KEY={{ var \"v\" }}\n", Path: "deploy/env/app.env", Mode: 0o600, Vars: map[string]any{"v": "x"}}
	mustRun(t, tpl, env)
	if got := read(t, env, "deploy/env/app.env"); got != "KEY=x\n" {
		t.Errorf("content %q", got)
	}
	if m := modeOf(t, env, "deploy/env/app.env"); m != 0o600 {
		t.Errorf("mode %04o", m)
	}
	mustRun(t, &files.Assert{Path: "deploy/env/app.env", Content: "^KEY=x"}, env)
	mustRun(t, &files.Restore{Path: "deploy/env/app.env"}, env)
	if exists(env, "deploy") {
		t.Error("the created directories were left behind")
	}
	mustRun(t, &files.Assert{Path: "deploy/env/app.env", Absent: true}, env)
	err := run(t, &files.Assert{Path: "deploy/env/app.env"}, env)
	if err == nil || err.Error() != "deploy/env/app.env: expected a file, found none" {
		t.Errorf("assert after undo: %v", err)
	}
}

// A retried step that renders something else still restores the content
// from before its first attempt.
func TestTemplateRetryKeepsFirstSave(t *testing.T) {
	env, _ := newEnv(t, nil)
	write(t, env, "a.conf", "original\n", 0o644)
	mustRun(t, &files.Template{Content: "first\n", Path: "a.conf"}, env)
	mustRun(t, &files.Template{Content: "second\n", Path: "a.conf"}, env)
	mustRun(t, &files.Restore{Path: "a.conf"}, env)
	if got := read(t, env, "a.conf"); got != "original\n" {
		t.Errorf("restored %q, want the original", got)
	}
}

func TestRestoreNothingSaved(t *testing.T) {
	env, out := newEnv(t, nil)
	write(t, env, "x.conf", "mine\n", 0o644)
	mustRun(t, &files.Restore{Path: "x.conf"}, env)
	if !strings.Contains(out.String(), "nothing to restore for x.conf: this step did not change it") {
		t.Errorf("output:\n%s", out)
	}
	if read(t, env, "x.conf") != "mine\n" {
		t.Error("an unsaved file was changed")
	}
	touched(t, env)
}

func TestTemplateRefusesSecrets(t *testing.T) {
	const pw = "Sup3rSecretDbPassw0rd"
	env, out := newEnv(t, steps.Targets{"db": "postgres://app:" + pw + "@db:5432/app"}, pw)
	err := run(t, &files.Template{Content: "DSN={{ target \"db\" }}\n", Path: "app.env"}, env)
	want := "render template content: template: content:1:7: executing \"content\" at <target \"db\">: error calling target: target db is secret: render a reference to a secret file instead of its value"
	if err == nil || err.Error() != want {
		t.Errorf("secret target:\n got %v\nwant %s", err, want)
	}
	err = run(t, &files.Template{Content: "PASSWORD={{ var \"p\" }}\n", Path: "app.env", Vars: map[string]any{"p": pw}}, env)
	want = "render template content for app.env: the result contains a secret value; reference the secret's file instead"
	if err == nil || err.Error() != want {
		t.Errorf("secret value:\n got %v\nwant %s", err, want)
	}
	if exists(env, "app.env") {
		t.Error("a file holding a secret was written")
	}
	if strings.Contains(out.String(), pw) {
		t.Errorf("secret shown:\n%s", out)
	}
}

func TestTemplateErrors(t *testing.T) {
	env, _ := newEnv(t, nil)
	tpl := &files.Template{Template: "nginx/tls.conf.tmpl", Path: "x.conf"}
	err := run(t, tpl, env)
	if err == nil || !strings.Contains(err.Error(), "error calling var: the template needs vars: {upstream: ...}") {
		t.Errorf("missing var: %v", err)
	}
	// The message lists every embedded template: read the list from the
	// embedded tree, so adding a template does not break this test.
	var names []string
	fs.WalkDir(assets.Templates(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if len(names) < 3 {
		t.Fatalf("embedded templates: %v", names)
	}
	for _, tc := range []struct {
		t    files.Template
		want string
	}{
		{files.Template{Path: "x"}, "give exactly one of template (an embedded template name) or content (inline text)"},
		{files.Template{Content: "x", Template: "y", Path: "x"}, "give exactly one of template (an embedded template name) or content (inline text)"},
		{files.Template{Content: "x", Path: "../x"}, `path "../x" must stay inside the workspace (no .., or give an absolute path)`},
		{files.Template{Content: "{{ if }}", Path: "x"}, "template content: template: content:1: missing value for if"},
		{files.Template{Template: "nginx/nope.tmpl", Path: "x"}, `template "nginx/nope.tmpl" not found (embedded templates: ` + strings.Join(names, ", ") + ")"},
	} {
		err := tc.t.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v):\n got %v\nwant %s", tc.t, err, tc.want)
		}
	}
	// Relative paths need a workspace.
	env.Workspace = ""
	err = run(t, &files.Template{Content: "x", Path: "x.conf"}, env)
	if err == nil || err.Error() != "path x.conf is relative to the workspace, but no workspace is set: name it with --workspace or in the profile" {
		t.Errorf("no workspace: %v", err)
	}
}

func TestTemplateFromOtherFS(t *testing.T) {
	env, _ := newEnv(t, nil)
	tpl := &files.Template{Template: "t.tmpl", Path: "out.txt", Vars: map[string]any{"names": []any{"a", "b"}},
		Templates: fstest.MapFS{"t.tmpl": {Data: []byte(`{{ join "," (var "names") }} {{ sqlLiteral "it's" }} {{ sqlIdent "a\"b" }} {{ envName "db-password" }}` + "\n")}}}
	mustRun(t, tpl, env)
	if got, want := read(t, env, "out.txt"), `a,b 'it''s' "a""b" DB_PASSWORD`+"\n"; got != want {
		t.Errorf("rendered %q, want %q", got, want)
	}
}

func TestEnvTemplate(t *testing.T) {
	env, _ := newEnv(t, nil)
	tpl := &files.Template{Template: "env/app.env.tmpl", Path: ".env.example", Vars: map[string]any{
		"secrets":  []any{"db_password", "secret-key"},
		"settings": map[string]any{"DB_HOST": "db", "DB_NAME": "app"},
	}}
	mustRun(t, tpl, env)
	got := read(t, env, ".env.example")
	body := got[strings.Index(got, "DB_HOST"):]
	want := "DB_HOST=db\nDB_NAME=app\nDB_PASSWORD_FILE=/run/secrets/db_password\nSECRET_KEY_FILE=/run/secrets/secret-key\n"
	if body != want {
		t.Errorf("env file body:\n%s\nwant:\n%s", body, want)
	}
	// No values: every line is a comment, a setting given in vars, or a
	// *_FILE reference.
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "DB_HOST=") && !strings.HasPrefix(l, "DB_NAME=") && !strings.Contains(l, "_FILE=/run/secrets/") {
			t.Errorf("unexpected line %q", l)
		}
	}
}

func TestNginxTemplateShape(t *testing.T) {
	env, _ := newEnv(t, nil)
	mustRun(t, nginxTemplate(), env)
	got := read(t, env, confPath)
	if strings.Count(got, "{") != strings.Count(got, "}") {
		t.Error("unbalanced braces")
	}
	for _, want := range []string{
		"listen 80;", "listen 443 ssl;", "ssl_certificate     /etc/nginx/certs/server.crt;",
		"ssl_certificate_key /etc/nginx/certs/server.key;", "proxy_pass http://app;", "proxy_pass_header Server;",
		`add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;`, "server_tokens off;",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("nginx config lacks %q", want)
		}
	}
	// Every directive line ends in ; { or }.
	for i, l := range strings.Split(got, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !strings.HasSuffix(l, ";") && !strings.HasSuffix(l, "{") && !strings.HasSuffix(l, "}") {
			t.Errorf("line %d %q is not a complete directive", i+1, l)
		}
	}
}

func TestAssert(t *testing.T) {
	env, _ := newEnv(t, nil)
	write(t, env, "docker-compose.yml", "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: hunter2hunter2\n", 0o644)
	err := run(t, &files.Assert{Path: "docker-compose.yml", NoContent: `POSTGRES_PASSWORD:\s*\w`}, env)
	want := `docker-compose.yml: content: expected no match for /POSTGRES_PASSWORD:\s*\w/, found one at line 4`
	if err == nil || err.Error() != want {
		t.Errorf("no_content:\n got %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("content shown")
	}
	err = run(t, &files.Assert{Path: "docker-compose.yml", Absent: true}, env)
	if err == nil || err.Error() != "docker-compose.yml: expected absent, found a file (73 bytes)" {
		t.Errorf("absent: %v", err)
	}
	if err := os.Mkdir(filepath.Join(env.Workspace, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = run(t, &files.Assert{Path: "dir"}, env)
	if err == nil || err.Error() != "dir: expected a regular file, found d---------" {
		t.Errorf("directory: %v", err)
	}
	if err := (&files.Assert{Path: "x", Absent: true, Mode: 0o600}).Validate(); err == nil {
		t.Error("absent with mode validated")
	}
}

func TestTemplateDescribe(t *testing.T) {
	env, _ := newEnv(t, nil)
	got := nginxTemplate().Describe(env)
	want := "render template nginx/tls.conf.tmpl to nginx/conf.d/default.conf (mode 0644) with redirect_authority=localhost:8443, upstream=app:8000; the previous content is saved for file.restore"
	if got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
	if got := (&files.Restore{Path: "a"}).Describe(env); got != "restore a to its content before this step (remove it if this step created it)" {
		t.Errorf("Describe: %s", got)
	}
}

func BenchmarkTemplateNginx(b *testing.B) {
	env, _ := newEnv(b, nil)
	env.Out = nil
	tpl := nginxTemplate()
	if err := tpl.Validate(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tpl.Render(env); err != nil {
			b.Fatal(err)
		}
	}
}
