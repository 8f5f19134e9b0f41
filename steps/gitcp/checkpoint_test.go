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

func TestCheckpointCommitsTouchedPathsAndJournal(t *testing.T) {
	dir := newWorkspace(t, map[string]string{
		"compose.yml":        "services: {}\n",
		"nginx/nginx.conf":   "listen 80;\n",
		"nginx/old.conf":     "old\n",
		"app/README.md":      "app\n",
		"unrelated/note.txt": "before\n",
	})
	state := t.TempDir()
	journal := journalFile(t, state, "phase1", "record 1\nrecord 2\n")

	write(t, dir, "compose.yml", "services: {nginx: {}}\n")
	write(t, dir, "nginx/nginx.conf", "listen 443 ssl;\n")
	write(t, dir, "nginx/tls/params.conf", "ssl_protocols TLSv1.2 TLSv1.3;\n")
	if err := os.Remove(filepath.Join(dir, "nginx/old.conf")); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "unrelated/note.txt", "edited by hand, not by the step\n")

	r, err := Open(dir, WithAuthor("Runbook Test", "rb@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	req := request(1, 4*time.Minute+12*time.Second, "compose.yml", "nginx/nginx.conf", "nginx/tls/params.conf", "nginx/old.conf")
	req.Journal = journal
	res, err := r.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")); got != res.Commit {
		t.Fatalf("HEAD is %s, checkpoint returned %s", got, res.Commit)
	}
	wantChanged := []string{".runbook-journal/phase1.journal", "compose.yml", "nginx/nginx.conf", "nginx/old.conf", "nginx/tls/params.conf"}
	if !slices.Equal(res.Changed, wantChanged) {
		t.Errorf("Changed = %v, want %v", res.Changed, wantChanged)
	}
	// The commit holds exactly the step's files and the journal.
	stat := git(t, dir, "show", "--name-status", "--format=", "HEAD")
	wantStat := "A\t.runbook-journal/phase1.journal\nM\tcompose.yml\nM\tnginx/nginx.conf\nD\tnginx/old.conf\nA\tnginx/tls/params.conf\n"
	if stat != wantStat {
		t.Errorf("git show --name-status:\n%s\nwant:\n%s", stat, wantStat)
	}
	// Blobs are the worktree's bytes.
	for _, p := range []string{"compose.yml", "nginx/nginx.conf", "nginx/tls/params.conf", ".runbook-journal/phase1.journal"} {
		inTree := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD:"+p))
		onDisk := strings.TrimSpace(git(t, dir, "hash-object", p))
		if inTree != onDisk {
			t.Errorf("%s: tree has %s, worktree hashes to %s", p, inTree, onDisk)
		}
	}
	if got := read(t, dir, ".runbook-journal/phase1.journal"); got != "record 1\nrecord 2\n" {
		t.Errorf("journal copy = %q", got)
	}
	// Everything committed is clean; the hand edit is still only in the
	// worktree, and the parent tree's other entries are untouched.
	if got := porcelain(t, dir); got != " M unrelated/note.txt\n" {
		t.Errorf("git status after the checkpoint:\n%s", got)
	}
	if got := git(t, dir, "ls-tree", "HEAD", "app"); got != git(t, dir, "ls-tree", "HEAD~1", "app") {
		t.Errorf("untouched subtree app changed: %s", got)
	}
	assertConsistent(t, dir)
	if got := git(t, dir, "log", "-1", "--format=%an <%ae>"); got != "Runbook Test <rb@example.org>\n" {
		t.Errorf("author = %q", got)
	}
	if got := git(t, dir, "reflog", "-1", "--format=%gs"); !strings.HasPrefix(got, "commit: runbook: item2-nginx") {
		t.Errorf("reflog = %q", got)
	}

	// A second checkpoint on top of the first: the journal grows, one
	// file changes again.
	journal = journalFile(t, state, "phase1", "record 1\nrecord 2\nrecord 3\n")
	write(t, dir, "nginx/nginx.conf", "listen 443 ssl http2;\n")
	req = request(1, time.Minute, "nginx/nginx.conf")
	req.Journal = journal
	res2, err := r.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "rev-parse", "HEAD~1"); strings.TrimSpace(got) != res.Commit {
		t.Errorf("second checkpoint's parent is %s, want %s", got, res.Commit)
	}
	if got := git(t, dir, "show", "--name-only", "--format=", res2.Commit); got != ".runbook-journal/phase1.journal\nnginx/nginx.conf\n" {
		t.Errorf("second checkpoint holds:\n%s", got)
	}
	assertConsistent(t, dir)
}

