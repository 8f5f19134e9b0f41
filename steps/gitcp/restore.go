package gitcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/runbook-dev/runbook/steps"
)

// Restored tells what a restore did.
type Restored struct {
	// Checkpoint is the step's checkpoint whose changes were reversed;
	// Before is the commit whose content was put back (its parent).
	Checkpoint string
	Before     string
	// Commit records the restore (RestoreBefore only; empty when nothing
	// needed committing).
	Commit string
	// Paths are the files written back or removed, sorted.
	Paths []string
	// Overwritten are restored paths that had changed again after the
	// checkpoint (by a later step or by hand): those later changes are gone.
	Overwritten []string
}

// ErrNoCheckpoint is returned when a step has no checkpoint to restore.
var ErrNoCheckpoint = errors.New("no checkpoint")

// RestoreBefore undoes a step's files: every file its last checkpoint
// changed gets the content it had in the commit before that checkpoint
// (a file the step created is removed), and the result is committed with
// the trailers Runbook-Step and Runbook-Undo. The journal copy is left
// alone. The step's checkpoint is found by its Runbook-Step trailer,
// walking first parents from HEAD; earlier undo commits are passed over.
func (r *Repo) RestoreBefore(ctx context.Context, stepID string) (Restored, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.restore(ctx, stepID, nil)
	if err != nil || len(res.Paths) == 0 {
		return res, err
	}
	now := time.Now()
	var msg strings.Builder
	fmt.Fprintf(&msg, "runbook: undo %s — restored %d file(s) to %s\n\n", stepID, len(res.Paths), res.Before[:12])
	fmt.Fprintf(&msg, "Restores the files checkpoint %s changed to their content before it.\n\n", res.Checkpoint[:12])
	if r.cfg.runbook != "" {
		fmt.Fprintf(&msg, "%s: %s\n", TrailerRunbook, r.cfg.runbook)
	}
	fmt.Fprintf(&msg, "%s: %s\n%s: undone\n%s: true\n", TrailerStep, stepID, TrailerOutcome, TrailerUndo)
	cres, err := r.commitPaths(ctx, res.Paths, nil, false, true, r.cfg.redact.String(msg.String()), now, "")
	if err != nil {
		return res, fmt.Errorf("commit the restore of step %s in %s: %w", stepID, r.dir, err)
	}
	res.Commit = cres.Commit
	return res, nil
}

// Restore writes back a step's files as RestoreBefore does, without
// committing: for an undo action, whose step checkpoint then commits them.
// With only, just those paths (files or folders) are restored.
func (r *Repo) Restore(ctx context.Context, stepID string, only ...string) (Restored, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restore(ctx, stepID, only)
}

func (r *Repo) restore(ctx context.Context, stepID string, only []string) (Restored, error) {
	var res Restored
	cp, err := r.findCheckpoint(stepID)
	if err != nil {
		return res, err
	}
	res.Checkpoint = cp.Hash.String()
	var beforeTree plumbing.Hash
	if len(cp.ParentHashes) > 0 {
		parent, err := object.GetCommit(r.repo.Storer, cp.ParentHashes[0])
		if err != nil {
			return res, fmt.Errorf("read the commit before checkpoint %s: %w", short(cp.Hash), err)
		}
		res.Before, beforeTree = parent.Hash.String(), parent.TreeHash
	} else {
		res.Before = plumbing.ZeroHash.String()
	}
	d := &differ{s: r.repo.Storer}
	if err := d.diff(beforeTree, cp.TreeHash, ""); err != nil {
		return res, err
	}
	var filter []string
	for _, p := range only {
		rel, err := r.rel(p)
		if err != nil {
			return res, err
		}
		filter = append(filter, rel)
	}
	var dels, puts []fileDiff
	for _, fd := range d.out {
		if underAny(fd.path, []string{JournalDir}) {
			continue
		}
		if len(filter) > 0 && !underAny(fd.path, filter) && !containsEmpty(filter) {
			continue
		}
		if fd.before == nil {
			dels = append(dels, fd)
		} else {
			puts = append(puts, fd)
		}
	}
	sort.Slice(dels, func(i, j int) bool { return dels[i].path > dels[j].path })
	sort.Slice(puts, func(i, j int) bool { return puts[i].path < puts[j].path })
	for _, fd := range append(dels, puts...) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if r.changedSince(fd) {
			res.Overwritten = append(res.Overwritten, fd.path)
		}
		if err := r.putBack(fd); err != nil {
			return res, fmt.Errorf("restore %s of step %s: %w", fd.path, stepID, err)
		}
		res.Paths = append(res.Paths, fd.path)
	}
	sort.Strings(res.Paths)
	sort.Strings(res.Overwritten)
	return res, nil
}

func containsEmpty(s []string) bool {
	for _, x := range s {
		if x == "" {
			return true
		}
	}
	return false
}

