package docker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps"
)

const composeBefore = `# Rehearsal stack for the compose actions' tests.
version: "3.8"

services:
  app:
    image: runbook-probe:test   # built by TestMain
    environment:
      - PROBE_MODE=before
      - API_SECRET=` + planted + `   # plaintext: the edit moves it out
      - DB_PASS=` + planted + `
    healthcheck:
      test: ["CMD", "/probe", "health"]
      interval: 1s
      retries: 3
`

// cleanProject removes what compose made for a project.
func cleanProject(t *testing.T, project string) {
	c := needEngine(t)
	ctx := context.Background()
	f := client.Filters{}
	f.Add("label", labelProject+"="+project)
	if list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
		for _, it := range list.Items {
			_, _ = c.ContainerRemove(ctx, it.ID, client.ContainerRemoveOptions{Force: true})
		}
	}
	if nets, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
		for _, n := range nets.Items {
			_, _ = c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		}
	}
}

func TestComposeEditApplyRestore(t *testing.T) {
	needEngine(t)
	p := prefix(t)
	t.Cleanup(func() { cleanProject(t, p) })
	env, out := testEnv(t) // the redactor knows nothing: masking must not depend on it
	file := filepath.Join(env.Workspace, "lab", "docker-compose.yml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(composeBefore), 0o640); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	apply := &Apply{File: "lab/docker-compose.yml", Project: p, Services: []string{"app"}}
	app := Selector{Project: p, Service: "app"}
	before := &Assert{Selector: app, Running: ptr(true), Health: "healthy", EnvPresent: []string{"API_SECRET", "DB_PASS"}, EnvAbsent: []string{"API_SECRET_FILE"}, PortsAbsent: []string{"8000"}}

	// The "before" state.
	mustRun(t, env, apply)
	mustRun(t, env, &Wait{Selector: app, Timeout: "60s", Interval: "200ms"})
	mustRun(t, env, before)

	// do: edit and apply.
	edit := &Edit{File: "lab/docker-compose.yml", Project: p}
	var err error
	if edit.Patch, err = ParsePatch(`
services:
  app:
    environment:
      API_SECRET: null
      DB_PASS: null
      API_SECRET_FILE: /run/secrets/api_secret
    ports: ["127.0.0.1:` + port + `:8000"]
`); err != nil {
		t.Fatal(err)
	}
	diff, err := edit.Diff(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, edit)
	for _, want := range []string{
		"-      - API_SECRET=" + steps.Mask,
		"-      - DB_PASS=" + steps.Mask,
		`+      - "API_SECRET_FILE=`, // the redactor's key=value pattern masks even this path
		"+    ports:",
		`+      - "127.0.0.1:` + port + `:8000"`,
		"wrote lab/docker-compose.yml; the previous version is kept for compose.restore",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("edit output lacks %q:\n%s", want, out)
		}
		if !strings.HasPrefix(want, "wrote") && !strings.Contains(diff, want) {
			t.Errorf("Diff lacks %q:\n%s", want, diff)
		}
	}
	edited, _ := os.ReadFile(file)
	for _, keep := range []string{"# Rehearsal stack for the compose actions' tests.", "image: runbook-probe:test   # built by TestMain", `test: ["CMD", "/probe", "health"]`} {
		if !strings.Contains(string(edited), keep) {
			t.Errorf("edit lost %q:\n%s", keep, edited)
		}
	}
	if got := env.Touched.List(); len(got) != 1 || got[0] != "lab/docker-compose.yml" {
		t.Errorf("touched = %v, want [lab/docker-compose.yml]", got)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %v", fi.Mode().Perm())
	}
	// Running it again (a retry, a resume) changes nothing.
	mustRun(t, env, edit)
	if !strings.Contains(out.String(), "lab/docker-compose.yml already holds what the patch asks for: nothing to change") {
		t.Errorf("second edit:\n%s", out)
	}
	mustRun(t, env, apply)

	// verify.
	mustRun(t, env, &Wait{Selector: app, Timeout: "60s", Interval: "200ms"})
	after := &Assert{Selector: app, Running: ptr(true), EnvAbsent: []string{"API_SECRET", "DB_PASS"}, EnvPresent: []string{"API_SECRET_FILE"}, Ports: []string{"127.0.0.1:" + port + ":8000"}}
	mustRun(t, env, after)
	wantErr(t, env, before, "environment variable API_SECRET: expected set, found unset")

	// undo: byte-identical restore, re-applied.
	restore := &Restore{Compose: *apply}
	mustRun(t, env, restore)
	if got, _ := os.ReadFile(file); string(got) != composeBefore {
		t.Fatalf("restored file differs:\n%s", got)
	}
	// verify after undo.
	mustRun(t, env, &Wait{Selector: app, Timeout: "60s", Interval: "200ms"})
	mustRun(t, env, before)
	wantErr(t, env, after, "environment variable API_SECRET: expected unset, found set (value not shown)")
	// The undo is idempotent too.
	mustRun(t, env, restore)
	if !strings.Contains(out.String(), "nothing saved for lab/docker-compose.yml") {
		t.Errorf("second restore:\n%s", out)
	}
	if strings.Contains(out.String(), planted) {
		t.Errorf("planted secret in output:\n%s", out)
	}
}