func TestCheckpointMessage(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	r, err := Open(dir, WithRunbook("phase1"), WithAuthor("Runbook Test", "rb@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		req     func() steps.CheckpointRequest
		subject string
		body    []string
	}{
		{
			name:    "succeeded under budget",
			req:     func() steps.CheckpointRequest { return request(0, 4*time.Minute+12*time.Second, "a.txt") },
			subject: "runbook: item2-certs Generate certificates — succeeded in 4m12s of 5m",
			body:    []string{"Phase: item2 — Item 2: TLS/HTTPS", "Attempts: 1", "Work time: 4m12s of a 5m budget\n", "Runbook: phase1", "Runbook-Step: item2-certs", "Runbook-Outcome: succeeded"},
		},
		{
			name:    "over budget",
			req:     func() steps.CheckpointRequest { return request(1, 12*time.Minute+30*time.Second, "a.txt") },
			subject: "runbook: item2-nginx Configure nginx — succeeded in 12m30s of 10m",
			body:    []string{"Work time: 12m30s of a 10m budget (over by 2m30s)"},
		},
		{
			name: "skipped",
			req: func() steps.CheckpointRequest {
				q := request(0, 0, "a.txt")
				q.State.Status, q.State.Reason = steps.Skipped, "certificates exist\nalready"
				return q
			},
			subject: "runbook: item2-certs Generate certificates — skipped: certificates exist already",
			body:    []string{"Runbook-Outcome: skipped"},
		},
		{
			name: "undo",
			req: func() steps.CheckpointRequest {
				q := request(0, time.Minute, "a.txt")
				q.State.Status, q.Undo = steps.Undone, true
				return q
			},
			subject: "runbook: undo item2-certs Generate certificates — undone",
			body:    []string{"Runbook-Outcome: undone", "Runbook-Undo: true"},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			write(t, dir, "a.txt", strings.Repeat("x", i+1))
			res, err := r.Commit(context.Background(), tc.req())
			if err != nil {
				t.Fatal(err)
			}
			if got := git(t, dir, "log", "-1", "--format=%s", res.Commit); got != tc.subject+"\n" {
				t.Errorf("subject:\n%q\nwant\n%q", got, tc.subject)
			}
			body := git(t, dir, "log", "-1", "--format=%B", res.Commit)
			for _, w := range tc.body {
				if !strings.Contains(body, w) {
					t.Errorf("message lacks %q:\n%s", w, body)
				}
			}
			tr := git(t, dir, "log", "-1", "--format=%(trailers:key=Runbook-Step,valueonly)", res.Commit)
			if strings.TrimSpace(tr) != tc.req().Step.ID {
				t.Errorf("git does not read the Runbook-Step trailer: %q\n%s", tr, body)
			}
			if got := git(t, dir, "log", "-1", "--format=%ad", "--date=iso-strict", res.Commit); got != "2025-10-24T08:30:00+00:00\n" {
				t.Errorf("date = %q, want the request's Now", got)
			}
		})
	}
}

func TestCheckpointAuthorFromGitConfig(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	git(t, dir, "config", "user.name", "Team Member")
	git(t, dir, "config", "user.email", "member@example.org")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.txt", "b\n")
	if _, err := r.Checkpoint(context.Background(), request(0, time.Minute, "a.txt")); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "log", "-1", "--format=%an <%ae>"); got != "Team Member <member@example.org>\n" {
		t.Errorf("author = %q", got)
	}

	bare := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	r, err = Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	write(t, bare, "a.txt", "b\n")
	if _, err := r.Checkpoint(context.Background(), request(0, time.Minute, "a.txt")); err != nil {
		t.Fatal(err)
	}
	if got := git(t, bare, "log", "-1", "--format=%an <%ae>"); got != "runbook <runbook@localhost>\n" {
		t.Errorf("author without git config = %q", got)
	}
}