// findCheckpoint returns the last checkpoint of a step that is not itself
// an undo.
func (r *Repo) findCheckpoint(stepID string) (*object.Commit, error) {
	h, _, err := r.head()
	if err != nil {
		return nil, err
	}
	for !h.IsZero() {
		cm, err := object.GetCommit(r.repo.Storer, h)
		if err != nil {
			return nil, fmt.Errorf("read commit %s: %w", short(h), err)
		}
		tr := trailers(cm.Message)
		if tr[TrailerStep] == stepID && tr[TrailerUndo] == "" &&
			(r.cfg.runbook == "" || tr[TrailerRunbook] == "" || tr[TrailerRunbook] == r.cfg.runbook) {
			return cm, nil
		}
		if len(cm.ParentHashes) == 0 {
			break
		}
		h = cm.ParentHashes[0]
	}
	return nil, fmt.Errorf("%w of step %s in %s (no commit on the current branch has the trailer %s: %s): nothing to restore", ErrNoCheckpoint, stepID, r.dir, TrailerStep, stepID)
}

// fileDiff is one file that differs between two trees: its entry before
// (nil: absent) and after.
type fileDiff struct {
	path          string
	before, after *object.TreeEntry
}

type differ struct {
	s   storerT
	out []fileDiff
}

func (d *differ) entries(h plumbing.Hash) (map[string]object.TreeEntry, error) {
	m := map[string]object.TreeEntry{}
	if h.IsZero() {
		return m, nil
	}
	t, err := object.GetTree(d.s, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", short(h), err)
	}
	for _, e := range t.Entries {
		m[e.Name] = e
	}
	return m, nil
}

// diff lists the files that differ between trees a and b, descending only
// into subtrees whose hashes differ.
func (d *differ) diff(a, b plumbing.Hash, prefix string) error {
	if a == b {
		return nil
	}
	ea, err := d.entries(a)
	if err != nil {
		return err
	}
	eb, err := d.entries(b)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for n := range ea {
		names[n] = true
	}
	for n := range eb {
		names[n] = true
	}
	for n := range names {
		x, inA := ea[n]
		y, inB := eb[n]
		if inA && inB && x.Hash == y.Hash && x.Mode == y.Mode {
			continue
		}
		p := prefix + n
		aDir, bDir := inA && x.Mode == filemode.Dir, inB && y.Mode == filemode.Dir
		var ah, bh plumbing.Hash
		if aDir {
			ah = x.Hash
		}
		if bDir {
			bh = y.Hash
		}
		if aDir || bDir {
			if err := d.diff(ah, bh, p+"/"); err != nil {
				return err
			}
		}
		fd := fileDiff{path: p}
		if inA && !aDir && x.Mode != filemode.Submodule {
			fd.before = &x
		}
		if inB && !bDir && y.Mode != filemode.Submodule {
			fd.after = &y
		}
		if fd.before != nil || fd.after != nil {
			d.out = append(d.out, fd)
		}
	}
	return nil
}

// changedSince reports whether the worktree file is no longer what the
// checkpoint committed.
func (r *Repo) changedSince(fd fileDiff) bool {
	abs := filepath.Join(r.dir, filepath.FromSlash(fd.path))
	fi, err := os.Lstat(abs)
	if err != nil {
		return fd.after != nil
	}
	if fd.after == nil {
		return true
	}
	if r.modeOf(fi, nil) != fd.after.Mode && !(r.noFileMode && fi.Mode().IsRegular()) {
		return true
	}
	content, err := readContent(abs, fi.Mode()&fs.ModeSymlink != 0)
	if err != nil {
		return true
	}
	return plumbing.ComputeHash(plumbing.BlobObject, content) != fd.after.Hash
}

// putBack writes fd.before into the worktree (or removes the file).
func (r *Repo) putBack(fd fileDiff) error {
	abs := filepath.Join(r.dir, filepath.FromSlash(fd.path))
	if fd.before == nil {
		if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		r.removeEmptyParents(filepath.Dir(abs))
		return nil
	}
	content, err := readBlob(r.repo.Storer, fd.before.Hash)
	if err != nil {
		return fmt.Errorf("read blob %s: %w", short(fd.before.Hash), err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return err
	}
	if fd.before.Mode == filemode.Symlink {
		if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return os.Symlink(filepath.FromSlash(string(content)), abs)
	}
	if cur, err := os.ReadFile(abs); err == nil && bytes.Equal(cur, content) {
		if fi, err := os.Lstat(abs); err == nil && fi.Mode().IsRegular() {
			return os.Chmod(abs, permFor(fd.before.Mode, fi.Mode().Perm()))
		}
	}
	perm := permFor(fd.before.Mode, 0o644)
	if fi, err := os.Lstat(abs); err == nil && fi.Mode().IsRegular() {
		perm = permFor(fd.before.Mode, fi.Mode().Perm())
	}
	return steps.WriteFileAtomic(abs, content, perm)
}

// permFor keeps a file's permissions but sets the executable bits git
// records.
func permFor(m filemode.FileMode, cur fs.FileMode) fs.FileMode {
	if m == filemode.Executable {
		return cur | 0o111&((cur&0o444)>>2)
	}
	return cur &^ 0o111
}

func (r *Repo) removeEmptyParents(dir string) {
	for dir != r.dir && strings.HasPrefix(dir, r.dir+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}
