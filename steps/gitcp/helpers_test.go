package gitcp

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// TestMain gives git (the CLI the tests check results with, and go-git's
// reading of the global config) a home of its own, so the tests neither
// read nor depend on the machine's git configuration.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "gitcp-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("HOME", home)
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	for _, k := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"} {
		os.Unsetenv(k)
	}
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// needGit skips without the git CLI, unless the services are required.
func needGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatalf("the git CLI is required to check checkpoints (RUNBOOK_REQUIRE_SERVICES is set): %v", err)
		}
		t.Skipf("no git CLI to check checkpoints with (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %v", err)
	}
}

// git runs the git CLI in dir and returns its stdout; failure is fatal.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	return out
}

func gitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.org",
		"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.org")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// write creates a file (and its folders) in dir.
func write(t testing.TB, dir, rel, content string) {
	t.Helper()
	writeMode(t, dir, rel, content, 0o644)
}

func writeMode(t testing.TB, dir, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
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

func read(t testing.TB, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(dir, rel string) bool {
	_, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel)))
	return err == nil
}

// newWorkspace makes a repository with a first commit of files.
func newWorkspace(t testing.TB, files map[string]string) string {
	t.Helper()
	needGit(t)
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	for rel, c := range files {
		write(t, dir, rel, c)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", "initial")
	return dir
}

// journalFile makes a journal in a state directory laid out as the
// session lays it out: <state>/<runbook>/journal.
func journalFile(t testing.TB, state, runbook, content string) string {
	t.Helper()
	p := steps.JournalPath(state, runbook)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var t0 = time.Date(2025, 10, 24, 8, 30, 0, 0, time.UTC)

var testPhase = runbooks.Phase{
	ID: "item2", Title: "Item 2: TLS/HTTPS",
	SlotStart:  time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC),
	SlotEnd:    time.Date(2025, 10, 24, 11, 0, 0, 0, time.UTC),
	Checkpoint: true,
	Steps: []runbooks.Step{
		{ID: "item2-certs", Title: "Generate certificates", Budget: 5 * time.Minute},
		{ID: "item2-nginx", Title: "Configure nginx", Budget: 10 * time.Minute},
	},
}

// request is a checkpoint request for a step of testPhase that succeeded
// after the given work time.
func request(step int, worked time.Duration, paths ...string) steps.CheckpointRequest {
	return steps.CheckpointRequest{
		Phase: testPhase, Step: testPhase.Steps[step],
		State: steps.StepState{Status: steps.Succeeded, Attempts: 1, Active: worked},
		Now:   t0, Paths: paths,
	}
}

// porcelain is `git status --porcelain` (untracked files listed).
func porcelain(t testing.TB, dir string) string {
	t.Helper()
	return git(t, dir, "status", "--porcelain", "--untracked-files=all")
}

// assertConsistent checks what any checkpoint must leave behind: a valid
// object graph, an index equal to HEAD (nothing staged) and no lock.
func assertConsistent(t testing.TB, dir string) {
	t.Helper()
	git(t, dir, "fsck", "--strict", "--no-dangling", "--no-progress")
	if d := git(t, dir, "diff", "--cached", "--name-status"); d != "" {
		t.Errorf("index differs from HEAD after the checkpoint:\n%s", d)
	}
	if exists(dir, ".git/index.lock") {
		t.Error(".git/index.lock left behind")
	}
}