func TestComposeRestoreRefusesForeignChange(t *testing.T) {
	env, out := testEnv(t)
	file := filepath.Join(env.Workspace, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(composeBefore), 0o644); err != nil {
		t.Fatal(err)
	}
	edit := &Edit{File: "docker-compose.yml"}
	var err error
	if edit.Patch, err = ParsePatch("services: {app: {restart: always}}"); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, edit)
	changed, _ := os.ReadFile(file)
	changed = append(changed, []byte("# changed by hand\n")...)
	if err := os.WriteFile(file, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	restore := &Restore{Compose: Apply{File: "docker-compose.yml"}, ReApply: ptr(false)}
	wantErr(t, env, restore, "restore docker-compose.yml: the file changed after this step edited it", "set force: true")
	if got, _ := os.ReadFile(file); string(got) != string(changed) {
		t.Fatal("refused restore still wrote the file")
	}
	restore.Force = true
	mustRun(t, env, restore)
	if got, _ := os.ReadFile(file); string(got) != composeBefore {
		t.Fatalf("forced restore:\n%s", got)
	}
	if strings.Contains(out.String(), planted) {
		t.Errorf("planted secret in output:\n%s", out)
	}
}

func TestComposeEditRejectsInvalidResult(t *testing.T) {
	env, _ := testEnv(t)
	file := filepath.Join(env.Workspace, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(composeBefore), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ patch, want string }{
		{"services: {app: {secrets: [undefined_secret]}}", `undefined_secret`},
		{"services: {app: {ports: \"8000\"}}", "ports"},
		{"services: {app: {restart: {when: always}}}", "restart"},
	} {
		edit := &Edit{File: "docker-compose.yml"}
		var err error
		if edit.Patch, err = ParsePatch(tc.patch); err != nil {
			t.Fatal(err)
		}
		wantErr(t, env, edit, "after the edit does not load (nothing was written)", tc.want)
		if got, _ := os.ReadFile(file); string(got) != composeBefore {
			t.Fatal("an invalid edit was written")
		}
	}
}

func TestComposeApplyFails(t *testing.T) {
	needEngine(t)
	p := prefix(t)
	t.Cleanup(func() { cleanProject(t, p) })
	env, _ := testEnv(t)
	if err := os.WriteFile(filepath.Join(env.Workspace, "docker-compose.yml"), []byte(composeBefore), 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr(t, env, &Apply{File: "docker-compose.yml", Project: p, Services: []string{"nope"}},
		"compose up -d nope in project "+p+" via the default engine (DOCKER_HOST, else the local socket) with docker", "(file docker-compose.yml): exit 1: ", "nope")
	env.Targets["docker"] = "unix:///nonexistent/docker.sock"
	wantErr(t, env, &Apply{File: "docker-compose.yml", Project: p},
		"compose up -d in project "+p+" via unix:///nonexistent/docker.sock with docker", "exit 1")
	wantErr(t, env, &Apply{File: "missing.yml"}, "missing.yml: no such file or directory")
}

func TestComposeEditNeedsSaveDir(t *testing.T) {
	env, _ := testEnv(t)
	env.SaveDir = ""
	file := filepath.Join(env.Workspace, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(composeBefore), 0o644); err != nil {
		t.Fatal(err)
	}
	edit := &Edit{File: "docker-compose.yml"}
	var err error
	if edit.Patch, err = ParsePatch("services: {app: {restart: always}}"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, env, edit, "could not be undone: refusing")
	if got, _ := os.ReadFile(file); string(got) != composeBefore {
		t.Fatal("the file was written without a saved copy")
	}
}
