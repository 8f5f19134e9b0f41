package ui

import (
	"context"
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

// blockingApprovals gives the list the test sends, or waits until ctx ends.
type blockingApprovals struct{ given chan []steps.Approval }

func (b blockingApprovals) WaitApprovals(ctx context.Context, step string, need int) ([]steps.Approval, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case as := <-b.given:
		return as, nil
	}
}

// With a source of approvals (the store), enter waits for them as a long
// operation: x stops the wait (the step stays pending); when they come,
// the step starts.
func TestApprovalAwaitedFromTheStore(t *testing.T) {
	rb := loadLab(t)
	rb.Phases[0].Steps[0].Approval = &runbooks.Approval{Count: 1}
	id := rb.Phases[0].Steps[0].ID
	src := blockingApprovals{given: make(chan []steps.Approval, 1)}
	f := &fixture{rb: rb, clock: steps.NewFakeClock(labStart), out: NewOutput(0), dir: t.TempDir()}
	red := steps.NewRedactor()
	targets, _, err := steps.ResolveTargets(rb, nil, func(string) string { return "" }, red)
	if err != nil {
		t.Fatal(err)
	}
	f.sess, err = steps.Open(steps.Options{Runbook: rb, StateDir: f.dir, Clock: f.clock, Operator: "ana", Host: "lab",
		Targets: targets, Redactor: red, Output: f.out.Send, Approvals: src})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.out.Close(); f.sess.Close() })
	m := sized(t, f.model(true), 120, 40)

	m, cmd := update(t, m, keyMsg("enter"))
	if m.busy == nil || m.busy.op.kind != opWaitAppr || !strings.Contains(m.status, "runbook approve "+id) {
		t.Fatalf("not waiting: busy %+v, status %q", m.busy, m.status)
	}
	mm, _ := m.cancelRunning(id)
	m = settle(t, mm.(Model), cmd)
	if m.busy != nil || f.sess.Snapshot().Step(id).Status != steps.Pending {
		t.Fatalf("after x: busy %+v, step %+v", m.busy, f.sess.Snapshot().Step(id))
	}

	src.given <- []steps.Approval{{By: "ben", Host: "ben-laptop", Via: steps.ViaStore, At: labStart}}
	m = press(t, m, "enter")
	st := f.sess.Snapshot().Step(id)
	if len(st.Approvals) != 1 || st.Approvals[0].By != "ben" || st.Status == steps.Pending {
		t.Fatalf("after the approval: %+v; status %q", st, m.status)
	}
}
