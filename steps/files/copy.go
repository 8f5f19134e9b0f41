package files

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/runbook-dev/runbook/steps"
)

// maxCopySize bounds what file.copy and file.move read into memory (and
// keep in the save directory for the undo): configuration and secret
// files, not data.
const maxCopySize = 16 << 20

// Copy is the `file.copy` action: copy a file over another (or to where
// none is), keeping what the destination held — or that it did not exist —
// for the undo, which is the same action with `restore: true`.
//
//	do:
//	  - file.copy: {from: secrets/db_password.next, to: secrets/db_password}
//	undo:
//	  - file.copy: {from: secrets/db_password.next, to: secrets/db_password, restore: true}
//
// The copy keeps the source's mode unless `mode:` says otherwise. An
// owner-only source (mode 0600) is secret material: its content is taught
// to the redactor and the destination is never reported for a checkpoint.
type Copy struct {
	From    string `yaml:"from"`
	To      string `yaml:"to"`
	Mode    *Mode  `yaml:"mode"`
	Restore bool   `yaml:"restore"`
}

// Move is the `file.move` action: move (rename) a file, keeping both the
// source and what the destination held for the undo (`restore: true`),
// which puts both back exactly, absence included.
//
//	do:
//	  - file.move: {from: secrets/db_password, to: secrets/db_password.old}
//	undo:
//	  - file.move: {from: secrets/db_password, to: secrets/db_password.old, restore: true}
type Move struct {
	From    string `yaml:"from"`
	To      string `yaml:"to"`
	Restore bool   `yaml:"restore"`
}

func checkFromTo(from, to string) error {
	if err := checkPath("from", from); err != nil {
		return err
	}
	if err := checkPath("to", to); err != nil {
		return err
	}
	if filepath.Clean(filepath.FromSlash(from)) == filepath.Clean(filepath.FromSlash(to)) {
		return fmt.Errorf("from and to are the same file (%s)", from)
	}
	return nil
}

// Validate implements runbooks.Validator.
func (c *Copy) Validate() error {
	if err := checkFromTo(c.From, c.To); err != nil {
		return err
	}
	if c.Restore && c.Mode != nil {
		return errors.New("mode applies to the copy, not to restore: true")
	}
	return nil
}

// Validate implements runbooks.Validator.
func (m *Move) Validate() error { return checkFromTo(m.From, m.To) }

// ExpandedKeys says no parameter expands ${target.NAME}: paths are as
// written, like the rest of the family's.
func (c *Copy) ExpandedKeys() []string { return nil }

// ExpandedKeys says no parameter expands ${target.NAME}.
func (m *Move) ExpandedKeys() []string { return nil }

// Describe implements steps.Action.
func (c *Copy) Describe(*steps.Env) string {
	if c.Restore {
		return "restore " + c.To + " to what it was before this step's copy from " + c.From + " (remove it if there was none)"
	}
	d := "copy " + c.From + " to " + c.To
	if c.Mode != nil {
		d += " with mode " + c.Mode.String()
	}
	return d + ", saving what " + c.To + " held for the undo (content never shown)"
}

// Describe implements steps.Action.
func (m *Move) Describe(*steps.Env) string {
	if m.Restore {
		return "put " + m.From + " and " + m.To + " back as they were before this step's move"
	}
	return "move " + m.From + " to " + m.To + ", saving both for the undo (content never shown)"
}

// KnownSecrets implements steps.SecretSource: owner-only files the action
// copies or moves hold secrets a resumed run must mask from the start.
func (c *Copy) KnownSecrets(env *steps.Env) []string { return ownerOnlyContent(env, c.From, c.To) }

// KnownSecrets implements steps.SecretSource.
func (m *Move) KnownSecrets(env *steps.Env) []string { return ownerOnlyContent(env, m.From, m.To) }

func ownerOnlyContent(env *steps.Env, paths ...string) []string {
	var out []string
	for _, p := range paths {
		pl, err := locate(env, p)
		if err != nil {
			continue
		}
		fi, err := os.Stat(pl.abs)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || fi.Size() > 64<<10 {
			continue
		}
		if b, err := os.ReadFile(pl.abs); err == nil {
			out = append(out, secretForms(b)...)
		}
	}
	return out
}

func secretForms(b []byte) []string {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil
	}
	return []string{string(b), string(t)}
}

// readSource reads a regular file for a copy or move.
func readSource(p place) ([]byte, fs.FileMode, error) {
	fi, err := os.Stat(p.abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("%s does not exist", p.shown)
		}
		return nil, 0, fmt.Errorf("stat %s: %w", p.shown, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", p.shown)
	}
	if fi.Size() > maxCopySize {
		return nil, 0, fmt.Errorf("%s is %d bytes; file.copy and file.move handle files up to %d bytes", p.shown, fi.Size(), maxCopySize)
	}
	b, err := os.ReadFile(p.abs)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", p.shown, err)
	}
	return b, fi.Mode().Perm(), nil
}

// secretFile reports whether a file's content is secret material: owner
// only, or holding a value the redactor knows. Such files are never
// reported for a checkpoint.
func secretFile(env *steps.Env, mode fs.FileMode, content []byte) bool {
	return mode&0o077 == 0 || env.Redact.Known(string(content))
}

