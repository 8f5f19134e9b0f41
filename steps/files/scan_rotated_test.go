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

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/files"
)

// After a rotation the old password is out of use but still in the
// workspace's history. A scan that knows only the current secret files
// says all is clean; with run_secrets it finds the old value and says
// where: commit and path:line.
func TestSecretScanFindsRotatedOutPasswordInHistory(t *testing.T) {
	const oldPW, newPW = "Old-Rotated-Out-7d2c9e41", "New-Current-Value-5a8b3f60"
	env, out := newEnv(t, nil)
	repo, err := git.PlainInit(env.Workspace, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	when := time.Date(2025, 10, 24, 14, 0, 0, 0, time.UTC)
	commit := func(msg string) string {
		t.Helper()
		if _, err := wt.Add("app"); err != nil {
			t.Fatal(err)
		}
		h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "ops", Email: "ops@example.org", When: when}})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()[:7]
	}
	writeFile(t, env.Workspace, "app/config.yml", "database:\n  host: db\n", 0o644)
	commit("initial")
	// Someone once pasted the password into a committed file (no key a
	// pattern would recognise), then took it out again.
	writeFile(t, env.Workspace, "app/config.yml", "database:\n  host: db\n  note: rotate "+oldPW+" soon\n", 0o644)
	leak := commit("config: temporary")
	writeFile(t, env.Workspace, "app/config.yml", "database:\n  host: db\n", 0o644)
	commit("config: remove the note")

	// The rotation, as a runbook does it, in step rotate/swap: the old
	// secret moved aside, the new one copied in; then the old file deleted.
	writeFile(t, env.Workspace, "secrets/db_password", oldPW, 0o600)
	writeFile(t, env.Workspace, "secrets/db_password.next", newPW, 0o600)
	state := filepath.Dir(env.SaveDir) // <run>/saved
	swap := *env
	swap.SaveDir = filepath.Join(state, "rotate", "swap")
	swap.Redact = steps.NewRedactor()
	mustRun(t, &files.Move{From: "secrets/db_password", To: "secrets/db_password.old"}, &swap)
	mustRun(t, &files.Copy{From: "secrets/db_password.next", To: "secrets/db_password"}, &swap)
	if err := os.Remove(filepath.Join(env.Workspace, "secrets", "db_password.old")); err != nil {
		t.Fatal(err)
	}

	// The final scan runs in a later step, in a new process (a fresh
	// redactor that knows nothing yet).
	final := *env
	final.SaveDir = filepath.Join(state, "verify", "final-scan")
	final.Redact = steps.NewRedactor()
	onlyCurrent := &files.SecretScan{Builtin: pFalse(), KnownFrom: []string{"secrets/db_password"}, History: true, Exclude: []string{"secrets/**"}}
	mustRun(t, onlyCurrent, &final)
	if !strings.Contains(out.String(), "ok   no plaintext secrets found") {
		t.Fatalf("the scan of the current secret alone: %s", out)
	}

	out.Reset()
	scan := &files.SecretScan{Builtin: pFalse(), KnownFrom: []string{"secrets/db_password"}, RunSecrets: true, History: true, Exclude: []string{"secrets/**"}}
	err = run(t, scan, &final)
	want := fmt.Sprintf("1 plaintext secret(s) found: commit %s app/config.yml:3 (a rotated-out secret value (secrets/db_password before step rotate/swap)): move each value into a secret file and reference the file; rotate any secret found in git history", leak)
	if err == nil || err.Error() != want {
		t.Fatalf("scan error:\n got %v\nwant %s", err, want)
	}
	if strings.Contains(out.String()+err.Error(), oldPW) || strings.Contains(out.String(), newPW) {
		t.Errorf("the scan shows a secret:\n%s", out)
	}
	if got := final.Redact.String("x " + oldPW); got != "x "+steps.Mask {
		t.Errorf("the rotated-out value is not masked after the scan: %q", got)
	}
	if d := scan.Describe(&final); !strings.Contains(d, "every secret value this run has known (rotated-out ones included)") {
		t.Errorf("describe: %s", d)
	}
}

func pFalse() *bool { b := false; return &b }
