package files_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/steptest"
)

// newEnv is a step's environment: a workspace, a save directory outside
// it (as the engine keeps it in the state directory), captured output.
func newEnv(t testing.TB, targets steps.Targets, secrets ...string) (*steps.Env, *steptest.Buffer) {
	t.Helper()
	out := &steptest.Buffer{}
	if targets == nil {
		targets = steps.Targets{}
	}
	root := t.TempDir()
	ws := filepath.Join(root, "workspace")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	return &steps.Env{
		Out:       out,
		Targets:   targets,
		Redact:    steps.NewRedactor(secrets...),
		Workspace: ws,
		StateDir:  filepath.Join(root, "state"),
		SaveDir:   filepath.Join(root, "state", "run", "saved", "step"),
		Step:      "step",
		Clock:     steps.SystemClock{},
		Touched:   new(steps.PathSet),
	}, out
}

type action interface {
	Validate() error
	Run(context.Context, *steps.Env) error
}

func run(t testing.TB, a action, env *steps.Env) error {
	t.Helper()
	if err := a.Validate(); err != nil {
		t.Fatalf("validate %T: %v", a, err)
	}
	return a.Run(context.Background(), env)
}

func mustRun(t testing.TB, a action, env *steps.Env) {
	t.Helper()
	if err := run(t, a, env); err != nil {
		t.Fatalf("%T: %v", a, err)
	}
}

func write(t testing.TB, env *steps.Env, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(env.Workspace, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, env *steps.Env, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.Workspace, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func modeOf(t testing.TB, env *steps.Env, rel string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(filepath.Join(env.Workspace, rel))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func exists(env *steps.Env, rel string) bool {
	_, err := os.Stat(filepath.Join(env.Workspace, rel))
	return err == nil
}

func touched(t testing.TB, env *steps.Env, want ...string) {
	t.Helper()
	got := env.Touched.List()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("touched %v, want %v", got, want)
	}
}
