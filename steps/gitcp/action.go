package gitcp

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/runbook-dev/runbook/steps"
)

// Register adds the git actions to a registry.
func Register(r *steps.Registry) {
	r.Register("git.restore", func() steps.Action { return new(RestoreAction) })
}

// RestoreAction is the `git.restore` action: an undo that puts back the
// workspace files a step's checkpoint changed, as they were in the commit
// before that checkpoint (files the step created are removed). It does not
// commit: the checkpoint that ends the undo commits the restored files.
//
//	undo:
//	  - git.restore: {}                  # this step's files
//	  - git.restore:
//	      step: item2-nginx-config       # another step's checkpoint
//	      paths: [nginx/]                # only these files or folders
type RestoreAction struct {
	Step  string   `yaml:"step"`
	Paths []string `yaml:"paths"`
}

// Validate implements runbooks.Validator.
func (a *RestoreAction) Validate() error {
	for _, p := range a.Paths {
		c := path.Clean(filepath.ToSlash(p))
		if strings.TrimSpace(p) == "" || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
			return fmt.Errorf("paths: %q is not a path inside the workspace (use a relative path such as nginx/)", p)
		}
	}
	return nil
}

func (a *RestoreAction) step(env *steps.Env) string {
	if a.Step != "" {
		return a.Step
	}
	return env.Step
}

// Describe implements steps.Action.
func (a *RestoreAction) Describe(env *steps.Env) string {
	ws := env.Workspace
	if ws == "" {
		ws = "(no workspace)"
	}
	s := fmt.Sprintf("restore the files that step %s's last checkpoint changed in workspace %s to their content in the commit before it (files it created are removed)", a.step(env), ws)
	if len(a.Paths) > 0 {
		s += "; only " + strings.Join(a.Paths, ", ")
	}
	return s
}

// Run implements steps.Action.
func (a *RestoreAction) Run(ctx context.Context, env *steps.Env) error {
	if env.Workspace == "" {
		return errors.New("git.restore needs a workspace repository: runbook was started without one (--workspace), so no step checkpoint holds workspace files")
	}
	var opts []Option
	if id := runbookOf(env); id != "" {
		opts = append(opts, WithRunbook(id))
	}
	if env.StateDir != "" {
		opts = append(opts, WithStateDir(env.StateDir))
	}
	r, err := Open(env.Workspace, opts...)
	if err != nil {
		return err
	}
	step := a.step(env)
	res, err := r.Restore(ctx, step, a.Paths...)
	if err != nil {
		return err
	}
	env.Touch(res.Paths...)
	env.Printf("checkpoint %s of step %s: restoring %d file(s) as of %s", short12(res.Checkpoint), step, len(res.Paths), short12(res.Before))
	over := map[string]bool{}
	for _, p := range res.Overwritten {
		over[p] = true
	}
	for _, p := range res.Paths {
		note := ""
		if over[p] {
			note = " (it had changed after the checkpoint: that change is undone too)"
		}
		env.Printf("  restored %s%s", p, note)
	}
	return nil
}

func short12(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// runbookOf recovers the runbook id from the step's save directory
// (steps.RunDir(state, id)/saved/<step>), so restore matches this
// runbook's checkpoints only.
func runbookOf(env *steps.Env) string {
	if env.SaveDir == "" || env.StateDir == "" {
		return ""
	}
	id := filepath.Base(filepath.Dir(filepath.Dir(env.SaveDir)))
	if filepath.Join(steps.RunDir(env.StateDir, id), "saved", env.Step) != filepath.Clean(env.SaveDir) {
		return ""
	}
	return id
}
