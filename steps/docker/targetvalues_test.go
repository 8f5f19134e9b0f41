package docker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A runbook names its compose project and host-specific values (an image
// the host can pull) through targets, so the same runbook serves the lab
// and staging. These need no engine.

func TestApplyProjectFromTarget(t *testing.T) {
	a := &Apply{File: "docker-compose.yml", Project: "${target.project}", Services: []string{"app"}, RemoveOrphans: true}
	if err := a.Validate(); err != nil {
		t.Fatalf("Validate with a project from a target: %v", err)
	}
	env, _ := testEnv(t)
	env.Targets["project"] = "rblab"
	if got, want := a.Describe(env), "docker compose (or docker-compose) --ansi never -f docker-compose.yml -p rblab up -d --remove-orphans app"; got != want {
		t.Errorf("Describe = %q\nwant       %q", got, want)
	}
	a.Services = nil
	if got := a.Describe(env); !strings.HasSuffix(got, "up -d --remove-orphans") {
		t.Errorf("Describe without services = %q, want it to end in up -d --remove-orphans", got)
	}

	// A literal bad name is refused when the runbook loads; one from a
	// target when it is known.
	if err := (&Apply{File: "x.yml", Project: "Bad Name"}).Validate(); err == nil {
		t.Error("Validate accepted the project name \"Bad Name\"")
	}
	if err := os.WriteFile(filepath.Join(env.Workspace, "docker-compose.yml"), []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env.Targets["project"] = "Bad Name"
	wantErr(t, env, a, `project "Bad Name": compose project names are lowercase`)
	delete(env.Targets, "project")
	wantErr(t, env, a, `unknown target "project"`)
}

func TestComposeEditExpandsTargets(t *testing.T) {
	env, out := testEnv(t)
	env.Targets["nginx_image"] = "registry.example/nginx:1.27"
	file := filepath.Join(env.Workspace, "docker-compose.yml")
	before := "services:\n  app:\n    image: app:1   # the API\n"
	if err := os.WriteFile(file, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	edit := &Edit{File: "docker-compose.yml"}
	var err error
	if edit.Patch, err = ParsePatch("services:\n  nginx:\n    image: ${target.nginx_image}\n    ports: [\"8443:443\"]\n"); err != nil {
		t.Fatal(err)
	}
	if got := edit.Describe(env); !strings.Contains(got, `set services.nginx.image = "registry.example/nginx:1.27"`) {
		t.Errorf("Describe = %q, want the image from the target", got)
	}
	diff, err := edit.Diff(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diff, "registry.example/nginx:1.27") || strings.Contains(diff, "${target") {
		t.Errorf("Diff should show the expanded image:\n%s", diff)
	}
	mustRun(t, env, edit)
	got, _ := os.ReadFile(file)
	if !strings.Contains(string(got), `image: "registry.example/nginx:1.27"`) || !strings.Contains(string(got), "# the API") {
		t.Errorf("edited file:\n%s", got)
	}
	// Run again: the expanded value is what the file holds, so nothing
	// changes.
	mustRun(t, env, edit)
	if !strings.Contains(out.String(), "already holds what the patch asks for") {
		t.Errorf("second run:\n%s", out)
	}

	// An unknown target is an error and nothing is written.
	if err := os.WriteFile(file, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	delete(env.Targets, "nginx_image")
	wantErr(t, env, edit, `unknown target "nginx_image"`)
	if got, _ := os.ReadFile(file); string(got) != before {
		t.Errorf("file changed by a failed edit:\n%s", got)
	}
}
