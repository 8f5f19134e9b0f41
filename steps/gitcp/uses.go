package gitcp

import "github.com/runbook-dev/runbook/steps"

// StepUses implements steps.StepUser: a restore of another step's files
// names a step that must exist.
func (a *RestoreAction) StepUses() []steps.StepUse {
	if a.Step == "" {
		return nil
	}
	return []steps.StepUse{{Key: "step", ID: a.Step}}
}
