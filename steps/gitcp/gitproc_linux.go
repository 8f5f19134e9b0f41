package gitcp

import (
	"os"
	"path/filepath"
	"strings"
)

// gitRunningIn reports whether a git process runs with its working
// directory in dir (or cannot tell: then it says yes, and nothing is
// cleared).
func gitRunningIn(dir string) bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	dir = filepath.Clean(dir)
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(comm)), "git") {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			// A git process whose directory cannot be read: it may be ours.
			return true
		}
		if cwd == dir || strings.HasPrefix(cwd, dir+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
