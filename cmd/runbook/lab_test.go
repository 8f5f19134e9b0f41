package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLabUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"lab"}, "name a command: up, status, down or reset"},
		{[]string{"lab", "fly"}, `unknown command "fly" for "runbook lab"`},
		{[]string{"lab", "stauts"}, "Did you mean this?\n\tstatus"},
		{[]string{"lab", "up", "now"}, `unexpected argument "now"`},
		{[]string{"lab", "up", "--rebuild=postgress"}, `rebuild "postgress": not a lab image (want all, base, postgres, nginx, app)`},
		{[]string{"lab", "status", "--rebuild"}, "unknown flag: --rebuild"},
	}
	for _, tc := range cases {
		r := runbook(t, nil, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2 and %q", tc.args, r.code, r.err, tc.want)
		}
	}
	r := runbook(t, nil, "lab", "-h")
	if r.code != exitOK || !strings.Contains(r.out, "runbook lab up") {
		t.Errorf("lab -h: exit %d\n%s", r.code, r.out)
	}
	r = runbook(t, nil, "help")
	if !strings.Contains(r.out, "lab         the local rehearsal lab: up, status, down, reset") {
		t.Errorf("help does not list the lab:\n%s", r.out)
	}
}

// Without an engine, every lab command says which engine it tried and
// how to point it elsewhere.
func TestLabWithoutEngine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	env := []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}
	for _, cmd := range []string{"up", "down"} {
		r := runbook(t, env, "lab", cmd, "--dir", dir, "--state", filepath.Join(dir, "state"))
		if r.code != exitEnv {
			t.Errorf("lab %s: exit %d, want %d\n%s", cmd, r.code, exitEnv, r.err)
		}
		for _, want := range []string{"unix:///nonexistent/docker.sock", "is dockerd running", "DOCKER_HOST"} {
			if !strings.Contains(r.err, want) {
				t.Errorf("lab %s: stderr lacks %q:\n%s", cmd, want, r.err)
			}
		}
	}
	r := runbook(t, env, "lab", "status", "--dir", dir)
	if r.code != exitFailed || !strings.Contains(r.out, "is dockerd running") || !strings.Contains(r.out, "the lab is not up") {
		t.Errorf("lab status: exit %d, want 1\n%s%s", r.code, r.out, r.err)
	}
	r = runbook(t, env, "lab", "status", "--json", "--dir", dir)
	if r.code != exitFailed || !strings.Contains(r.out, `"engine_error"`) {
		t.Errorf("lab status --json: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

func TestRebuildFlag(t *testing.T) {
	cases := map[string][]string{"true": {"all"}, "false": nil, "app": {"app"}, "postgres,nginx": {"postgres", "nginx"}}
	for in, want := range cases {
		var r rebuildFlag
		if err := r.Set(in); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal([]string(r), want) {
			t.Errorf("Set(%q) = %v, want %v", in, r, want)
		}
	}
}
