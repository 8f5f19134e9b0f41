package runbooks

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Checkpoints is the runbook's `checkpoints:` block: how the workspace's
// checkpoints travel beyond the machine that made them.
type Checkpoints struct {
	// Push is the git remote each checkpoint is pushed to after it is
	// made: a remote of the workspace repository (its name) or a URL.
	// Empty: checkpoints stay in the workspace.
	Push string
	Pos  Pos
}

var checkpointsKeys = []string{"push"}

// remoteName is what git accepts as a remote's name and runbook as one:
// no spaces, no leading dash, nothing a shell reads specially.
var remoteName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]*$`)

func (l *loader) checkpoints(n ast.Node, rb *Runbook) {
	fields, ok := l.mapping(n, "checkpoints")
	if !ok {
		return
	}
	rb.Checkpoints.Pos = l.pos(n)
	for _, f := range fields {
		switch f.key {
		case "push":
			v := l.str(f, "checkpoints push")
			if msg := checkPushRemote(v); msg != "" {
				l.errorf(f.value, "checkpoints push %s", msg)
				continue
			}
			rb.Checkpoints.Push = v
		default:
			l.unknown(f, "checkpoints", checkpointsKeys...)
		}
	}
}

// checkPushRemote says what is wrong with a push remote, "" when nothing.
// A URL never carries a password: the runbook is shared and committed.
func checkPushRemote(v string) string {
	switch {
	case strings.TrimSpace(v) == "":
		return "must name a git remote of the workspace (e.g. origin) or a URL"
	case strings.Contains(v, "://"):
		u, err := url.Parse(v)
		if err != nil || u.Host == "" && u.Scheme != "file" {
			return "is not a URL a git remote can have"
		}
		_, pw := u.User.Password()
		if pw || u.User != nil && (u.Scheme == "http" || u.Scheme == "https") {
			return "must not hold credentials (the runbook is shared): name a remote of the workspace instead, whose URL stays in the workspace's git config, or use an SSH URL"
		}
		return ""
	case strings.HasPrefix(v, "/") || strings.Contains(v, "@") && strings.Contains(v, ":"):
		return "" // a path or an scp-like SSH address (git@host:repo)
	case !remoteName.MatchString(v):
		return "must name a git remote of the workspace (letters, digits, '.', '_', '-', '/') or a URL"
	}
	return ""
}
