// Package actions assembles the registry of every action family runbook
// ships. It is the one place that knows them all.
package actions

import (
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/docker"
	"github.com/runbook-dev/runbook/steps/files"
	"github.com/runbook-dev/runbook/steps/gitcp"
	"github.com/runbook-dev/runbook/steps/pg"
	"github.com/runbook-dev/runbook/steps/shell"
	"github.com/runbook-dev/runbook/steps/web"
)

// Registry returns a registry with every action type.
func Registry() *steps.Registry {
	r := steps.NewRegistry()
	shell.Register(r)
	docker.Register(r)
	pg.Register(r)
	web.Register(r)
	files.Register(r)
	gitcp.Register(r)
	return r
}
