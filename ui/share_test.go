package ui

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// Without a store, enter on a step that needs approval asks who approves;
// the driver's own name is refused, another's is journaled as given on the
// driver's machine.
func TestApprovalAskedInADialogWithoutAStore(t *testing.T) {
	rb := loadLab(t)
	rb.Phases[0].Steps[0].Approval = &runbooks.Approval{Count: 1, ReasonRequired: true}
	id := rb.Phases[0].Steps[0].ID
	f := openLab(t, rb, "")
	m := sized(t, f.model(true), 120, 40)
	if m.timeline.Selected() != id {
		t.Fatalf("selected %q, want %q", m.timeline.Selected(), id)
	}
	m = press(t, m, "enter")
	if m.dlg == nil || m.dlg.Tag != tagApprove {
		t.Fatalf("no approval dialog; status %q", m.status)
	}
	if st := f.sess.Snapshot().Step(id); st.ApprovalAsked.IsZero() || st.Status != steps.Pending {
		t.Fatalf("after enter: %+v", st)
	}
	m = typeText(t, m, "ana: it is mine")
	m = press(t, m, "enter")
	if !strings.Contains(m.status, "cannot approve its own step") {
		t.Fatalf("self-approval: status %q", m.status)
	}
	m = press(t, m, "enter")
	m = typeText(t, m, "ben: CHG-1 signed off")
	m = press(t, m, "enter")
	st := f.sess.Snapshot().Step(id)
	if len(st.Approvals) != 1 || st.Approvals[0].By != "ben" || st.Approvals[0].Reason != "CHG-1 signed off" || st.Approvals[0].Via != steps.ViaDriver || st.Approvals[0].Host != "lab" {
		t.Fatalf("approvals %+v; status %q", st.Approvals, m.status)
	}
	if !strings.Contains(m.status, "approved by ben (on the driver's machine)") {
		t.Errorf("status %q", m.status)
	}
	// A webhook's notice reaches the status line.
	m, _ = update(t, m, Notice("webhook hooks.example.com: 3 events undelivered\x1b[2J"))
	if !strings.Contains(m.status, "3 events undelivered") || strings.ContainsRune(m.status, 0x1b) {
		t.Errorf("notice: status %q", m.status)
	}
}
