package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// keeper is a WorkspaceKeeper that answers as told and records what it
// was asked.
type keeper struct {
	fakeCheckpointer
	refuse  error
	accept  string
	owed    string
	failed  bool
	checked []string // commit@step
}

func (k *keeper) CheckWorkspace(_ context.Context, commit, step string) (string, error) {
	k.checked = append(k.checked, commit+"@"+step)
	if k.refuse != nil {
		return "", k.refuse
	}
	return k.accept, nil
}

func (k *keeper) PushOwed(context.Context) (string, bool) { return k.owed, k.failed }

// A reopened run asks the keeper about the run's last checkpoint before it
// records anything: a refusal leaves no trace, an acceptance and an owed
// push are journaled on that checkpoint's step, a failed push is a warning.
func TestReopenChecksTheWorkspace(t *testing.T) {
	h := newHarness(t)
	k := &keeper{}
	h.opt.Checkpointer = k
	s := h.open()
	if len(k.checked) != 0 {
		t.Fatalf("a new run checked the workspace: %v", k.checked)
	}
	if err := s.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	if r := s.Snapshot(); r.LastCommit != "commit-1" || r.LastCommitStep != "auto" {
		t.Fatalf("last checkpoint %q of %q", r.LastCommit, r.LastCommitStep)
	}
	s.Close()
	n := len(h.events())

	k.refuse = errors.New("workspace is elsewhere")
	if _, err := Open(h.opt); err == nil || err.Error() != "workspace is elsewhere" {
		t.Fatalf("open on a wrong workspace: %v", err)
	}
	if got := len(h.events()); got != n {
		t.Fatalf("the refused opening journaled %d records", got-n)
	}
	if strings.Join(k.checked, ",") != "commit-1@auto" {
		t.Fatalf("checked %v", k.checked)
	}

	k.refuse, k.accept, k.owed, k.failed = nil, "workspace accepted as it is by ana", "checkpoints not pushed to origin", true
	s = h.open()
	notes := s.Snapshot().Step("auto").Notes
	if len(notes) != 2 || notes[0].Text != k.accept || notes[0].By != "ana" || notes[1].Text != k.owed || notes[1].By != "runbook" {
		t.Fatalf("notes %+v", notes)
	}
	if w := strings.Join(s.Recovered.Warnings, "\n"); !strings.Contains(w, k.accept) || !strings.Contains(w, k.owed) {
		t.Fatalf("warnings %q", s.Recovered.Warnings)
	}
}
