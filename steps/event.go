package steps

import (
	"fmt"
	"time"
)

// EventKind is the type of one journal record.
type EventKind uint8

// Event kinds. The journal stores their names, so order may change but names
// may not.
const (
	EvInvalid EventKind = iota
	// Run level.
	EvRunStarted  // a new run of a runbook
	EvRunResumed  // a session reopened the run
	EvRunFinished // every step reached an end
	// Step level.
	EvStepStarted    // do actions begin (attempt N)
	EvStepVerifying  // verify actions begin
	EvStepAwaiting   // a manual action waits for the operator
	EvStepConfirmed  // the operator confirmed a manual action
	EvStepSucceeded  // do and verify passed
	EvStepFailed     // an action failed (Err)
	EvStepMarkedDone // the operator declared it done (Reason)
	EvStepSkipped    // the operator skipped it (Reason)
	EvStepDirty      // found in flight on reopen: outcome unknown
	EvUndoStarted    // undo actions begin
	EvUndoFinished   // undo actions passed
	EvUndoFailed     // an undo action failed (Err)
	EvNote           // an operator note (Note)
	EvChecklistTick  // a checklist item ticked or unticked (Item, Checked)
	EvCheckpoint     // a git checkpoint was committed (Commit)
	EvStepCancelled  // the operator cancelled the running work (Actor; Note: when asked)
	EvApprovalAsked  // a step that needs approval began to wait for it (Note: what it needs)
	EvStepApproved   // an operator approved a step (Actor, Host, Given, Reason, Via)
	numEventKinds
)

var eventNames = [numEventKinds]string{
	EvInvalid:        "invalid",
	EvRunStarted:     "run.started",
	EvRunResumed:     "run.resumed",
	EvRunFinished:    "run.finished",
	EvStepStarted:    "step.started",
	EvStepVerifying:  "step.verifying",
	EvStepAwaiting:   "step.awaiting",
	EvStepConfirmed:  "step.confirmed",
	EvStepSucceeded:  "step.succeeded",
	EvStepFailed:     "step.failed",
	EvStepMarkedDone: "step.marked_done",
	EvStepSkipped:    "step.skipped",
	EvStepDirty:      "step.dirty",
	EvUndoStarted:    "undo.started",
	EvUndoFinished:   "undo.finished",
	EvUndoFailed:     "undo.failed",
	EvNote:           "note",
	EvChecklistTick:  "checklist.tick",
	EvCheckpoint:     "checkpoint",
	EvStepCancelled:  "step.cancelled",
	EvApprovalAsked:  "approval.asked",
	EvStepApproved:   "step.approved",
}

func (k EventKind) String() string {
	if k < numEventKinds {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// EventKinds lists every valid kind, for exhaustive tests.
func EventKinds() []EventKind {
	out := make([]EventKind, 0, numEventKinds-1)
	for k := EvInvalid + 1; k < numEventKinds; k++ {
		out = append(out, k)
	}
	return out
}

func parseEventKind(s string) (EventKind, bool) {
	for k := EvInvalid + 1; k < numEventKinds; k++ {
		if eventNames[k] == s {
			return k, true
		}
	}
	return EvInvalid, false
}

// Event is one journal record. Which fields are set depends on Kind.
type Event struct {
	Seq  uint64
	At   time.Time
	Kind EventKind
	Step string // step id; empty for run-level events

	Attempt int    // EvStepStarted: 1, 2, ...
	Action  int    // EvStepAwaiting/EvStepConfirmed: index of the manual do action
	Item    int    // EvChecklistTick: checklist index
	Checked bool   // EvChecklistTick
	Actor   string // who: operator name, or "headless --confirm-manual"
	Reason  string // skip / mark-done / confirm reason
	Note    string // EvNote text; EvStepDirty: what was in flight
	Err     string // EvStepFailed / EvUndoFailed
	Commit  string // EvCheckpoint
	// NoCheckpoint: the end of a step whose phase keeps no checkpoints
	// (checkpoint: false); Transition then asks for none.
	NoCheckpoint bool

	// Run-level facts (EvRunStarted / EvRunResumed).
	Runbook   string
	Digest    string
	Host      string
	PID       int
	Rehearsal bool
	// Date is the day (YYYY-MM-DD) the run was planned on (EvRunStarted):
	// a resumed run keeps its day even when the runbook says another.
	Date string

	// Via says where an approval or a note came from (EvStepApproved,
	// EvNote): ViaDriver, ViaStore or ViaRehearsal; empty for the
	// driver's own notes.
	Via string
	// Given is when an approval was given (EvStepApproved), which may be
	// before the driver journaled it.
	Given time.Time
	// Until is the last sign of life of the work a step was found doing
	// when its process died (EvStepDirty: the last write to its log);
	// the attempt's clock runs until then, not only to its last record.
	Until time.Time
	// Ref is a follower note's number in the store (EvNote, Via
	// ViaStore): the driver never journals the same note twice.
	Ref uint64
	// Saved says whether the step's save directory held files when its
	// actions' work ended (SavedFiles, SavedNone; empty: not observed),
	// on the machine named by Host: an undo on another machine needs
	// them (see share_saved.go).
	Saved string
}
