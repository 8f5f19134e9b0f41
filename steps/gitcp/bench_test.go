package gitcp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The checkpoint's goal: no slower than `git add -A && git commit` with the
// git CLI for three changed files in a 10,000- and a 50,000-file
// repository. BenchmarkCheckpoint* time runbook's checkpoint and, in the
// same run on an identical clone, the git CLI, and report both and their
// ratio (runbook/git: below 1 is faster). BenchmarkGitCLI* time the git CLI
// alone. Each round edits two tracked files and creates one.
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

func gitCLICommit(b *testing.B, dir string) {
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", "x"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.org",
			"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.org")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}

func benchCheckpoint(b *testing.B, files int, known bool) {
	template := bigRepo(b, files)
	dir, gdir := clone(b, template), clone(b, template)
	r, err := Open(dir, WithAuthor("Fixture", "fixture@example.org"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// The git CLI does the same edits on an identical clone in the same
	// rounds, interleaved, so both see the same machine load.
	var git time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		paths := editRound(b, dir, files, i)
		editRound(b, gdir, files, i)
		start := time.Now()
		gitCLICommit(b, gdir)
		git += time.Since(start)
		i++
		if !known {
			paths = nil // the fallback: find the changes by comparing with the index
		}
		b.StartTimer()
		if _, err := r.Checkpoint(ctx, request(0, time.Minute, paths...)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := porcelain(b, dir); st != "" {
		b.Fatalf("worktree not clean after %d checkpoints:\n%.500s", i, st)
	}
	ours := float64(b.Elapsed().Nanoseconds()) / float64(i)
	theirs := float64(git.Nanoseconds()) / float64(i)
	b.ReportMetric(theirs, "git-ns/op")
	b.ReportMetric(ours/theirs, "ratio")
}

func benchGitCLI(b *testing.B, files int) {
	dir := clone(b, bigRepo(b, files))
	i := 0
	for b.Loop() {
		b.StopTimer()
		editRound(b, dir, files, i)
		i++
		b.StartTimer()
		gitCLICommit(b, dir)
	}
}

func BenchmarkCheckpoint10k(b *testing.B) { benchCheckpoint(b, 10_000, true) }
func BenchmarkGitCLI10k(b *testing.B)     { benchGitCLI(b, 10_000) }
func BenchmarkCheckpoint50k(b *testing.B) { benchCheckpoint(b, 50_000, true) }
func BenchmarkGitCLI50k(b *testing.B)     { benchGitCLI(b, 50_000) }

// BenchmarkCheckpointScan*: the same rounds without the touched paths (a
// restart lost them), so the checkpoint scans the worktree.
func BenchmarkCheckpointScan10k(b *testing.B) { benchCheckpoint(b, 10_000, false) }
func BenchmarkCheckpointScan50k(b *testing.B) { benchCheckpoint(b, 50_000, false) }
