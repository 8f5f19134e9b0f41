package pg

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/runbook-dev/runbook/steps"
)

// Saved state lives in the step's SaveDir as small JSON files, one per
// thing a do action changed. The first do of a step writes it; a retry or a
// re-run after resume keeps it, so the undo always goes back to what was
// there before the step first touched it. The undo removes it once it has
// restored the state.

func saveName(parts ...string) string {
	n := "pg"
	for _, p := range parts {
		n += "." + url.PathEscape(p)
	}
	return n + ".json"
}

// saveOnce writes v as dir/name unless that file exists. It reports
// whether it wrote.
func saveOnce(dir, name string, v any) (bool, error) {
	if dir == "" {
		return false, errors.New("this run has no save directory, so the undo could not restore the previous state")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("save state for the undo: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	if err := steps.WriteFileAtomic(p, b, 0o600); err != nil {
		return false, fmt.Errorf("save state for the undo: %w", err)
	}
	return true, nil
}

// loadSaved reads dir/name into v; false when nothing was saved.
func loadSaved(dir, name string, v any) (bool, error) {
	if dir == "" {
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read saved state: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("read saved state %s: %w", filepath.Join(dir, name), err)
	}
	return true, nil
}

func dropSaved(dir, name string) error {
	if dir == "" {
		return nil
	}
	err := os.Remove(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