func TestCheckpointWithoutPathsDetectsChanges(t *testing.T) {
	files := map[string]string{".gitignore": "*.log\nbuild/\n", "keep.txt": "keep\n", "edit.txt": "v1\n", "gone.txt": "gone\n", "sub/deep/x.txt": "x\n", "sub/.gitignore": "local.conf\n"}
	dir := newWorkspace(t, files)
	state := filepath.Join(dir, ".runbook") // a state directory inside the worktree is never committed
	journal := journalFile(t, state, "phase1", "j\n")
	write(t, dir, ".runbook/phase1/lock", "holder\n")

	write(t, dir, "edit.txt", "v2\n")
	write(t, dir, "new/file.txt", "new\n")
	write(t, dir, "sub/deep/x.txt", "x2\n")
	write(t, dir, "debug.log", "ignored\n")
	write(t, dir, "build/out.bin", "ignored\n")
	write(t, dir, "sub/local.conf", "ignored by a nested .gitignore\n")
	if err := os.Remove(filepath.Join(dir, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	// Same content, new mtime: not a change.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "keep.txt"), future, future); err != nil {
		t.Fatal(err)
	}

	r, err := Open(dir, WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	req := request(0, time.Minute) // no Paths: a restart lost them
	req.Journal = journal
	res, err := r.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".runbook-journal/phase1.journal", "edit.txt", "gone.txt", "new/file.txt", "sub/deep/x.txt"}
	if !slices.Equal(res.Changed, want) {
		t.Errorf("Changed = %v, want %v", res.Changed, want)
	}
	if got := git(t, dir, "show", "--name-status", "--format=", "HEAD"); got != "A\t.runbook-journal/phase1.journal\nM\tedit.txt\nD\tgone.txt\nA\tnew/file.txt\nM\tsub/deep/x.txt\n" {
		t.Errorf("commit holds:\n%s", got)
	}
	// Only the state directory is left untracked; ignored files stay out.
	if got := porcelain(t, dir); got != "?? .runbook/phase1/journal\n?? .runbook/phase1/lock\n" {
		t.Errorf("git status:\n%s", got)
	}
	assertConsistent(t, dir)
}

func TestCheckpointRespectsGitignoreForTouchedPaths(t *testing.T) {
	dir := newWorkspace(t, map[string]string{".gitignore": "*.pid\n", "conf/.gitignore": "local/\n"})
	write(t, dir, "tracked.pid", "1\n")
	git(t, dir, "add", "-f", "tracked.pid")
	git(t, dir, "commit", "-q", "-m", "track a file that matches an ignore pattern")
	if err := os.WriteFile(filepath.Join(dir, ".git/info/exclude"), []byte("scratch.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "app.pid", "42\n")
	write(t, dir, "conf/local/x.conf", "x\n")
	write(t, dir, "scratch.txt", "s\n")
	write(t, dir, "conf/main.conf", "main\n")
	write(t, dir, "tracked.pid", "2\n") // tracked files are committed even when a pattern matches
	r, err := Open(dir, WithIgnore("conf/*.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "conf/a.tmp", "tmp\n")
	res, err := r.Commit(context.Background(), request(0, time.Minute, "app.pid", "conf/local/x.conf", "scratch.txt", "conf/main.conf", "tracked.pid", "conf/a.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Changed, []string{"conf/main.conf", "tracked.pid"}) {
		t.Errorf("Changed = %v", res.Changed)
	}
	if !slices.Equal(res.Ignored, []string{"app.pid", "conf/a.tmp", "conf/local/x.conf", "scratch.txt"}) {
		t.Errorf("Ignored = %v", res.Ignored)
	}
	if got := git(t, dir, "ls-files"); got != ".gitignore\nconf/.gitignore\nconf/main.conf\ntracked.pid\n" {
		t.Errorf("tracked after the checkpoint:\n%s", got)
	}
	assertConsistent(t, dir)
}

func TestCheckpointTouchedFolder(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"certs/ca.crt": "ca\n", "certs/old.crt": "old\n", "other.txt": "o\n"})
	write(t, dir, "certs/server.crt", "server\n")
	write(t, dir, "certs/ca.crt", "ca2\n")
	os.Remove(filepath.Join(dir, "certs/old.crt"))
	write(t, dir, "other.txt", "not touched\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Commit(context.Background(), request(0, time.Minute, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Changed, []string{"certs/ca.crt", "certs/old.crt", "certs/server.crt"}) {
		t.Errorf("Changed = %v", res.Changed)
	}
	if got := porcelain(t, dir); got != " M other.txt\n" {
		t.Errorf("status:\n%s", got)
	}
	// A whole folder removed.
	if err := os.RemoveAll(filepath.Join(dir, "certs")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(context.Background(), request(0, time.Minute, "certs")); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "ls-files", "certs"); got != "" {
		t.Errorf("certs still tracked: %s", got)
	}
	assertConsistent(t, dir)
}

func TestCheckpointModesSymlinksAndTypeChanges(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"run.sh": "#!/bin/sh\n", "conf": "a file that becomes a folder\n", "d/x": "x\n"})
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("run.sh", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "conf"))
	write(t, dir, "conf/main.conf", "now a folder\n")
	os.RemoveAll(filepath.Join(dir, "d"))
	write(t, dir, "d", "a folder that became a file\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(context.Background(), request(0, time.Minute, "run.sh", "link", "conf", "d")); err != nil {
		t.Fatal(err)
	}
	got := git(t, dir, "ls-tree", "-r", "--format=%(objectmode) %(path)", "HEAD")
	want := "100644 conf/main.conf\n100644 d\n120000 link\n100755 run.sh\n"
	if got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	if got := git(t, dir, "cat-file", "-p", "HEAD:link"); got != "run.sh" {
		t.Errorf("link target = %q", got)
	}
	if got := porcelain(t, dir); got != "" {
		t.Errorf("status:\n%s", got)
	}
	assertConsistent(t, dir)
}

func TestCheckpointOnUnbornBranchAndNothingToCommit(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	write(t, dir, "first.txt", "1\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Commit(context.Background(), request(0, time.Minute, "first.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "rev-list", "--count", "HEAD"); got != "1\n" {
		t.Errorf("commits = %s", got)
	}
	if got := git(t, dir, "reflog", "-1", "--format=%gs"); !strings.HasPrefix(got, "commit (initial): ") {
		t.Errorf("reflog = %q", got)
	}
	assertConsistent(t, dir)
	// Unchanged files: no empty commit.
	res2, err := r.Commit(context.Background(), request(0, time.Minute, "first.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if res2.Commit != "" || strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")) != res.Commit {
		t.Errorf("a checkpoint without changes committed %q", res2.Commit)
	}
}

func TestCheckpointIndexVersions(t *testing.T) {
	for _, v := range []string{"2", "3", "4"} {
		t.Run("v"+v, func(t *testing.T) {
			dir := newWorkspace(t, map[string]string{"a/b/c.txt": "c\n", "a/d.txt": "d\n", "e.txt": "e\n", "a/b/long/" + strings.Repeat("n", 120) + ".txt": "long\n"})
			git(t, dir, "update-index", "--index-version", v)
			if v == "3" {
				// Version 3 exists for extended flags: mark one entry
				// intent-to-add (a new file git knows of, staged empty).
				write(t, dir, "ita.txt", "intent\n")
				git(t, dir, "add", "-N", "ita.txt")
			}
			raw, err := os.ReadFile(filepath.Join(dir, ".git/index"))
			if err != nil {
				t.Fatal(err)
			}
			ix, err := parseIndex(raw)
			if err != nil {
				t.Fatal(err)
			}
			if enc := ix.encode(); string(enc) != string(raw) {
				t.Fatalf("index v%s does not survive a parse and encode unchanged (%d bytes, was %d)", v, len(enc), len(raw))
			}
			write(t, dir, "a/b/c.txt", "c2\n")
			write(t, dir, "a/new.txt", "new\n")
			r, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Commit(context.Background(), request(0, time.Minute, "a/b/c.txt", "a/new.txt")); err != nil {
				t.Fatal(err)
			}
			want := ""
			if v == "3" {
				want = " A ita.txt\n"
			}
			if got := porcelain(t, dir); got != want {
				t.Errorf("status:\n%s", got)
			}
			if got := git(t, dir, "diff", "--cached", "--name-only"); got != "" {
				t.Errorf("staged after the checkpoint: %s", got)
			}
			if got := git(t, dir, "ls-files", "--stage", "a/new.txt"); !strings.Contains(got, strings.TrimSpace(git(t, dir, "hash-object", "a/new.txt"))) {
				t.Errorf("index entry of a/new.txt: %s", got)
			}
			if got := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD:a/b/c.txt")); got != strings.TrimSpace(git(t, dir, "hash-object", "a/b/c.txt")) {
				t.Errorf("committed a/b/c.txt is %s", got)
			}
			// The team's next git commit works on the patched index.
			write(t, dir, "e.txt", "e2\n")
			git(t, dir, "commit", "-q", "-am", "by hand")
			git(t, dir, "fsck", "--strict", "--no-dangling", "--no-progress")
		})
	}
}

