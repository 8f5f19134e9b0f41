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
)

func TestRestoreBefore(t *testing.T) {
	dir := newWorkspace(t, map[string]string{
		"compose.yml":       "version: before\n",
		"nginx/nginx.conf":  "listen 80;\n",
		"nginx/legacy.conf": "legacy\n",
		"run.sh":            "#!/bin/sh\necho before\n",
		"other.txt":         "other before\n",
	})
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "exec bit")
	state := t.TempDir()
	r, err := Open(dir, WithRunbook("phase1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before := git(t, dir, "rev-parse", "HEAD")

	// Step item2-certs (step 0): modifies, creates, deletes, drops the
	// exec bit.
	write(t, dir, "compose.yml", "version: after\n")
	write(t, dir, "nginx/tls/ssl.conf", "ssl on;\n")
	os.Remove(filepath.Join(dir, "nginx/legacy.conf"))
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := request(0, time.Minute, "compose.yml", "nginx/tls/ssl.conf", "nginx/legacy.conf", "run.sh")
	req.Journal = journalFile(t, state, "phase1", "1\n")
	cp, err := r.Commit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Step item2-nginx (step 1) changes another file afterwards.
	write(t, dir, "other.txt", "other after\n")
	req = request(1, time.Minute, "other.txt")
	req.Journal = journalFile(t, state, "phase1", "1\n2\n")
	if _, err := r.Commit(ctx, req); err != nil {
		t.Fatal(err)
	}

	res, err := r.RestoreBefore(ctx, "item2-certs")
	if err != nil {
		t.Fatal(err)
	}
	if res.Checkpoint != cp.Commit || res.Before+"\n" != before {
		t.Errorf("restored checkpoint %s to %s, want %s to %s", res.Checkpoint, res.Before, cp.Commit, before)
	}
	if want := []string{"compose.yml", "nginx/legacy.conf", "nginx/tls/ssl.conf", "run.sh"}; !slices.Equal(res.Paths, want) {
		t.Errorf("Paths = %v, want %v", res.Paths, want)
	}
	if len(res.Overwritten) != 0 {
		t.Errorf("Overwritten = %v", res.Overwritten)
	}
	// Verify after undo: the step's files are as before the step, the
	// later step's file is not touched, the journal copy is kept.
	if read(t, dir, "compose.yml") != "version: before\n" || read(t, dir, "nginx/legacy.conf") != "legacy\n" {
		t.Error("files not restored")
	}
	if exists(dir, "nginx/tls/ssl.conf") || exists(dir, "nginx/tls") {
		t.Error("the step's new file (and its empty folder) should be gone")
	}
	if fi, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh exec bit not restored: %v %v", fi.Mode(), err)
	}
	if read(t, dir, "other.txt") != "other after\n" || read(t, dir, ".runbook-journal/phase1.journal") != "1\n2\n" {
		t.Error("restore touched what the step did not change")
	}
	// The restore is committed, with trailers; the tree of the step's
	// files equals the one before the step.
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")); got != res.Commit {
		t.Errorf("HEAD %s, restore commit %s", got, res.Commit)
	}
	msg := git(t, dir, "log", "-1", "--format=%B")
	for _, w := range []string{"runbook: undo item2-certs — restored 4 file(s) to " + before[:12], "Runbook: phase1", "Runbook-Step: item2-certs", "Runbook-Undo: true"} {
		if !strings.Contains(msg, w) {
			t.Errorf("restore message lacks %q:\n%s", w, msg)
		}
	}
	if d := git(t, dir, "diff", "--stat", strings.TrimSpace(before), "HEAD", "--", "compose.yml", "nginx", "run.sh"); d != "" {
		t.Errorf("step files differ from before the step:\n%s", d)
	}
	if got := porcelain(t, dir); got != "" {
		t.Errorf("status after restore:\n%s", got)
	}
	assertConsistent(t, dir)

	// Restoring again is idempotent: the undo commit is passed over, the
	// same checkpoint is found, nothing changes, nothing is committed.
	again, err := r.RestoreBefore(ctx, "item2-certs")
	if err != nil {
		t.Fatal(err)
	}
	if again.Checkpoint != cp.Commit || again.Commit != "" || !slices.Equal(again.Paths, res.Paths) {
		t.Errorf("second restore: %+v", again)
	}
	if len(again.Overwritten) != 4 {
		t.Errorf("second restore should report all four as changed since the checkpoint: %v", again.Overwritten)
	}
}

func TestRestoreReportsLaterChangesAndFilters(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.conf": "a0\n", "b.conf": "b0\n"})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write(t, dir, "a.conf", "a1\n")
	write(t, dir, "b.conf", "b1\n")
	if _, err := r.Commit(ctx, request(0, time.Minute, "a.conf", "b.conf")); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.conf", "a2 by hand\n")
	res, err := r.Restore(ctx, "item2-certs", "a.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Paths, []string{"a.conf"}) || !slices.Equal(res.Overwritten, []string{"a.conf"}) || res.Commit != "" {
		t.Errorf("restore = %+v", res)
	}
	if read(t, dir, "a.conf") != "a0\n" || read(t, dir, "b.conf") != "b1\n" {
		t.Error("filter not applied")
	}
	// Restore does not commit: the file shows modified.
	if got := porcelain(t, dir); got != " M a.conf\n" {
		t.Errorf("status:\n%s", got)
	}
}

func TestRestoreWithoutCheckpoint(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a": "a\n"})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.RestoreBefore(context.Background(), "never-ran")
	if !errors.Is(err, ErrNoCheckpoint) || !strings.Contains(err.Error(), "Runbook-Step: never-ran") {
		t.Errorf("err = %v", err)
	}
}

func TestRestoreSkipsOtherRunbooks(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a": "a0\n"})
	ctx := context.Background()
	other, err := Open(dir, WithRunbook("other"))
	if err != nil {
		t.Fatal(err)
	}
	mine, err := Open(dir, WithRunbook("mine"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a", "a1\n")
	if _, err := mine.Commit(ctx, request(0, time.Minute, "a")); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a", "a2\n")
	if _, err := other.Commit(ctx, request(0, time.Minute, "a")); err != nil { // same step id, other runbook
		t.Fatal(err)
	}
	res, err := mine.Restore(ctx, "item2-certs")
	if err != nil {
		t.Fatal(err)
	}
	if read(t, dir, "a") != "a0\n" {
		t.Errorf("restored to %q, want the content before runbook mine's checkpoint", read(t, dir, "a"))
	}
	if !slices.Equal(res.Overwritten, []string{"a"}) {
		t.Errorf("Overwritten = %v", res.Overwritten)
	}
}