// Run implements steps.Action.
func (c *Copy) Run(_ context.Context, env *steps.Env) error {
	if err := c.Validate(); err != nil {
		return err
	}
	from, err := locate(env, c.From)
	if err != nil {
		return err
	}
	to, err := locate(env, c.To)
	if err != nil {
		return err
	}
	if c.Restore {
		res, err := restoreQuiet(env, to)
		if err != nil {
			return err
		}
		env.Printf("%s", res.describe(to.shown))
		return nil
	}
	data, mode, err := readSource(from)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", from.shown, to.shown, err)
	}
	secret := secretFile(env, mode, data)
	if secret {
		env.Redact.Add(secretForms(data)...)
	}
	if c.Mode != nil {
		mode = fs.FileMode(*c.Mode)
	}
	if cur, err := os.ReadFile(to.abs); err == nil && bytes.Equal(cur, data) {
		if fi, err := os.Stat(to.abs); err == nil && fi.Mode().Perm() == mode {
			env.Printf("%s already holds the content of %s (mode %04o); left as it is", to.shown, from.shown, mode)
			return nil
		}
	}
	if err := saveOnce(env, to); err != nil {
		return err
	}
	if err := writeAtomic(to.abs, data, mode, 0o755); err != nil {
		return fmt.Errorf("copy %s to %s: %w", from.shown, to.shown, err)
	}
	if !secret {
		to.touch(env)
	}
	env.Printf("copied %s to %s (%d bytes, mode %04o; previous content saved for the undo)", from.shown, to.shown, len(data), mode)
	return nil
}

// Run implements steps.Action.
func (m *Move) Run(_ context.Context, env *steps.Env) error {
	if err := m.Validate(); err != nil {
		return err
	}
	from, err := locate(env, m.From)
	if err != nil {
		return err
	}
	to, err := locate(env, m.To)
	if err != nil {
		return err
	}
	if m.Restore {
		// The destination first: when the move replaced a file there, the
		// source's saved content must not be overwritten by it.
		rt, err := restoreQuiet(env, to)
		if err != nil {
			return err
		}
		rf, err := restoreQuiet(env, from)
		if err != nil {
			return err
		}
		env.Printf("%s; %s", rf.describe(from.shown), rt.describe(to.shown))
		return nil
	}
	// A move this step already made (the step is retried or resumed) is
	// not made again, even when a later action of the step put a new
	// file where the source was: that would overwrite what was moved.
	if m.alreadyMoved(env, from, to) {
		env.Printf("%s was already moved to %s by this step; left as it is", from.shown, to.shown)
		return nil
	}
	data, mode, err := readSource(from)
	if err != nil {
		return fmt.Errorf("move %s to %s: %w", from.shown, to.shown, err)
	}
	secret := secretFile(env, mode, data)
	if secret {
		env.Redact.Add(secretForms(data)...)
	}
	if err := saveOnce(env, from); err != nil {
		return err
	}
	if err := saveOnce(env, to); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to.abs), 0o755); err != nil {
		return fmt.Errorf("move %s to %s: %w", from.shown, to.shown, err)
	}
	if err := os.Rename(from.abs, to.abs); err != nil {
		// Another file system: write the copy durably, then remove.
		if werr := writeAtomic(to.abs, data, mode, 0o755); werr != nil {
			return fmt.Errorf("move %s to %s: %w", from.shown, to.shown, werr)
		}
		if rerr := os.Remove(from.abs); rerr != nil {
			return fmt.Errorf("move %s to %s: copied, but cannot remove %s: %w", from.shown, to.shown, from.shown, rerr)
		}
	}
	syncDir(filepath.Dir(to.abs))
	syncDir(filepath.Dir(from.abs))
	if !secret {
		from.touch(env)
		to.touch(env)
	}
	env.Printf("moved %s to %s (%d bytes, mode %04o; both saved for the undo)", from.shown, to.shown, len(data), mode)
	return nil
}

// alreadyMoved reports whether this step's save of from exists and to
// holds exactly what from held.
func (m *Move) alreadyMoved(env *steps.Env, from, to place) bool {
	s, ok := loadRecord(env, from)
	if !ok || !s.Existed {
		return false
	}
	cur, err := os.ReadFile(to.abs)
	return err == nil && bytes.Equal(cur, s.Content)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// restoreQuiet is restore without file.restore's diff: the files copied
// and moved are often secrets, whose content is never shown.
func restoreQuiet(env *steps.Env, p place) (restoreResult, error) {
	res, err := restore(env, p)
	if err == nil && (res == restoredContent || res == removedCreated) {
		if s, ok := loadDone(env, p); !ok || !secretFile(env, s.Mode, s.Content) {
			p.touch(env)
		}
	}
	return res, err
}

func loadRecord(env *steps.Env, p place) (savedFile, bool) {
	rec, err := recordPath(env, p)
	if err != nil {
		return savedFile{}, false
	}
	return readRecord(rec)
}

func loadDone(env *steps.Env, p place) (savedFile, bool) {
	rec, err := recordPath(env, p)
	if err != nil {
		return savedFile{}, false
	}
	return readRecord(strings.TrimSuffix(rec, ".json") + ".restored.json")
}

func readRecord(path string) (savedFile, bool) {
	var s savedFile
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &s) != nil {
		return s, false
	}
	return s, true
}
