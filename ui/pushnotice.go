package ui

import (
	"strings"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// pushNotice is the warning to show when the step's checkpoint was made
// but not pushed to the workspace's remote (the journal's note, by
// runbook, is the step's last): "" otherwise. The push is owed and made
// with the next checkpoint; the status line says so until then.
func pushNotice(st steps.StepState) string {
	if len(st.Notes) == 0 {
		return ""
	}
	n := st.Notes[len(st.Notes)-1]
	if n.By != "runbook" || !strings.HasPrefix(n.Text, "checkpoint") || !strings.Contains(n.Text, " not pushed to ") {
		return ""
	}
	return "Warning: " + termsafe.Line(n.Text) + "."
}
