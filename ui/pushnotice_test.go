package ui

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps"
)

func TestPushNotice(t *testing.T) {
	failed := "checkpoint 0123456789 not pushed to origin: repository not found; kept in the workspace, the push is owed"
	for _, tc := range []struct {
		notes []steps.Note
		want  string
	}{
		{nil, ""},
		{[]steps.Note{{By: "runbook", Text: failed}}, "Warning: " + failed + "."},
		{[]steps.Note{{By: "runbook", Text: failed}, {By: "ana", Text: "looked at it"}}, ""},
		{[]steps.Note{{By: "ana", Text: failed}}, ""},
		{[]steps.Note{{By: "runbook", Text: "checkpoints owed to origin pushed (up to 0123456789)"}}, ""},
	} {
		if got := pushNotice(steps.StepState{Notes: tc.notes}); got != tc.want {
			t.Errorf("notes %v: %q, want %q", tc.notes, got, tc.want)
		}
	}
	if got := pushNotice(steps.StepState{Notes: []steps.Note{{By: "runbook", Text: failed + "\x1b[2J"}}}); strings.Contains(got, "\x1b") {
		t.Errorf("escape sequence passed: %q", got)
	}
}
