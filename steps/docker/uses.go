package docker

import (
	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// What the docker actions tell the loader (see steps.TargetUser,
// steps.Expander): every engine action acts on a docker target, "docker"
// when it names none; an undefined default falls back to DOCKER_HOST.

func dockerTarget(name string) []steps.TargetUse {
	if name == "" {
		return []steps.TargetUse{{Name: DefaultTarget, Kinds: []runbooks.TargetKind{runbooks.TargetDocker}, Optional: true}}
	}
	return []steps.TargetUse{{Key: "target", Name: name, Kinds: []runbooks.TargetKind{runbooks.TargetDocker}}}
}

// TargetUses implements steps.TargetUser for every action that selects
// containers.
func (s *Selector) TargetUses() []steps.TargetUse { return dockerTarget(s.Target) }

var selectorKeys = []string{"container", "project", "service"}

// ExpandedKeys implements steps.Expander.
func (*Find) ExpandedKeys() []string { return selectorKeys }

// ExpandedKeys implements steps.Expander: the expected image too.
func (*Assert) ExpandedKeys() []string { return append([]string{"image"}, selectorKeys...) }

// ExpandedKeys implements steps.Expander.
func (*Wait) ExpandedKeys() []string { return selectorKeys }

// ExpandedKeys implements steps.Expander.
func (*Lifecycle) ExpandedKeys() []string { return selectorKeys }

// ExpandedKeys implements steps.Expander.
func (*Logs) ExpandedKeys() []string { return selectorKeys }

// ExpandedKeys implements steps.Expander.
func (*Exec) ExpandedKeys() []string { return append([]string{"argv", "env"}, selectorKeys...) }

// TargetUses implements steps.TargetUser.
func (a *Apply) TargetUses() []steps.TargetUse { return dockerTarget(a.Target) }

// ExpandedKeys implements steps.Expander.
func (*Apply) ExpandedKeys() []string { return []string{"file", "project", "services"} }

// ExpandedKeys implements steps.Expander: the file and every value of the
// patch (keys are kept as written).
func (*Edit) ExpandedKeys() []string { return []string{"file", "patch"} }

// ExpandedKeys implements steps.Expander.
func (*Restore) ExpandedKeys() []string { return []string{"file", "project", "services"} }

// TargetUses implements steps.TargetUser.
func (r *Restore) TargetUses() []steps.TargetUse { return dockerTarget(r.Compose.Target) }
