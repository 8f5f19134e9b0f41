package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// A profile is a file of KEY=VALUE lines naming a workspace and target
// values, so one word (`--target lab`) points runbook at a whole stack:
//
//	workspace=/srv/lab/workspace
//	target.app_url=http://localhost:8001
//	target.db=postgres://...           (the file is 0600: it may hold secrets)
//
// Profiles live in the state directory as profiles/NAME.env; the lab
// writes profile "lab". Explicit --target NAME=VALUE and --workspace flags
// win over a profile.

const profileKey = "\x00profiles"

var profileNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// ProfilePath is where profile name lives in a state directory.
func ProfilePath(stateDir, name string) string {
	return filepath.Join(stateDir, "profiles", name+".env")
}

// targetValues is the explicit target values for rb: --target NAME=VALUE
// pairs over profile values (those only for targets rb has: one profile
// serves several runbooks).
func (c *common) targetValues(rb *runbooks.Runbook) map[string]string {
	out := map[string]string{}
	for k, v := range c.profile {
		if _, ok := rb.Target(k); ok {
			out[k] = v
		}
	}
	for k, v := range c.targets {
		if k != profileKey {
			out[k] = v
		}
	}
	return out
}

// applyProfiles reads the named profiles into targets and workspace, under
// whatever the command line set explicitly.
func (c *common) applyProfiles() error {
	explicitWS := c.changed("workspace")
	explicitState := c.changed("state") || c.getenv("RUNBOOK_STATE") != ""
	if c.rehearsal && !explicitState {
		// Profiles stay where they are; the rehearsal's journal does not
		// share a directory with the real run's.
		defer func() { c.stateDir = filepath.Join(c.stateDir, "rehearsal") }()
	}
	c.workspaceSet = explicitWS || c.getenv("RUNBOOK_WORKSPACE") != ""
	names := c.targets[profileKey]
	if names == "" {
		return nil
	}
	for _, name := range strings.Split(names, ",") {
		path := ProfilePath(c.stateDir, name)
		f, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) {
				hint := ""
				if name == "lab" {
					hint = ": run `runbook lab up` first"
				}
				return usagef("profile %q not found at %s%s", name, path, hint)
			}
			return fmt.Errorf("profile %s: %w", name, err)
		}
		p, err := steps.ParseProfile(f)
		f.Close()
		var pe *steps.ProfileError
		if errors.As(err, &pe) {
			return usagef("%s:%d: %s", path, pe.Line, pe.Msg)
		}
		if err != nil {
			return fmt.Errorf("profile %s: %w", name, err)
		}
		if p.Workspace != "" && !explicitWS {
			c.workspace, c.workspaceSet = p.Workspace, true
		}
		if p.Store != "" && c.store == "" {
			c.store, c.storeFrom = p.Store, "store= in profile "+path
		}
		for _, t := range p.Targets {
			if c.profile == nil {
				c.profile = map[string]string{}
			}
			c.profile[t.Name] = t.Value
		}
	}
	return nil
}
