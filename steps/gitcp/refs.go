package gitcp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/runbook-dev/runbook/runbooks"
)

// fileLock is git's lock protocol: create <file>.lock exclusively, write the
// new content into it, rename it over the file. A git command running at
// the same time sees the lock and waits or fails, as it would with another
// git command.
type fileLock struct {
	target, path string
	f            *os.File
	done         bool
}

func lockFile(target, what string, stale *staleLocks) (*fileLock, error) {
	p := target + ".lock"
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) && stale.clear(p) {
		f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%s is locked (%s exists): another git command is running in the workspace, or one was killed; once no git command runs, remove %s and retry", what, p, p)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	return &fileLock{target: target, path: p, f: f}, nil
}

// commit writes data and puts it in place.
func (l *fileLock) commit(data []byte) error {
	if err := l.write(data); err != nil {
		return err
	}
	return l.activate()
}

// write fills the lock file without putting it in place yet.
func (l *fileLock) write(data []byte) error {
	if _, err := l.f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", l.path, err)
	}
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", l.path, err)
	}
	return nil
}

// activate renames the written lock file over its target.
func (l *fileLock) activate() error {
	if err := os.Rename(l.path, l.target); err != nil {
		return fmt.Errorf("replace %s: %w", l.target, err)
	}
	l.done = true
	return nil
}

// release drops the lock when it was not committed.
func (l *fileLock) release() {
	if l == nil || l.done {
		return
	}
	l.done = true
	_ = l.f.Close() // may be closed already by write
	_ = os.Remove(l.path)
}

// refFile is where a ref is stored loose: HEAD in this worktree's git
// directory, refs/ in the common directory.
func (r *Repo) refFile(name plumbing.ReferenceName) string {
	if !strings.HasPrefix(string(name), "refs/") {
		return filepath.Join(r.gitDir, filepath.FromSlash(string(name)))
	}
	return filepath.Join(r.commonDir, filepath.FromSlash(string(name)))
}

// updateRef moves a ref to h. Unless force, it must still be at old (zero:
// must not exist yet), so a commit made meanwhile by someone else is never
// lost. The move is logged in the reflog like git's own.
func (r *Repo) updateRef(name plumbing.ReferenceName, h, old plumbing.Hash, force bool, sig object.Signature, msg string) error {
	file := r.refFile(name)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	lk, err := lockFile(file, "the ref "+name.String(), r.stale)
	if err != nil {
		return err
	}
	defer lk.release()
	prev := plumbing.ZeroHash
	ref, err := r.repo.Storer.Reference(name)
	switch {
	case err == nil:
		if ref.Type() != plumbing.HashReference {
			return fmt.Errorf("update %s: it is a symbolic ref", name)
		}
		prev = ref.Hash()
	case !errors.Is(err, plumbing.ErrReferenceNotFound):
		return fmt.Errorf("read %s: %w", name, err)
	}
	if !force && prev != old {
		return fmt.Errorf("%s moved while the checkpoint was being made (expected %s, found %s): someone committed in the workspace meanwhile; retry the checkpoint", name.Short(), short(old), short(prev))
	}
	if err := lk.commit([]byte(h.String() + "\n")); err != nil {
		return err
	}
	if name.IsBranch() || name == plumbing.HEAD {
		// Best effort, as in git: a reflog that cannot be written does not
		// undo the commit.
		_ = r.appendReflog(name, prev, h, sig, msg)
	}
	return nil
}

func short(h plumbing.Hash) string {
	if h.IsZero() {
		return "nothing"
	}
	return h.String()[:12]
}

func (r *Repo) appendReflog(name plumbing.ReferenceName, old, h plumbing.Hash, sig object.Signature, msg string) error {
	_, off := sig.When.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	line := fmt.Sprintf("%s %s %s <%s> %d %c%02d%02d\t%s\n", old, h, sig.Name, sig.Email, sig.When.Unix(), sign, off/3600, off%3600/60, oneLine(msg))
	files := []string{filepath.Join(r.commonDir, "logs", filepath.FromSlash(string(name)))}
	if name != plumbing.HEAD {
		if head, err := r.repo.Storer.Reference(plumbing.HEAD); err == nil && head.Type() == plumbing.SymbolicReference && head.Target() == name {
			files = append(files, filepath.Join(r.gitDir, "logs", "HEAD"))
		}
	} else {
		files = []string{filepath.Join(r.gitDir, "logs", "HEAD")}
	}
	var errs []error
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = fh.WriteString(line)
		errs = append(errs, err, fh.Close())
	}
	return errors.Join(errs...)
}

// PhaseTag is the tag name of a phase's end: runbook/<runbook>/<phase>.
func PhaseTag(runbookID, phaseID string) string {
	return "runbook/" + refSafe(runbookID) + "/" + refSafe(phaseID)
}

// TagPhase tags commit (a hash) as the end of a phase with an annotated
// tag runbook/<runbook>/<phase>. Tagging a phase again (after a rollback
// and a new run of it) moves the tag. Returns the tag name.
func (r *Repo) TagPhase(runbookID string, phase runbooks.Phase, commit string, at time.Time) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tagPhase(runbookID, phase, commit, at)
}

func (r *Repo) tagPhase(runbookID string, phase runbooks.Phase, commit string, at time.Time) (string, error) {
	if at.IsZero() {
		at = time.Now()
	}
	h := plumbing.NewHash(commit)
	if h.IsZero() || h.String() != strings.ToLower(commit) {
		return "", fmt.Errorf("tag phase %s: %q is not a commit hash", phase.ID, commit)
	}
	if _, err := object.GetCommit(r.repo.Storer, h); err != nil {
		return "", fmt.Errorf("tag phase %s: commit %s: %w", phase.ID, commit, err)
	}
	name := PhaseTag(runbookID, phase.ID)
	sig := object.Signature{Name: r.cfg.name, Email: r.cfg.email, When: at}
	var msg strings.Builder
	fmt.Fprintf(&msg, "runbook %s: phase %s ended", runbookID, phase.ID)
	if phase.Title != "" {
		fmt.Fprintf(&msg, " — %s", phase.Title)
	}
	msg.WriteString("\n")
	if !phase.SlotStart.IsZero() && !phase.SlotEnd.IsZero() {
		fmt.Fprintf(&msg, "\nSlot: %s–%s (%s); steps budgeted %s\n", phase.SlotStart.Format("15:04"), phase.SlotEnd.Format("15:04 MST"),
			FormatDuration(phase.Slot()), FormatDuration(phase.Budget()))
	}
	tag := &object.Tag{Name: name, Tagger: sig, Message: r.cfg.redact.String(msg.String()), TargetType: plumbing.CommitObject, Target: h}
	obj := r.repo.Storer.NewEncodedObject()
	if err := tag.Encode(obj); err != nil {
		return "", fmt.Errorf("tag phase %s: %w", phase.ID, err)
	}
	th, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return "", fmt.Errorf("tag phase %s: write tag: %w", phase.ID, err)
	}
	if err := r.updateRef(plumbing.NewTagReferenceName(name), th, plumbing.ZeroHash, true, sig, ""); err != nil {
		return "", fmt.Errorf("tag phase %s: %w", phase.ID, err)
	}
	return name, nil
}

// refSafe turns an id into a ref name component.
func refSafe(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), ".")
	out = strings.ReplaceAll(out, "..", "-")
	out = strings.TrimSuffix(out, ".lock")
	if out == "" {
		out = "-"
	}
	return out
}
