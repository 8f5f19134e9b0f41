// Package files holds the actions that write and check files in the
// workspace: templates rendered to config files, a self-signed CA and server
// certificate, generated secrets, and the scan for plaintext secrets. Every
// action that changes a file first saves what it replaces under the step's
// save directory, and the matching undo action puts it back.
package files

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/runbook-dev/runbook/steps"
)

// Register adds the file actions to a registry.
func Register(r *steps.Registry) {
	r.Register("file.template", func() steps.Action { return new(Template) })
	r.Register("file.restore", func() steps.Action { return new(Restore) })
	r.Register("file.assert", func() steps.Action { return new(Assert) })
	r.Register("cert.generate", func() steps.Action { return new(CertGenerate) })
	r.Register("cert.remove", func() steps.Action { return new(CertRemove) })
	r.Register("secret.generate", func() steps.Action { return new(SecretGenerate) })
	r.Register("secret.remove", func() steps.Action { return new(SecretRemove) })
	r.Register("secret.scan", func() steps.Action { return new(SecretScan) })
}

// Mode is a file mode written in octal, quoted or not: 0644, "0600", 0o755.
type Mode uint32

// UnmarshalYAML reads the mode as octal digits, whatever YAML thinks of
// them (0644 unquoted is a decimal-looking integer to YAML 1.2).
func (m *Mode) UnmarshalYAML(n ast.Node) error {
	tk := n.GetToken()
	if tk == nil {
		return errors.New("mode: expected an octal file mode like 0644")
	}
	v, err := parseMode(strings.TrimSpace(tk.Value))
	if err != nil {
		return &nodeError{msg: err.Error(), tok: tk}
	}
	*m = v
	return nil
}

// nodeError is a decoding error that carries the YAML position, so the
// runbook loader reports it as file:line:col.
type nodeError struct {
	msg string
	tok *token.Token
}

func (e *nodeError) Error() string                 { return e.msg }
func (e *nodeError) GetToken() *token.Token        { return e.tok }
func (e *nodeError) GetMessage() string            { return e.msg }
func (e *nodeError) FormatError(bool, bool) string { return e.msg }

func parseMode(s string) (Mode, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	v, err := strconv.ParseUint(t, 8, 32)
	if err != nil || v > 0o777 || t == "" {
		return 0, fmt.Errorf("mode %q is not an octal file mode like 0644", s)
	}
	return Mode(v), nil
}

func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// place is a file an action works on: the path as the runbook wrote it,
// the absolute path, and the workspace-relative path for checkpoints (empty
// when the file is outside the workspace).
type place struct {
	shown, abs, rel string
}

// checkPath validates a path parameter without I/O.
func checkPath(what, p string) error {
	if strings.TrimSpace(p) == "" {
		return fmt.Errorf("%s is required", what)
	}
	if !filepath.IsAbs(p) && !filepath.IsLocal(filepath.FromSlash(p)) {
		return fmt.Errorf("%s %q must stay inside the workspace (no .., or give an absolute path)", what, p)
	}
	return nil
}

// locate resolves a path parameter against the workspace.
func locate(env *steps.Env, p string) (place, error) {
	pl := place{shown: p}
	if filepath.IsAbs(p) {
		pl.abs = filepath.Clean(p)
		if env.Workspace != "" {
			if r, err := filepath.Rel(env.Workspace, pl.abs); err == nil && filepath.IsLocal(r) {
				pl.rel = filepath.ToSlash(r)
			}
		}
		return pl, nil
	}
	if env.Workspace == "" {
		return pl, fmt.Errorf("path %s is relative to the workspace, but no workspace is set: name it with --workspace or in the profile", p)
	}
	clean := filepath.Clean(filepath.FromSlash(p))
	if !filepath.IsLocal(clean) {
		return pl, fmt.Errorf("path %s leaves the workspace", p)
	}
	pl.abs = filepath.Join(env.Workspace, clean)
	pl.rel = filepath.ToSlash(clean)
	return pl, nil
}

// touch reports a changed workspace file for the step's checkpoint.
func (p place) touch(env *steps.Env) {
	if p.rel != "" {
		env.Touch(p.rel)
	}
}