func TestCheckpointKeepsStagedWorkAndCacheTree(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"x/a.txt": "a\n", "y/b.txt": "b\n"})
	write(t, dir, "y/b.txt", "staged by hand\n")
	git(t, dir, "add", "y/b.txt")
	write(t, dir, "x/a.txt", "the step's change\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(context.Background(), request(0, time.Minute, "x/a.txt")); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "show", "--name-only", "--format=", "HEAD"); got != "x/a.txt\n" {
		t.Errorf("checkpoint holds %s", got)
	}
	if got := porcelain(t, dir); got != "M  y/b.txt\n" {
		t.Errorf("the hand-staged change must stay staged:\n%s", got)
	}
	// The cache tree git keeps in the index stays valid where nothing
	// changed: after the checkpoint, `git write-tree` of the index equals
	// the tree git computes from scratch.
	tree := strings.TrimSpace(git(t, dir, "write-tree"))
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD:x")); !strings.Contains(git(t, dir, "ls-tree", tree), got) {
		t.Errorf("write-tree %s lacks the checkpoint's x/ %s", tree, got)
	}
	if got := git(t, dir, "ls-tree", tree, "y"); strings.Contains(got, strings.TrimSpace(git(t, dir, "rev-parse", "HEAD:y"))) {
		t.Errorf("write-tree lost the staged y/b.txt: %s", got)
	}
}

