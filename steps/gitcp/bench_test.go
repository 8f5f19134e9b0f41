package gitcp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The checkpoint's goal: no slower than the git CLI doing the same
// commit — the step's files and the refreshed journal copy — in a 10,000-
// and a 50,000-file repository. Each round edits two tracked files,
// creates one and appends to the run's journal; runbook's checkpoint and
// the git CLI (on an identical clone, in the same round, in alternating
// order) commit them. Two anchors, one for each way a checkpoint finds its
// files:
//
//   - BenchmarkCheckpoint*: the step reported its paths; the anchor is
//     `cp journal && git add <paths> <journal copy> && git commit`;
//   - BenchmarkCheckpointScan*: no paths (a restart lost them), the
//     checkpoint scans the worktree; the anchor is `cp journal && git add
//     -A && git commit`.
//
//	go test ./steps/gitcp -run '^$' -bench . -benchtime 50x

// bigRepos caches the generated template repositories for one `go test`
// process (test-only state): making a 50,000-file repository takes
// seconds, and every benchmark clones the same one.
var bigRepos struct {
	sync.Mutex
	dir map[int]string
}

// bigRepo returns a bare repository with files files in 50 folders of 20
// subfolders (a shape like a monorepo's), made with git fast-import.
func bigRepo(b *testing.B, files int) string {
	b.Helper()
	needGit(b)
	bigRepos.Lock()
	defer bigRepos.Unlock()
	if d, ok := bigRepos.dir[files]; ok {
		return d
	}
	// Under the test process's home, which TestMain removes at the end.
	root, err := os.MkdirTemp(os.Getenv("HOME"), fmt.Sprintf("bench-%d-", files))
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(root, "template.git")
	git(b, root, "init", "-q", "--bare", "-b", "main", dir)
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(in)
	fmt.Fprintf(w, "commit refs/heads/main\ncommitter Fixture <fixture@example.org> 1761292800 +0000\ndata 8\ninitial\n")
	for i := 0; i < files; i++ {
		content := fmt.Sprintf("file %d\nline two of file %d\nline three\n", i, i)
		fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", benchPath(i), len(content), content)
	}
	w.WriteString("\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("git fast-import: %v", err)
	}
	if bigRepos.dir == nil {
		bigRepos.dir = map[int]string{}
	}
	bigRepos.dir[files] = dir
	return dir
}

func benchPath(i int) string {
	return fmt.Sprintf("d%03d/s%02d/f%06d.txt", i/1000%50+i/50000*50, i/50%20, i)
}

// clone checks the template out into a fresh worktree.
func clone(b *testing.B, template string) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "ws")
	git(b, filepath.Dir(dir), "clone", "-q", template, dir)
	return dir
}

// editRound makes the i-th round of edits: two files modified, one created.
func editRound(b *testing.B, dir string, files, i int) []string {
	b.Helper()
	paths := []string{benchPath((i * 7919) % files), benchPath((i*104729 + files/2) % files), fmt.Sprintf("new/n%06d.txt", i)}
	for k, p := range paths {
		write(b, dir, p, fmt.Sprintf("round %d change %d\n", i, k))
	}
	return paths
}

// gitCLICommit is the anchor: the journal copied into the worktree, then
// `git add` of the paths (nil: -A) and `git commit`.
func gitCLICommit(b *testing.B, dir, journal string, paths []string) {
	b.Helper()
	data, err := os.ReadFile(journal)
	if err != nil {
		b.Fatal(err)
	}
	rel := JournalPath(filepath.Base(filepath.Dir(journal)))
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
		b.Fatal(err)
	}
	add := []string{"add", "-A"}
	if paths != nil {
		add = append([]string{"add", "--"}, append(slices.Clone(paths), rel)...)
	}
	for _, args := range [][]string{add, {"commit", "-q", "-m", "x"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.org",
			"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.org")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}

