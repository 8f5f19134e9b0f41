// Package actions assembles the registry of every action family runbook
// ships. It is the one place that knows them all.
package actions

import (
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/shell"
)

// Registry returns a registry with every action type.
func Registry() *steps.Registry {
	r := steps.NewRegistry()
	shell.Register(r)
	return r
}