func TestCheckpointIndexLocked(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	write(t, dir, ".git/index.lock", "")
	write(t, dir, "a.txt", "b\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := git(t, dir, "rev-parse", "HEAD")
	_, err = r.Checkpoint(context.Background(), request(0, time.Minute, "a.txt"))
	if err == nil {
		t.Fatal("checkpoint succeeded while the index was locked")
	}
	for _, w := range []string{filepath.Join(dir, ".git/index.lock") + " exists", "another git command is running", "remove " + filepath.Join(dir, ".git/index.lock")} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if git(t, dir, "rev-parse", "HEAD") != before {
		t.Error("HEAD moved")
	}
	if !exists(dir, ".git/index.lock") {
		t.Error("someone else's lock was removed")
	}
}

func TestCheckpointRefusesConflictsAndBadPaths(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../outside.txt", "/etc/passwd", ".git/config"} {
		_, err := r.Checkpoint(context.Background(), request(0, time.Minute, p))
		if err == nil || !(strings.Contains(err.Error(), "outside the workspace") || strings.Contains(err.Error(), ".git folder")) {
			t.Errorf("path %s: %v", p, err)
		}
	}
	// A merge conflict in the index.
	git(t, dir, "checkout", "-q", "-b", "other")
	write(t, dir, "a.txt", "other\n")
	git(t, dir, "commit", "-q", "-am", "other")
	git(t, dir, "checkout", "-q", "main")
	write(t, dir, "a.txt", "main\n")
	git(t, dir, "commit", "-q", "-am", "main")
	if _, err := gitErr(dir, "merge", "-q", "other"); err == nil {
		t.Fatal("expected a conflict")
	}
	_, err = r.Checkpoint(context.Background(), request(0, time.Minute, "a.txt"))
	if err == nil || !strings.Contains(err.Error(), "unresolved merge conflicts (a.txt)") {
		t.Errorf("conflict: %v", err)
	}
}

