package gitcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// statInfo is the part of a file's stat data the index records.
type statInfo struct {
	ctimeSec, ctimeNsec uint32
	mtimeSec, mtimeNsec uint32
	dev, ino            uint32
	uid, gid            uint32
	size                uint32
}

const gitlinkMode = uint32(filemode.Submodule)

// collector gathers the changes of one checkpoint.
type collector struct {
	r      *Repo
	ix     *rawIndex
	ixTime time.Time
	ig     *ignorer
	excl   []string // folders never committed (runbook's state)
	seen   map[string]bool

	// restoring: an undo puts files back as history had them.
	restoring bool

	changes []change
	secrets []SecretFile
	ignored []string
}

func (c *collector) abs(rel string) string { return filepath.Join(c.r.dir, filepath.FromSlash(rel)) }

// add takes one worktree path: a file to commit, a removal, or a folder
// whose changes are found by scanning it. forced paths (the journal copy)
// skip the ignore and secret rules: runbook writes them itself.
func (c *collector) add(ctx context.Context, rel string, forced bool) error {
	if c.seen[rel] {
		return nil
	}
	c.seen[rel] = true
	if !forced && underAny(rel, c.excl) {
		return nil
	}
	abs := c.abs(rel)
	fi, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		c.changes = append(c.changes, change{path: rel, del: true})
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	if fi.IsDir() {
		if e := c.ix.entry(rel); (e != nil && e.mode() == gitlinkMode) || isNestedRepo(abs) {
			return nil // a submodule or a repository of its own: not ours to commit
		}
		if e := c.ix.entry(rel); e != nil {
			// A tracked file became a folder: the file goes.
			c.changes = append(c.changes, change{path: rel, del: true})
		}
		found, err := c.scan(ctx, rel)
		if err != nil {
			return err
		}
		for _, f := range found {
			if err := c.add(ctx, f, false); err != nil {
				return err
			}
		}
		return nil
	}
	return c.file(rel, abs, fi, forced)
}

func (c *collector) file(rel, abs string, fi fs.FileInfo, forced bool) error {
	isLink := fi.Mode()&fs.ModeSymlink != 0
	if !fi.Mode().IsRegular() && !isLink {
		return nil // sockets, fifos, devices: git does not track them
	}
	if !forced {
		tracked := c.ix.tracked(rel)
		if c.r.cfg.ignore.match(rel, false) || (!tracked && c.ig.ignored(rel, false)) {
			c.ignored = append(c.ignored, rel)
			return nil
		}
	}
	content, err := readContent(abs, isLink)
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	if !forced && !c.r.cfg.allow.match(rel, false) {
		var scan []byte
		if !isLink {
			scan = content
		}
		if why := c.r.secretWhy(rel, fi, scan); why != "" {
			c.secrets = append(c.secrets, SecretFile{Path: rel, Why: why})
			return nil
		}
		if why := c.r.newSecretValue(rel, scan, c.ix.entry(rel)); why != "" && !c.restoring {
			c.secrets = append(c.secrets, SecretFile{Path: rel, Why: why})
			return nil
		}
	}
	mode := c.r.modeOf(fi, c.ix.entry(rel))
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(content)))
	if _, err := obj.Write(content); err != nil {
		return err
	}
	h := obj.Hash()
	c.changes = append(c.changes, change{
		path: rel, mode: mode, hash: h, obj: obj,
		hdr: newEntryHeader(statFrom(fi), uint32(mode), h, len(rel)),
	})
	return nil
}

func readContent(abs string, isLink bool) ([]byte, error) {
	if isLink {
		t, err := os.Readlink(abs)
		return []byte(filepath.ToSlash(t)), err
	}
	return os.ReadFile(abs)
}

// modeOf is the git mode of a file. With core.fileMode false the
// executable bit of a tracked file is kept as the index has it.
func (r *Repo) modeOf(fi fs.FileInfo, old *idxEntry) filemode.FileMode {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return filemode.Symlink
	}
	if r.noFileMode {
		if old != nil && old.mode() == uint32(filemode.Executable) {
			return filemode.Executable
		}
		return filemode.Regular
	}
	if fi.Mode().Perm()&0o111 != 0 {
		return filemode.Executable
	}
	return filemode.Regular
}

func isNestedRepo(abs string) bool {
	_, err := os.Lstat(filepath.Join(abs, ".git"))
	return err == nil
}

