package ui

// Approvals and notices: a step that needs approval, and what the team's
// side (webhooks) has to say while the run goes on.

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/components/dialog"
)

// NoticeMsg is a notice from outside the engine (a webhook that could not
// be reached): shown in the status line; the run goes on.
type NoticeMsg struct{ Text string }

// Notice makes a NoticeMsg of foreign text.
func Notice(text string) NoticeMsg { return NoticeMsg{Text: termsafe.Line(text)} }

// approval does what the engine decided for a step that lacks approvals:
// the rehearsal's own approval; with a store, wait for it (a long op that
// x or quitting cancels); without one, ask here who approves.
func (m Model) approval(s runbooks.Step, d steps.Decision) (tea.Model, tea.Cmd) {
	if d.Auto || m.sess.WaitsForApprovals() {
		mm, cmd := m.start(decisionOp(d))
		if mo, ok := mm.(Model); ok && !d.Auto {
			mo.setStatus(levelWarn, "%s %s: approve it with `runbook approve %s --reason ...` from another machine.", s.ID, d.Why, s.ID)
			mm = mo
		}
		return mm, cmd
	}
	prompt := "This step needs approval by an operator other than " + m.operator() + ". Type the approver's NAME, then ': ' and the reason"
	if s.Approval != nil && s.Approval.ReasonRequired {
		prompt += " (required)."
	} else {
		prompt += " (optional)."
	}
	prompt += " The journal says it was given on this machine."
	dl, cmd := dialog.NewInput("Approve "+s.Title, prompt, "name: reason", true)
	mm, c := m.open(dl, tagApprove, s.ID)
	// The journal says the step waits (which notifies "approval needed").
	_, ask := m.start(op{kind: opAskAppr, step: s.ID})
	return mm, tea.Batch(cmd, c, ask)
}

// approveHere journals an approval typed into the dialog, "NAME: REASON".
func (m Model) approveHere(id, value string) (tea.Model, tea.Cmd) {
	who, reason, _ := strings.Cut(value, ":")
	return m.start(op{kind: opApprove, step: id, who: strings.TrimSpace(who), text: strings.TrimSpace(reason)})
}

// approvedStatus says where a step's approval stands after one was given.
func approvedStatus(id string, st steps.StepState) string {
	var by []string
	for _, a := range st.Approvals {
		by = append(by, a.By+" ("+steps.ViaText(a.Via)+")")
	}
	return id + " approved by " + strings.Join(by, ", ") + ". Press enter to go on."
}