// savedFile is what a do action keeps so its undo can put a file back.
type savedFile struct {
	Path    string      `json:"path"`
	Existed bool        `json:"existed"`
	Mode    fs.FileMode `json:"mode,omitempty"`
	Content []byte      `json:"content,omitempty"`
	// CreatedDirs are parent directories the do action created (deepest
	// first), removed again by the undo when they are empty.
	CreatedDirs []string `json:"created_dirs,omitempty"`
}

func recordPath(env *steps.Env, p place) (string, error) {
	if env.SaveDir == "" {
		return "", errors.New("no save directory for this step: the undo would have nothing to restore from (the engine sets Env.SaveDir)")
	}
	key := p.rel
	if key == "" {
		key = p.abs
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(env.SaveDir, "files", hex.EncodeToString(sum[:12])+".json"), nil
}

// saveOnce keeps the current state of a file (content and mode, or its
// absence) before the first change this step makes to it. A retried or
// resumed step finds the record there and keeps it: the first save is the
// true "before".
func saveOnce(env *steps.Env, p place) error {
	rec, err := recordPath(env, p)
	if err != nil {
		return err
	}
	if _, err := os.Stat(rec); err == nil {
		return nil
	}
	s := savedFile{Path: p.shown}
	fi, err := os.Stat(p.abs)
	switch {
	case err == nil:
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s exists and is not a regular file: move it away first", p.shown)
		}
		s.Existed, s.Mode = true, fi.Mode().Perm()
		if s.Content, err = os.ReadFile(p.abs); err != nil {
			return fmt.Errorf("save %s for undo: %w", p.shown, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		for d := filepath.Dir(p.abs); ; d = filepath.Dir(d) {
			if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
				break
			}
			s.CreatedDirs = append(s.CreatedDirs, d)
		}
	default:
		return fmt.Errorf("save %s for undo: %w", p.shown, err)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(rec), 0o700); err != nil {
		return fmt.Errorf("save %s for undo: %w", p.shown, err)
	}
	// Saved content may be a private key or a secret: owner-only.
	if err := writeAtomic(rec, data, 0o600, 0o700); err != nil {
		return fmt.Errorf("save %s for undo: %w", p.shown, err)
	}
	return nil
}

// restoreResult says what restore did, for the output line.
type restoreResult int

const (
	restoredContent restoreResult = iota
	removedCreated
	alreadyRestored
	nothingSaved
)

// restore puts a file back as saveOnce found it. Running it again is
// harmless: the record is kept as ".restored" and reports so.
func restore(env *steps.Env, p place) (restoreResult, error) {
	rec, err := recordPath(env, p)
	if err != nil {
		return 0, err
	}
	done := strings.TrimSuffix(rec, ".json") + ".restored.json"
	data, err := os.ReadFile(rec)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(done); err == nil {
			return alreadyRestored, nil
		}
		return nothingSaved, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read what was saved of %s: %w", p.shown, err)
	}
	var s savedFile
	if err := json.Unmarshal(data, &s); err != nil {
		return 0, fmt.Errorf("read what was saved of %s: %s is damaged: %w", p.shown, rec, err)
	}
	res := restoredContent
	if s.Existed {
		if err := writeAtomic(p.abs, s.Content, s.Mode, 0o755); err != nil {
			return 0, fmt.Errorf("restore %s: %w", p.shown, err)
		}
	} else {
		res = removedCreated
		if err := os.Remove(p.abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("remove %s: %w", p.shown, err)
		}
		for _, d := range s.CreatedDirs {
			// Only empty directories go; one holding other files stays.
			_ = os.Remove(d)
		}
	}
	_ = os.Remove(done)
	if err := os.Rename(rec, done); err != nil {
		return 0, fmt.Errorf("mark %s restored: %w", p.shown, err)
	}
	return res, nil
}

func (r restoreResult) describe(shown string) string {
	switch r {
	case restoredContent:
		return "restored " + shown + " to its content before this step"
	case removedCreated:
		return "removed " + shown + " (this step created it)"
	case alreadyRestored:
		return shown + " was already restored"
	}
	return "nothing to restore for " + shown + ": this step did not change it"
}

// writeAtomic writes data to a temporary file beside path, fsyncs it and
// renames it over path, so a crash leaves the old file or the new one,
// never half of one. The temporary file is created owner-only, so a secret
// is never readable by others, even for a moment.
func writeAtomic(path string, data []byte, mode fs.FileMode, dirMode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return err
	}
	return steps.WriteFileAtomic(path, data, mode)
}