// benchJournalFile is a run's journal of about 1,000 records under a state
// directory, as steps.JournalPath lays it out; grow appends a round's
// records.
func benchJournalFile(b *testing.B) (path string, grow func(round int)) {
	path = filepath.Join(b.TempDir(), "state", "bench-window", "journal")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	seq := 0
	grow = func(round int) {
		var lines strings.Builder
		for range 10 {
			seq++
			fmt.Fprintf(&lines, "v=1\tn=%d\tt=2025-10-24T08:%02d:%02dZ\tk=note\ts=step-%d\tnote=round %d: nginx -t passed; reloading the container\tcrc=00000000\n", seq, seq/60%60, seq%60, round, round)
		}
		if _, err := f.WriteString(lines.String()); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 100 {
		grow(-i)
	}
	return path, grow
}

func benchCheckpoint(b *testing.B, files int, known bool) {
	template := bigRepo(b, files)
	dir, gdir := clone(b, template), clone(b, template)
	r, err := Open(dir, WithAuthor("Fixture", "fixture@example.org"))
	if err != nil {
		b.Fatal(err)
	}
	journal, grow := benchJournalFile(b)
	ctx := context.Background()
	var ours, theirs []time.Duration
	i := 0
	for b.Loop() {
		paths := editRound(b, dir, files, i)
		editRound(b, gdir, files, i)
		grow(i)
		if !known {
			paths = nil // the fallback: find the changes by comparing with the index
		}
		for k := range 2 {
			t0 := time.Now()
			if (i+k)%2 == 0 {
				req := request(0, time.Minute, paths...)
				req.Journal = journal
				if _, err := r.Checkpoint(ctx, req); err != nil {
					b.Fatal(err)
				}
				ours = append(ours, time.Since(t0))
			} else {
				gitCLICommit(b, gdir, journal, paths)
				theirs = append(theirs, time.Since(t0))
			}
		}
		i++
	}
	b.StopTimer()
	if st := porcelain(b, dir); st != "" {
		b.Fatalf("worktree not clean after %d checkpoints:\n%.500s", i, st)
	}
	if st := porcelain(b, gdir); st != "" {
		b.Fatalf("the git CLI's worktree not clean after %d commits:\n%.500s", i, st)
	}
	anchor := "git add <paths> && git commit"
	if !known {
		anchor = "git add -A && git commit"
	}
	slices.Sort(ours)
	slices.Sort(theirs)
	o, t := ours[len(ours)/2], theirs[len(theirs)/2]
	b.ReportMetric(float64(o.Microseconds())/1000, "ms/checkpoint")
	b.ReportMetric(float64(t.Microseconds())/1000, "git-ms/commit")
	b.ReportMetric(float64(o)/float64(t), "ratio")
	verdict := "meets"
	if o > t {
		verdict = "MISSES"
	}
	b.Logf("checkpoint with the journal copy, %d files: %.2f× `%s` (goal ≤ 1.0×, %s): median %.1f ms against %.1f ms over %d interleaved rounds",
		files, float64(o)/float64(t), anchor, verdict, float64(o.Microseconds())/1000, float64(t.Microseconds())/1000, i)
}

func BenchmarkCheckpoint10k(b *testing.B) { benchCheckpoint(b, 10_000, true) }
func BenchmarkCheckpoint50k(b *testing.B) { benchCheckpoint(b, 50_000, true) }

// BenchmarkCheckpointScan*: the same rounds without the touched paths (a
// restart lost them), so the checkpoint scans the worktree.
func BenchmarkCheckpointScan10k(b *testing.B) { benchCheckpoint(b, 10_000, false) }
func BenchmarkCheckpointScan50k(b *testing.B) { benchCheckpoint(b, 50_000, false) }

// BenchmarkCheckpointPush10k: a checkpoint pushed to the workspace's
// remote (go-git's push of the branch and the phase tags) against the git
// CLI committing the same files and running `git push`, in a 10,000-file
// repository whose remote is a bare clone on the same disk, in alternating
// order each round.
func BenchmarkCheckpointPush10k(b *testing.B) {
	const files = 10_000
	template := bigRepo(b, files)
	remote := func() string {
		dir := filepath.Join(b.TempDir(), "remote.git")
		git(b, filepath.Dir(dir), "clone", "-q", "--bare", template, dir)
		return dir
	}
	dir, gdir := clone(b, remote()), clone(b, remote())
	r, err := Open(dir, WithAuthor("Fixture", "fixture@example.org"), WithRunbook("bench-window"), WithPush("origin"))
	if err != nil {
		b.Fatal(err)
	}
	journal, grow := benchJournalFile(b)
	ctx := context.Background()
	var ours, theirs []time.Duration
	var notes []string
	i := 0
	for b.Loop() {
		paths := editRound(b, dir, files, i)
		editRound(b, gdir, files, i)
		grow(i)
		for k := range 2 {
			t0 := time.Now()
			if (i+k)%2 == 0 {
				req := request(0, time.Minute, paths...)
				req.Journal = journal
				req.Note = func(s string) { notes = append(notes, s) }
				if _, err := r.Checkpoint(ctx, req); err != nil {
					b.Fatal(err)
				}
				ours = append(ours, time.Since(t0))
			} else {
				gitCLICommit(b, gdir, journal, paths)
				git(b, gdir, "push", "-q", "origin", "HEAD")
				theirs = append(theirs, time.Since(t0))
			}
		}
		i++
	}
	b.StopTimer()
	if len(notes) > 0 {
		b.Fatalf("pushes failed: %q", notes)
	}
	if h, o := strings.TrimSpace(git(b, dir, "rev-parse", "HEAD")), strings.TrimSpace(git(b, dir, "rev-parse", "origin/main")); h != o {
		b.Fatalf("the remote is at %s, the workspace at %s", o, h)
	}
	slices.Sort(ours)
	slices.Sort(theirs)
	o, t := ours[len(ours)/2], theirs[len(theirs)/2]
	b.ReportMetric(float64(o.Microseconds())/1000, "ms/checkpoint+push")
	b.ReportMetric(float64(t.Microseconds())/1000, "git-ms/commit+push")
	b.ReportMetric(float64(o)/float64(t), "ratio")
	verdict := "meets"
	if o > t {
		verdict = "MISSES"
	}
	b.Logf("checkpoint and push, %d files: %.2f× `git add <paths> && git commit && git push` (goal ≤ 1.0×, %s): median %.1f ms against %.1f ms over %d interleaved rounds",
		files, float64(o)/float64(t), verdict, float64(o.Microseconds())/1000, float64(t.Microseconds())/1000, i)
}
