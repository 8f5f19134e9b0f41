package main

import (
	"github.com/spf13/pflag"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/gitcp"
)

// The workspace follows the run: checkpoints pushed to a git remote
// (--push-checkpoints, $RUNBOOK_PUSH_CHECKPOINTS, or the runbook's
// checkpoints: push:), and a reopened run refusing a workspace that is not
// at its last checkpoint unless --accept-workspace.

// workspaceFlags are the flags of the workspace's travels.
type workspaceFlags struct {
	push   string
	accept bool
	// notice is told at once when a push fails (the headless runner's
	// stderr); the journal gets a note in every front end.
	notice func(string)
}

func (c *common) registerWorkspace(fs *pflag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.ws.push, "push-checkpoints", envOr(getenv, "RUNBOOK_PUSH_CHECKPOINTS", ""), "push each checkpoint to the workspace's git `REMOTE` (a remote's name or a URL; overrides the runbook's checkpoints: push:) ($RUNBOOK_PUSH_CHECKPOINTS)")
	fs.BoolVar(&c.ws.accept, "accept-workspace", false, "run steps on a workspace that is not at the run's last checkpoint (journaled)")
}

// workspaceOptions are the checkpoint repository's options for pushing and
// checking. The remote's credentials (in the URL given, or in the URL of
// the workspace's remote named) reach the session's redactor through
// gitcp.WithRedactor, which the repository is opened with.
func (c *common) workspaceOptions(rb *runbooks.Runbook) []gitcp.Option {
	var opts []gitcp.Option
	push := c.ws.push
	if push == "" {
		push = rb.Checkpoints.Push
	}
	if push != "" {
		opts = append(opts, gitcp.WithPush(push))
	}
	if c.ws.notice != nil {
		opts = append(opts, gitcp.WithNotice(c.ws.notice))
	}
	if c.ws.accept {
		opts = append(opts, gitcp.WithAcceptWorkspace(c.operator))
	}
	return opts
}
