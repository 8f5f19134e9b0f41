package gitcp

import (
	"fmt"
	"os"
	"time"
)

// staleLocks lets a checkpoint clear a git lock file that the previous
// runbook process of this run left when it died inside a checkpoint. The
// engine proves that process dead (its run lock was taken over on this
// host); the lock file must be older than this session, and no git
// process may be running in the workspace. Anything else is never touched.
type staleLocks struct {
	before time.Time
	note   func(string)
	dir    string
}

// clear removes lock file p when it is provably stale, and says so.
func (s *staleLocks) clear(p string) bool {
	if s == nil || s.before.IsZero() {
		return false
	}
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(s.before) {
		return false
	}
	if gitRunningIn(s.dir) {
		return false
	}
	if err := os.Remove(p); err != nil {
		return false
	}
	if s.note != nil {
		s.note(fmt.Sprintf("cleared %s (from %s), left by the runbook process that died holding this run; no git command runs in the workspace", p, fi.ModTime().UTC().Format(time.RFC3339)))
	}
	return true
}
