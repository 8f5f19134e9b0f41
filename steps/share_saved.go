package steps

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/runbook-dev/runbook/steps/store"
)

// What a step's do saves for its undo lives in the step's save directory
// (Env.SaveDir) on the machine that ran it. So that the undo works after
// another machine took the run over:
//
//   - with a store, the session copies a step's save directory to the
//     store after each of its actions (do, verify and undo alike: an undo
//     drops what it used), under the lease epoch (fenced), and a session
//     that opens a shared run restores the files of every step whose local
//     save directory is missing. The local directory is the source, the
//     store its copy; only runbook_writer may read it (it can be secret).
//   - the record that ends a step's work says whether its save directory
//     held files (Event.Saved, on Event.Host). An undo with no local save
//     directory is refused when the do's machine said it held files, or
//     when the do ran on another machine and never said
//     (SavedElsewhereError); a do that saved nothing is undone anywhere.
//
// Saved files never reach the journal, the logs or the screen.

// Values of Event.Saved and StepState.Saved.
const (
	SavedFiles = "files" // the save directory held files
	SavedNone  = "none"  // it held none (or did not exist)
)

// savedStore is what syncing saved files needs of the store
// (*store.Store); a store without it keeps no saved files.
type savedStore interface {
	PutSaved(ctx context.Context, run string, epoch int64, step string, files []store.SavedFile) error
	Saved(ctx context.Context, run string) ([]store.SavedFile, error)
}

var _ savedStore = (*store.Store)(nil)

// savedSync is what a session's hold on the store knows of the copies:
// a digest of what the store holds per step (absent: not known), and the
// steps whose last copy failed (tried again after the next action and at
// close).
type savedSync struct {
	mu      sync.Mutex
	sums    map[string][sha256.Size]byte
	pending map[string]bool
}

// saveDir is step's save directory on this machine (Env.SaveDir).
func (s *Session) saveDir(step string) string {
	return filepath.Join(RunDir(s.opt.StateDir, s.opt.Runbook.ID), "saved", step)
}

// markSaved notes on a record that ends a step's work whether its save
// directory holds files now, and on which machine. Called with s.mu held.
func (s *Session) markSaved(ev Event) Event {
	switch ev.Kind {
	case EvStepSucceeded, EvStepFailed, EvStepCancelled, EvStepAwaiting, EvStepVerifying, EvUndoFinished, EvUndoFailed:
	default:
		return ev
	}
	if ev.Step == "" || s.opt.StateDir == "" {
		return ev
	}
	files, _, err := s.readSaved(ev.Step)
	if err != nil {
		return ev // not known: an undo elsewhere is refused
	}
	ev.Saved = SavedNone
	if len(files) > 0 {
		ev.Saved = SavedFiles
	}
	if ev.Host == "" {
		ev.Host = s.opt.Host
	}
	return ev
}

// SavedElsewhereError is an undo refused: the step's do ran on another
// machine and saved there what its undo needs, and this machine has no
// copy (no store, or the store had none).
type SavedElsewhereError struct {
	Step string
	Host string // where the do ran
	Dir  string // where this machine looks for the saved files
	// Unknown: the do's end was never journaled (it was cut off), so
	// whether it saved anything is not known.
	Unknown bool
}

func (e *SavedElsewhereError) Error() string {
	what := "saved what its undo needs there"
	if e.Unknown {
		what = "may have saved what its undo needs there (its end was never journaled)"
	}
	return fmt.Sprintf("step %s: refusing to undo: its do ran on %s and %s, and this state directory has no copy (the undo would find nothing and do nothing); copy the directory saved/%s from the do's state directory on %s to %s (an empty directory if it holds nothing), then undo again",
		e.Step, e.Host, what, e.Step, e.Host, e.Dir)
}

// checkSavedHere refuses to undo a step whose do left saved files this
// state directory lacks: the do's own record says its save directory held
// files (on whichever machine: another one, or another state directory),
// or the do ran on another machine and its end was never journaled. A
// local save directory (the do's own, copied, or restored from the store)
// or a do that saved nothing lets the undo run.
func (s *Session) checkSavedHere(id string) error {
	st, _ := s.stepState(id)
	if s.opt.StateDir == "" || st.DoHost == "" || st.Saved == SavedNone {
		return nil
	}
	if st.Saved == "" && st.DoHost == s.opt.Host {
		return nil // cut off here: whatever it saved is in this directory
	}
	dir := s.saveDir(id)
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	return &SavedElsewhereError{Step: id, Host: st.DoHost, Dir: dir, Unknown: st.Saved == ""}
}