func TestOpenRefusesWhatItWasNotPointedAt(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"sub/a.txt": "a\n"})
	_, err := Open(filepath.Join(dir, "sub"))
	if err == nil || !strings.Contains(err.Error(), "not the top of a git repository but a folder inside "+dir) {
		t.Errorf("Open(subfolder) = %v", err)
	}
	plain := t.TempDir()
	_, err = Open(plain)
	if err == nil || !strings.Contains(err.Error(), "not a git repository: run `git init` there") {
		t.Errorf("Open(plain folder) = %v", err)
	}
}

func TestInitPrivateCommitsTheJournalOnly(t *testing.T) {
	needGit(t)
	state := t.TempDir()
	journal := journalFile(t, state, "phase1", "r1\n")
	r, err := InitPrivate(filepath.Join(state, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	req := request(1, time.Minute, "compose.yml") // a workspace path: not in this repository
	req.Journal = journal
	res, err := r.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	dir := r.Dir()
	if got := git(t, dir, "ls-tree", "-r", "--name-only", res.Commit); got != ".runbook-journal/phase1.journal\n" {
		t.Errorf("private checkpoint holds:\n%s", got)
	}
	if got := git(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/main\n" {
		t.Errorf("HEAD = %s", got)
	}
	// Reopening finds the same repository.
	r2, err := InitPrivate(dir)
	if err != nil {
		t.Fatal(err)
	}
	journal = journalFile(t, state, "phase1", "r1\nr2\n")
	req.Journal = journal
	if _, err := r2.Commit(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "rev-list", "--count", "HEAD"); got != "2\n" {
		t.Errorf("commits = %s", got)
	}
	assertConsistent(t, dir)
}

func TestCheckpointTagsTheEndOfAPhase(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	state := t.TempDir()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.txt", "1\n")
	req := request(0, time.Minute, "a.txt")
	req.Journal = journalFile(t, state, "phase1", "1\n")
	res, err := r.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "" {
		t.Errorf("first step of the phase tagged %s", res.Tag)
	}
	write(t, dir, "a.txt", "2\n")
	req = request(1, time.Minute, "a.txt")
	req.Journal = journalFile(t, state, "phase1", "1\n2\n")
	res, err = r.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "runbook/phase1/item2" {
		t.Fatalf("tag = %q", res.Tag)
	}
	if got := git(t, dir, "cat-file", "-t", "refs/tags/runbook/phase1/item2"); got != "tag\n" {
		t.Errorf("tag object type = %s", got)
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "runbook/phase1/item2^{commit}")); got != res.Commit {
		t.Errorf("tag points at %s, want %s", got, res.Commit)
	}
	msg := git(t, dir, "tag", "-l", "--format=%(contents)", "runbook/phase1/item2")
	if !strings.Contains(msg, "runbook phase1: phase item2 ended — Item 2: TLS/HTTPS") || !strings.Contains(msg, "Slot: 08:00–11:00 UTC (3h); steps budgeted 15m") {
		t.Errorf("tag message:\n%s", msg)
	}
	// The tag moves when the phase ends again; an undo does not tag.
	write(t, dir, "a.txt", "3\n")
	req.State.Status, req.Undo = steps.Undone, true
	res, err = r.Commit(context.Background(), req)
	if err != nil || res.Tag != "" {
		t.Errorf("undo checkpoint: tag %q, err %v", res.Tag, err)
	}
	tag, err := r.TagPhase("phase1", testPhase, res.Commit, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", tag+"^{commit}")); got != res.Commit {
		t.Errorf("moved tag points at %s", got)
	}
	if _, err := r.TagPhase("phase1", testPhase, "not-a-hash", t0); err == nil {
		t.Error("TagPhase accepted a bad hash")
	}
	git(t, dir, "fsck", "--strict", "--no-dangling", "--no-progress")
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                      "0s",
		45 * time.Second:                       "45s",
		4*time.Minute + 12*time.Second:         "4m12s",
		5 * time.Minute:                        "5m",
		time.Hour:                              "1h",
		90 * time.Minute:                       "1h30m",
		time.Hour + 5*time.Second:              "1h0m5s",
		4*time.Minute + 12400*time.Millisecond: "4m12s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestCheckpointJournalNameAndMissingJournal(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	r, err := Open(dir, WithRunbook("rb"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "somewhere.journal")
	if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	req := request(0, time.Minute)
	req.Journal = p
	res, err := r.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Changed, ".runbook-journal/rb.journal") {
		t.Errorf("Changed = %v", res.Changed)
	}
	missing := request(0, time.Minute)
	missing.Journal = filepath.Join(t.TempDir(), "nope", "journal")
	if _, err := r.Commit(context.Background(), missing); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing journal: %v", err)
	}
}

