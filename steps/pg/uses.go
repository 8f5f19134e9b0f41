package pg

import (
	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// What the pg actions tell the loader (see steps.TargetUser,
// steps.Expander). Every action connects through a postgres target, "db"
// when it names none; an undefined default falls back to the PG* variables.

var postgres = []runbooks.TargetKind{runbooks.TargetPostgres}

// TargetUses implements steps.TargetUser for every pg action.
func (c *Conn) TargetUses() []steps.TargetUse {
	if c.Target == "" {
		return []steps.TargetUse{{Name: DefaultTarget, Kinds: postgres, Optional: true}}
	}
	return []steps.TargetUse{{Key: "target", Name: c.Target, Kinds: postgres}}
}

var connKeys = []string{"database", "password_file"}

// ExpandedKeys implements steps.Expander: bind parameters and the values
// of ${ident:K} / ${literal:K}, never the SQL text.
func (*Exec) ExpandedKeys() []string {
	return append([]string{"args", "idents", "literals"}, connKeys...)
}

// ExpandedKeys implements steps.Expander: the expected rows and value are
// compared after expansion (a secret target's value is never shown).
func (*Query) ExpandedKeys() []string {
	return append([]string{"args", "idents", "value", "expect"}, connKeys...)
}

// ExpandedKeys implements steps.Expander.
func (*Set) ExpandedKeys() []string { return append([]string{"role"}, connKeys...) }

// ExpandedKeys implements steps.Expander: the expected setting lines.
func (*Settings) ExpandedKeys() []string { return append([]string{"expect"}, connKeys...) }

// ExpandedKeys implements steps.Expander.
func (*Extension) ExpandedKeys() []string { return connKeys }

// ExpandedKeys implements steps.Expander.
func (*Migrate) ExpandedKeys() []string { return connKeys }
