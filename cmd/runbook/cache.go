package main

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// loadCache keeps validated runbooks in the state directory's .cache
// directory (a runbook id never starts with a dot), one file per runbook
// file, so status, resume and the first frame do not parse and check an
// unchanged runbook's YAML again. The runbooks package decides what an
// entry is worth (runbooks.Cache); this type stores bytes. The key
// includes the binary's build identity, so a new binary never reads an
// entry an older one wrote. Nothing is created when the state directory
// does not exist yet (validate, plan, a first run): the cache is a
// by-product of state, never a reason for it.
type loadCache struct {
	dir    string
	id     string
	prefix string // of the entries' file names
}

// newLoadCache returns the cache under stateDir, or nil when stateDir does
// not exist or the binary's identity cannot be known.
func newLoadCache(stateDir string) *loadCache {
	if fi, err := os.Stat(stateDir); err != nil || !fi.IsDir() {
		return nil
	}
	id, ok := binaryIdentity()
	if !ok {
		return nil
	}
	return &loadCache{dir: filepath.Join(stateDir, ".cache"), id: id, prefix: "runbook-"}
}

// foldCache is where the engine keeps its fold snapshots of stateDir's
// journals (steps.ReadRunCached), beside the loaded runbooks and under
// the same identity; nil when there is no load cache.
func foldCache(stateDir string) (runbooks.Cache, string) {
	c := newLoadCache(stateDir)
	if c == nil {
		return nil, ""
	}
	folds := *c
	folds.prefix = "" // its slots name themselves (fold-…)
	return &folds, c.id
}

// readRun folds a run's journal through the fold snapshots: a status or
// report of a long journal folds only what was appended since the last
// reader. Without notes, no step's notes are held (a reader that shows
// none).
func readRun(stateDir, journal string, notes bool) (*steps.Run, *steps.TornTail, error) {
	cache, key := foldCache(stateDir)
	if !notes {
		return steps.ReadRunCachedNoNotes(journal, cache, key)
	}
	return steps.ReadRunCached(journal, cache, key)
}

func (c *loadCache) path(slot string) string { return filepath.Join(c.dir, c.prefix+slot) }

// Get implements runbooks.Cache.
func (c *loadCache) Get(slot string) []byte {
	data, err := os.ReadFile(c.path(slot))
	if err != nil {
		return nil
	}
	return data
}

// Put implements runbooks.Cache: written atomically, and a failure is
// only a missed saving.
func (c *loadCache) Put(slot string, data []byte) {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return
	}
	_ = steps.WriteFileAtomic(c.path(slot), data, 0o600)
}

// CacheKey implements runbooks.CacheKeyer.
func (c *loadCache) CacheKey() string { return c.id }

// binaryIdentity is buildIdentity, worked out once per process: the load
// cache and the fold snapshots both key on it, and it reads the
// executable's ELF headers.
var binaryIdentity = sync.OnceValues(buildIdentity)

// buildIdentity names this binary: its Go build ID when the executable
// carries one (ELF), else what the build info records, and always the
// executable's size and modification time, so a rebuilt or replaced
// binary has another identity.
func buildIdentity() (string, bool) {
	exe, err := os.Executable()
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return "", false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00", exe, fi.Size(), fi.ModTime().UnixNano())
	if f, err := elf.Open(exe); err == nil {
		if s := f.Section(".note.go.buildid"); s != nil {
			if b, err := s.Data(); err == nil {
				h.Write(b)
			}
		}
		f.Close()
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		h.Write([]byte(bi.String()))
	}
	return hex.EncodeToString(h.Sum(nil)), true
}
