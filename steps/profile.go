package steps

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Profile is a profile file: KEY=VALUE lines, so one word (`--target
// lab`) names a workspace, a shared-run store and target values:
//
//	workspace=/srv/lab/workspace
//	store=postgres://...
//	target.app_url=http://localhost:8001
//
// Blank lines and lines starting with # are passed over. The CLI reads
// profiles from the state directory; the lab writes one.
type Profile struct {
	Workspace string
	Store     string
	// Targets are the target values in file order.
	Targets []ProfileTarget
}

// ProfileTarget is one target value of a profile.
type ProfileTarget struct{ Name, Value string }

// ProfileError is a line of a profile that cannot be read.
type ProfileError struct {
	Line int
	Msg  string
}

func (e *ProfileError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ParseProfile reads a profile. A line it cannot read is a *ProfileError;
// a read error is returned as it is.
func ParseProfile(r io.Reader) (Profile, error) {
	var p Profile
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			return p, &ProfileError{n, "want KEY=VALUE"}
		case k == "workspace":
			p.Workspace = v
		case k == "store":
			p.Store = v
		case strings.HasPrefix(k, "target."):
			p.Targets = append(p.Targets, ProfileTarget{strings.TrimPrefix(k, "target."), v})
		default:
			return p, &ProfileError{n, fmt.Sprintf("unknown key %q (want workspace=, store= or target.NAME=)", k)}
		}
	}
	return p, sc.Err()
}