func TestCheckpointOnDetachedHead(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	git(t, dir, "checkout", "-q", "--detach")
	main := git(t, dir, "rev-parse", "main")
	write(t, dir, "a.txt", "b\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Commit(context.Background(), request(0, time.Minute, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")); got != res.Commit {
		t.Errorf("HEAD %s, checkpoint %s", got, res.Commit)
	}
	if _, err := gitErr(dir, "symbolic-ref", "-q", "HEAD"); err == nil {
		t.Error("HEAD is no longer detached")
	}
	if git(t, dir, "rev-parse", "main") != main {
		t.Error("a branch HEAD does not name moved")
	}
	assertConsistent(t, dir)
}

func TestCheckpointBranchLocked(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	write(t, dir, ".git/refs/heads/main.lock", "")
	write(t, dir, "a.txt", "b\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, index := git(t, dir, "rev-parse", "HEAD"), read(t, dir, ".git/index")
	_, err = r.Checkpoint(context.Background(), request(0, time.Minute, "a.txt"))
	lock := filepath.Join(dir, ".git/refs/heads/main.lock")
	if err == nil || !strings.Contains(err.Error(), "the ref refs/heads/main is locked ("+lock+" exists)") {
		t.Fatalf("err = %v", err)
	}
	if git(t, dir, "rev-parse", "HEAD") != head || read(t, dir, ".git/index") != index {
		t.Error("a failed branch update must leave branch and index as they were")
	}
	if exists(dir, ".git/index.lock") {
		t.Error("index.lock left behind")
	}
	if got := porcelain(t, dir); got != " M a.txt\n" {
		t.Errorf("status: %q", got)
	}
}

func TestCheckpointInLinkedWorktree(t *testing.T) {
	main := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	wt := filepath.Join(t.TempDir(), "wt")
	git(t, main, "worktree", "add", "-q", "-b", "window", wt)
	write(t, wt, "a.txt", "changed in the linked worktree\n")
	r, err := Open(wt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Commit(context.Background(), request(0, time.Minute, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(git(t, main, "rev-parse", "window")); got != res.Commit {
		t.Errorf("branch window at %s, checkpoint %s", got, res.Commit)
	}
	if got := porcelain(t, wt); got != "" {
		t.Errorf("linked worktree status:\n%s", got)
	}
	if got := porcelain(t, main); got != "" {
		t.Errorf("main worktree status:\n%s", got)
	}
	assertConsistent(t, wt)
}

// A git lock file left by the dead runbook process whose run this session
// took over is cleared, and said so; a newer one is someone else's and is
// never touched.
func TestCheckpointClearsAStaleIndexLockOfADeadRun(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"a.txt": "a\n"})
	write(t, dir, ".git/index.lock", "")
	opened := time.Now()
	old := opened.Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(dir, ".git/index.lock"), old, old); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.txt", "b\n")
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	req := request(0, time.Minute, "a.txt")
	var notes []string
	req.StaleBefore, req.Note = opened, func(n string) { notes = append(notes, n) }
	if _, err := r.Checkpoint(context.Background(), req); err != nil {
		t.Fatalf("checkpoint over a stale lock: %v", err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "index.lock") {
		t.Fatalf("notes %q", notes)
	}

	// A lock newer than the session: not the dead process's.
	write(t, dir, ".git/index.lock", "")
	write(t, dir, "a.txt", "c\n")
	req.StaleBefore = time.Now().Add(-time.Hour)
	_, err = r.Checkpoint(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ".git/index.lock")) {
		t.Fatalf("checkpoint over a live lock: %v", err)
	}
	if !exists(dir, ".git/index.lock") {
		t.Fatal("a lock that was not provably stale was removed")
	}
}
