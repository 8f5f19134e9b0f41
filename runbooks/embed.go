package runbooks

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/runbook-dev/runbook/assets"
)

// shipped holds the runbooks compiled into the binary, one NAME.yaml per
// runbook, NAME being the runbook's id. An embed.FS is read-only.
//
//go:embed *.yaml
var shipped embed.FS

// Embedded returns the file system of the shipped runbooks.
func Embedded() fs.FS { return shipped }

// Names lists the ids of the shipped runbooks, sorted.
func Names() []string {
	files, err := fs.Glob(shipped, "*.yaml")
	if err != nil {
		// Glob fails only on a malformed pattern; this one is constant.
		panic("runbooks: " + err.Error())
	}
	out := make([]string, 0, len(files))
	for _, f := range files {
		out = append(out, strings.TrimSuffix(f, ".yaml"))
	}
	sort.Strings(out)
	return out
}

// LoadEmbedded loads a shipped runbook by id. Its guides come from
// opt.Guides, or from the guides shipped in package assets when that is nil.
func LoadEmbedded(name string, opt LoadOptions) (*Runbook, error) {
	known := false
	for _, n := range Names() {
		known = known || n == name
	}
	if !known {
		return nil, fmt.Errorf("no runbook named %q is built in (built in: %s): pass a runbook file with -f instead",
			name, strings.Join(Names(), ", "))
	}
	if opt.Guides == nil {
		opt.Guides = assets.Guides()
	}
	// Errors come back as they are: a runbooks.Errors whose positions name
	// NAME.yaml, which callers may inspect.
	return Load(shipped, name+".yaml", opt)
}
