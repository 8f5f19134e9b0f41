package ui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/components/dialog"
)

// askCancel asks before cancelling the running step: its actions stop
// (processes killed, queries cancelled, waits ended), the journal records
// the cancel, and the step then offers retry, verify, undo or mark done.
func (m Model) askCancel() (tea.Model, tea.Cmd) {
	if m.busy == nil {
		m.setStatus(levelInfo, "No step is running: x cancels a running step.")
		return m, nil
	}
	return m.open(dialog.NewConfirm("Cancel "+m.busy.op.step+"?",
		fmt.Sprintf("%s is running (%s). Cancel stops its actions now and journals who cancelled; then retry, verify, undo or mark it done.", m.busy.op.step, m.busy.op.kind)), tagCancel, m.busy.op.step)
}

// cancelRunning cancels the op in flight if it is still the one the
// operator meant.
func (m Model) cancelRunning(step string) (tea.Model, tea.Cmd) {
	if m.busy == nil || m.busy.op.step != step {
		m.setStatus(levelInfo, "%s is no longer running.", step)
		return m, nil
	}
	m.busy.canceled = true
	m.busy.cancel()
	m.setStatus(levelWarn, "Cancelling %s: waiting for the journal to record it.", step)
	return m, nil
}

// nextOps says what the operator can do with a step now, from what its
// state allows: the same words whatever brought it there.
func (m Model) nextOps(id string) string {
	pi, si, ok := m.rb.StepRef(id)
	if !ok {
		return ""
	}
	s := m.rb.Phases[pi].Steps[si]
	var can []string
	if m.legal(id, steps.EvStepStarted) == nil {
		can = append(can, "r retries")
	}
	if len(s.Verify) > 0 && m.legal(id, steps.EvStepVerifying) == nil {
		can = append(can, "v verifies")
	}
	if m.legal(id, steps.EvUndoStarted) == nil {
		can = append(can, "u undoes")
	}
	if m.legal(id, steps.EvStepMarkedDone) == nil {
		can = append(can, "m marks it done")
	}
	if m.legal(id, steps.EvStepSkipped) == nil {
		can = append(can, "s skips")
	}
	if len(can) == 0 {
		return "nothing more to do with it."
	}
	return strings.Join(can, ", ") + "."
}

// failure is a failed op's error, safe for the screen, followed by what
// the operator can do next.
func (m Model) failure(id string, err error) string {
	msg := strings.TrimRight(termsafe.Line(err.Error()), ".")
	return msg + ". Next: " + m.nextOps(id)
}