// scan finds the paths under prefix ("" for the whole worktree) that
// differ from the index: modified and new files (not ignored) and tracked
// files that are gone. It compares stat data first, as git does, and
// hashes a file only when its stat data changed or is racy.
func (c *collector) scan(ctx context.Context, prefix string) ([]string, error) {
	lo, hi := c.ix.under(prefix)
	seen := make([]bool, hi-lo)
	markUnder := func(rel string) {
		if i, ok := c.ix.find(rel); ok && i >= lo && i < hi {
			seen[i-lo] = true
		}
		a, b := c.ix.under(rel)
		for i := max(a, lo); i < min(b, hi); i++ {
			seen[i-lo] = true
		}
	}
	var out []string
	var walk func(dir string) error
	walk = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := os.ReadDir(c.abs(dir))
		if err != nil {
			return fmt.Errorf("scan the workspace folder %s: %w", filepath.Join(c.r.dir, filepath.FromSlash(dir)), err)
		}
		for _, de := range ents {
			name := de.Name()
			if name == ".git" {
				continue
			}
			rel := joinRel(dir, name)
			if underAny(rel, c.excl) {
				markUnder(rel)
				continue
			}
			t := de.Type()
			if t.IsDir() {
				if e := c.ix.entry(rel); (e != nil && e.mode() == gitlinkMode) || isNestedRepo(c.abs(rel)) {
					markUnder(rel)
					continue
				}
				if a, b := c.ix.under(rel); a == b && (c.ig.ignored(rel, true) || c.r.cfg.ignore.match(rel, true)) {
					continue // ignored and nothing tracked inside: git does not look in
				}
				if err := walk(rel); err != nil {
					return err
				}
				continue
			}
			if !t.IsRegular() && t&fs.ModeSymlink == 0 {
				continue
			}
			if i, ok := c.ix.find(rel); ok {
				if i >= lo && i < hi {
					seen[i-lo] = true
				}
				e := &c.ix.entries[i]
				if e.skipWorktree() {
					continue
				}
				fi, err := de.Info()
				if err != nil {
					continue // gone since the directory was read: the index loop reports it
				}
				same, err := c.unchanged(e, fi, c.abs(rel))
				if err != nil {
					return fmt.Errorf("compare %s with the index: %w", rel, err)
				}
				if !same {
					out = append(out, rel)
				}
				continue
			}
			if c.ig.ignored(rel, false) || c.r.cfg.ignore.match(rel, false) {
				continue
			}
			out = append(out, rel)
		}
		return nil
	}
	if err := walk(prefix); err != nil {
		return nil, err
	}
	for i := lo; i < hi; i++ {
		e := &c.ix.entries[i]
		if !seen[i-lo] && !e.skipWorktree() && e.mode() != gitlinkMode {
			// Tracked and gone, or now something else (a folder).
			out = append(out, e.name)
		}
	}
	return out, nil
}

// unchanged reports whether a tracked file still matches its index entry.
func (c *collector) unchanged(e *idxEntry, fi fs.FileInfo, abs string) (bool, error) {
	mode := c.r.modeOf(fi, e)
	if uint32(mode) != e.mode() {
		return false, nil
	}
	st := statFrom(fi)
	if st.size != e.size() && e.size() != 0 {
		return false, nil // size 0 may be a racily-clean entry git smudged: compare content
	}
	ms, mns := e.mtime()
	racy := !c.ixTime.IsZero() && !time.Unix(int64(st.mtimeSec), int64(st.mtimeNsec)).Before(c.ixTime)
	if st.size == e.size() && ms == st.mtimeSec && mns == st.mtimeNsec && (e.ino() == 0 || st.ino == 0 || e.ino() == st.ino) && !racy {
		return true, nil
	}
	content, err := readContent(abs, mode == filemode.Symlink)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return plumbing.ComputeHash(plumbing.BlobObject, content) == plumbing.Hash(e.hash()), nil
}

// newSecretValue refuses content holding a secret value runbook knows (a
// database password, a generated secret) that the tracked version of the
// file does not already hold: a checkpoint never brings a secret into
// history. A file that was committed with the secret before (a compose file
// with a plaintext password, the very thing a runbook may be moving out)
// keeps being committed as it was.
func (r *Repo) newSecretValue(rel string, content []byte, old *idxEntry) string {
	found := r.cfg.redact.Found(string(content))
	if len(found) == 0 {
		return ""
	}
	var before []byte
	if old != nil {
		h := old.hash()
		if obj, err := r.repo.Storer.EncodedObject(plumbing.BlobObject, plumbing.Hash(h)); err == nil {
			if rd, err := obj.Reader(); err == nil {
				before, _ = io.ReadAll(rd)
				rd.Close()
			}
		}
	}
	for _, v := range found {
		if !bytes.Contains(before, []byte(v)) {
			return "it holds a secret value runbook knows (a password or generated secret) that was not in the committed file"
		}
	}
	return ""
}