// readSaved reads the files under step's save directory, by slash path,
// sorted (the save directories of steps whose ids extend this one's with
// a slash are theirs, not this one's). exists is false when the directory
// does not exist.
func (s *Session) readSaved(step string) (files []store.SavedFile, exists bool, err error) {
	root := s.saveDir(step)
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." {
				if _, _, ok := s.opt.Runbook.Step(step + "/" + rel); ok {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !d.Type().IsRegular() || (strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-")) {
			return nil // not a file, or an atomic write's leftover
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, store.SavedFile{Step: step, Name: rel, Data: b})
		return nil
	})
	if err != nil {
		return nil, true, fmt.Errorf("read the saved files of step %s: %w", step, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, true, nil
}

func savedSum(files []store.SavedFile) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%d:%s:%d:", len(f.Name), f.Name, len(f.Data))
		h.Write(f.Data)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// syncSaved copies step's save directory to the store when it changed
// since the last copy (nothing without a store, or when the directory
// does not exist and the store was never given anything for the step).
// A store away is said once and tried again later; a refusal (fenced)
// stops the driver like a refused record.
func (s *Session) syncSaved(step string) {
	sh := s.shared
	if sh == nil {
		return
	}
	ss, ok := sh.st.(savedStore)
	if !ok || sh.refuses() != nil {
		return
	}
	files, exists, err := s.readSaved(step)
	if err != nil {
		sh.say(err.Error() + ": not copied to the store")
		return
	}
	sum := savedSum(files)
	sh.saved.mu.Lock()
	if sh.saved.sums == nil {
		sh.saved.sums, sh.saved.pending = map[string][sha256.Size]byte{}, map[string]bool{}
	}
	old, known := sh.saved.sums[step]
	sh.saved.mu.Unlock()
	if (known && old == sum) || (!known && !exists) {
		return
	}
	sh.mu.Lock()
	epoch := sh.lease.Epoch
	sh.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), sh.opt.Wait)
	err = ss.PutSaved(ctx, sh.run, epoch, step, files)
	cancel()
	sh.saved.mu.Lock()
	if err == nil {
		sh.saved.sums[step] = sum
		delete(sh.saved.pending, step)
	} else {
		was := sh.saved.pending[step]
		sh.saved.pending[step] = true
		if !was && !IsShareFatal(err) {
			defer sh.say(fmt.Sprintf("the saved files of step %s could not be copied to the store (tried again after the next action and at the end): %v", step, err))
		}
	}
	sh.saved.mu.Unlock()
	if err != nil && IsShareFatal(err) {
		sh.setFatal(err)
	}
}

// syncPendingSaved tries again the copies that failed (at close).
func (s *Session) syncPendingSaved() {
	if s.shared == nil {
		return
	}
	sh := s.shared
	sh.saved.mu.Lock()
	var steps []string
	for st := range sh.saved.pending {
		steps = append(steps, st)
	}
	sh.saved.mu.Unlock()
	sort.Strings(steps)
	for _, st := range steps {
		s.syncSaved(st)
	}
}

// restoreSaved writes the store's saved files of every step whose local
// save directory is missing (a run joined or taken over from another
// machine), each step's directory at once (0600 files in 0700
// directories, renamed into place). It remembers what the store holds.
func (s *Session) restoreSaved(ctx context.Context, sh *shared) (restored []string, err error) {
	ss, ok := sh.st.(savedStore)
	if !ok || s.opt.StateDir == "" {
		return nil, nil
	}
	all, err := ss.Saved(ctx, sh.run)
	if err != nil {
		return nil, err
	}
	by := map[string][]store.SavedFile{}
	var order []string
	for _, f := range all {
		if _, ok := by[f.Step]; !ok {
			order = append(order, f.Step)
		}
		by[f.Step] = append(by[f.Step], f)
	}
	sh.saved.mu.Lock()
	if sh.saved.sums == nil {
		sh.saved.sums, sh.saved.pending = map[string][sha256.Size]byte{}, map[string]bool{}
	}
	sh.saved.mu.Unlock()
	for _, step := range order {
		files := by[step]
		if _, _, ok := s.opt.Runbook.Step(step); !ok {
			continue // a step the runbook no longer has
		}
		dir := s.saveDir(step)
		if _, err := os.Stat(dir); err == nil {
			continue // the local copy is the source
		} else if !errors.Is(err, fs.ErrNotExist) {
			return restored, fmt.Errorf("restore the saved files of step %s: %w", step, err)
		}
		if err := writeSavedDir(dir, files); err != nil {
			return restored, fmt.Errorf("restore the saved files of step %s from the store: %w", step, err)
		}
		sh.saved.mu.Lock()
		sh.saved.sums[step] = savedSum(files)
		sh.saved.mu.Unlock()
		restored = append(restored, step)
	}
	return restored, nil
}

// writeSavedDir writes files as directory dir, which must not exist: into
// a temporary directory beside it, renamed into place.
func writeSavedDir(dir string, files []store.SavedFile) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restore-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after the rename: nothing left
	if err := os.Chmod(tmp, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		name := path.Clean(f.Name)
		if !filepath.IsLocal(filepath.FromSlash(name)) || name != f.Name {
			return fmt.Errorf("the store holds a saved file with a bad name %q", f.Name)
		}
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := WriteFileAtomic(p, bytes.Clone(f.Data), 0o600); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	if d, err := os.Open(parent); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
