package steps

import (
	"fmt"
	"strings"
	"time"
)

// EffectKind is work the driver must do after an event is journaled.
type EffectKind uint8

// Effects returned by Transition.
const (
	EffRunDo EffectKind = iota + 1
	EffRunVerify
	EffRunUndo
	EffCheckpoint
)

func (e EffectKind) String() string {
	switch e {
	case EffRunDo:
		return "run do"
	case EffRunVerify:
		return "run verify"
	case EffRunUndo:
		return "run undo"
	case EffCheckpoint:
		return "checkpoint"
	}
	return fmt.Sprintf("EffectKind(%d)", e)
}

// Effect is one piece of work for the driver.
type Effect struct {
	Kind EffectKind
	Step string
	// From is the first do action to run (after a confirmed manual action).
	From int
	// Confirmed: the operator confirmed the manual part, so a step with
	// no do actions is done rather than waiting again.
	Confirmed bool
}

// Note is an operator note on a step.
type Note struct {
	At   time.Time
	By   string
	Text string
	// Host and Via: a follower's note (Via ViaStore) names the machine
	// it was written on.
	Host string
	Via  string
}

// StepState is everything the journal says about one step.
type StepState struct {
	Status   Status
	Attempts int
	// StartedAt is the first start; FinishedAt the last time it reached an
	// end (succeeded, skipped, failed, undone). Zero when not yet.
	StartedAt  time.Time
	FinishedAt time.Time
	// Active is the time spent in work (running, verifying, awaiting),
	// summed over attempts; the open interval is added by Elapsed.
	Active     time.Duration
	activeFrom time.Time
	// lastAt is the last journaled moment of the step's work, where the
	// clock of a step found dirty stops.
	lastAt time.Time
	// recheck: the verify under way re-checks a step that had succeeded;
	// its success changes nothing worth a checkpoint.
	recheck bool

	LastErr  string
	Reason   string // skip or mark-done reason
	Actor    string // who confirmed or marked done
	Notes    []Note
	Checked  map[int]bool
	Commit   string // last checkpoint
	Manual   int    // index of the manual action awaited
	InFlight Status // Dirty: what was in flight when the process died
	Undone   bool   // the step's undo has run at least once
	// MarkedDone: the operator declared the step done (Reason says why);
	// cleared when work on it starts again.
	MarkedDone bool
	// CancelledBy names who cancelled the step's last attempt (empty when
	// it was not cancelled); cleared when work on it starts again. A
	// cancelled step is Failed: it offers retry, verify, undo or mark done.
	CancelledBy string
	// Seq is the journal sequence number of the step's last start (its
	// last forward work): rollback undoes steps in the reverse order.
	Seq uint64
	// Approvals are the step's approvals, in the order journaled;
	// ApprovalAsked is when the step last began to wait for them.
	Approvals     []Approval
	ApprovalAsked time.Time
	// DoHost is the machine of the step's last start (its do); Saved
	// whether the step's save directory held files there when its work
	// last ended (SavedFiles, SavedNone; empty: not known, e.g. the do
	// was cut off). Only records written on DoHost count.
	DoHost string
	Saved  string
}

// Elapsed is the work time of the step as of now.
func (s StepState) Elapsed(now time.Time) time.Duration {
	d := s.Active
	if !s.activeFrom.IsZero() && now.After(s.activeFrom) {
		d += now.Sub(s.activeFrom)
	}
	return d
}

// IllegalError is a transition the machine refuses.
type IllegalError struct {
	From Status
	Kind EventKind
	Why  string
}

func (e *IllegalError) Error() string {
	msg := fmt.Sprintf("cannot %s a step that is %s", verb(e.Kind), e.From)
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}

func verb(k EventKind) string {
	switch k {
	case EvStepStarted:
		return "start"
	case EvStepVerifying:
		return "verify"
	case EvStepAwaiting:
		return "await the operator on"
	case EvStepConfirmed:
		return "confirm"
	case EvStepSucceeded:
		return "succeed"
	case EvStepFailed:
		return "fail"
	case EvStepMarkedDone:
		return "mark done"
	case EvStepSkipped:
		return "skip"
	case EvStepDirty:
		return "mark dirty"
	case EvUndoStarted:
		return "undo"
	case EvUndoFinished:
		return "finish the undo of"
	case EvUndoFailed:
		return "fail the undo of"
	case EvStepCancelled:
		return "cancel"
	}
	return "apply " + k.String() + " to"
}

// allowed[k] is the set of statuses event k may leave from.
var allowed = map[EventKind][]Status{
	EvStepStarted:    {Pending, Failed, Undone, Dirty},
	EvStepVerifying:  {Running, Dirty, Failed, Succeeded},
	EvStepAwaiting:   {Running},
	EvStepConfirmed:  {AwaitingOperator},
	EvStepSucceeded:  {Running, Verifying},
	EvStepFailed:     {Running, Verifying},
	EvStepMarkedDone: {Dirty, Failed, AwaitingOperator},
	EvStepSkipped:    {Pending, Failed, Dirty, AwaitingOperator, Undone},
	EvStepDirty:      {Running, Verifying, Undoing},
	EvUndoStarted:    {Succeeded, Failed, Dirty, AwaitingOperator},
	EvUndoFinished:   {Undoing},
	EvUndoFailed:     {Undoing},
	EvStepCancelled:  {Running, Verifying, Undoing},
}

// Transition is the step state machine: a pure function from a state and an
// event to the next state and the work the event asks for. It refuses
// illegal transitions with an *IllegalError and leaves the state unchanged.
func Transition(s StepState, ev Event) (StepState, []Effect, error) {
	switch ev.Kind {
	case EvNote:
		if strings.TrimSpace(ev.Note) == "" {
			return s, nil, &IllegalError{From: s.Status, Kind: ev.Kind, Why: "a note needs text"}
		}
		s.Notes = append(s.Notes[:len(s.Notes):len(s.Notes)], Note{At: ev.At, By: ev.Actor, Text: ev.Note, Host: ev.Host, Via: ev.Via})
		return s, nil, nil
	case EvChecklistTick:
		m := make(map[int]bool, len(s.Checked)+1)
		for k, v := range s.Checked {
			m[k] = v
		}
		m[ev.Item] = ev.Checked
		s.Checked = m
		return s, nil, nil
	case EvApprovalAsked:
		s.ApprovalAsked = ev.At
		return s, nil, nil
	case EvStepApproved:
		if strings.TrimSpace(ev.Actor) == "" {
			return s, nil, &IllegalError{From: s.Status, Kind: ev.Kind, Why: "an approval names its approver"}
		}
		for _, a := range s.Approvals {
			if a.By == ev.Actor {
				return s, nil, &IllegalError{From: s.Status, Kind: ev.Kind, Why: ev.Actor + " has already approved it"}
			}
		}
		given := ev.Given
		if given.IsZero() {
			given = ev.At
		}
		s.Approvals = append(s.Approvals[:len(s.Approvals):len(s.Approvals)], Approval{By: ev.Actor, Host: ev.Host, At: given, Reason: ev.Reason, Via: ev.Via})
		return s, nil, nil
	case EvCheckpoint:
		if ev.Commit != "" {
			// Empty: the checkpoint had nothing to commit.
			s.Commit = ev.Commit
		}
		return s, nil, nil
	}
	from, ok := allowed[ev.Kind]
	if !ok {
		return s, nil, &IllegalError{From: s.Status, Kind: ev.Kind, Why: "not a step event"}
	}
	legal := false
	for _, f := range from {
		legal = legal || f == s.Status
	}
	if !legal {
		return s, nil, &IllegalError{From: s.Status, Kind: ev.Kind}
	}
	if (ev.Kind == EvStepSkipped || ev.Kind == EvStepMarkedDone) && strings.TrimSpace(ev.Reason) == "" {
		return s, nil, &IllegalError{From: s.Status, Kind: ev.Kind, Why: "a reason is required"}
	}
	if ev.Kind == EvStepCancelled && strings.TrimSpace(ev.Actor) == "" {
		return s, nil, &IllegalError{From: s.Status, Kind: ev.Kind, Why: "who cancelled is required"}
	}

	var eff []Effect
	checkpoint := func() {
		if !ev.NoCheckpoint {
			eff = append(eff, Effect{Kind: EffCheckpoint, Step: ev.Step})
		}
	}
	recheck := s.recheck
	s.recheck = false
	prevAt := s.lastAt
	if ev.At.After(s.lastAt) {
		s.lastAt = ev.At
	}
	if ev.Saved != "" && ev.Host == s.DoHost {
		s.Saved = ev.Saved
	}
	switch ev.Kind {
	case EvStepStarted:
		s.Status = Running
		s.MarkedDone = false
		s.DoHost, s.Saved = ev.Host, ""
		s.Attempts++
		if s.StartedAt.IsZero() {
			s.StartedAt = ev.At
		}
		s.LastErr, s.InFlight, s.CancelledBy = "", 0, ""
		s.startClock(ev.At)
		eff = append(eff, Effect{Kind: EffRunDo, Step: ev.Step})
	case EvStepVerifying:
		s.recheck = s.Status == Succeeded
		s.Status = Verifying
		if s.StartedAt.IsZero() {
			s.StartedAt = ev.At
		}
		s.LastErr, s.InFlight, s.CancelledBy = "", 0, ""
		s.startClock(ev.At)
		eff = append(eff, Effect{Kind: EffRunVerify, Step: ev.Step})
	case EvStepAwaiting:
		s.Status = AwaitingOperator
		s.Manual = ev.Action
	case EvStepConfirmed:
		s.Status = Running
		s.Actor = ev.Actor
		eff = append(eff, Effect{Kind: EffRunDo, Step: ev.Step, From: s.Manual + 1, Confirmed: true})
	case EvStepSucceeded:
		s.Status = Succeeded
		s.stopClock(ev.At)
		s.FinishedAt = ev.At
		if !recheck {
			checkpoint()
		}
	case EvStepFailed:
		s.Status = Failed
		s.LastErr = ev.Err
		s.stopClock(ev.At)
		s.FinishedAt = ev.At
	case EvStepMarkedDone:
		s.Status = Succeeded
		s.MarkedDone = true
		s.Reason, s.Actor = ev.Reason, ev.Actor
		s.stopClock(ev.At)
		s.FinishedAt = ev.At
		s.InFlight = 0
		checkpoint()
	case EvStepSkipped:
		s.Status = Skipped
		s.Reason, s.Actor = ev.Reason, ev.Actor
		s.stopClock(ev.At)
		s.FinishedAt = ev.At
		s.InFlight = 0
		checkpoint()
	case EvStepDirty:
		s.InFlight = s.Status
		s.Status = Dirty
		// The moment of the crash is unknown: the clock stops at the
		// work's last sign of life (its log's last write, Until) when the
		// record says so, else at the last journaled moment; never at the
		// reopen.
		stop := prevAt
		if ev.Until.After(stop) && !ev.Until.After(ev.At) {
			stop = ev.Until
		}
		s.stopClock(stop)
		s.lastAt = stop
	case EvUndoStarted:
		s.Status = Undoing
		s.MarkedDone = false
		s.LastErr, s.InFlight, s.CancelledBy = "", 0, ""
		s.stopClock(ev.At)
		eff = append(eff, Effect{Kind: EffRunUndo, Step: ev.Step})
	case EvUndoFinished:
		s.Status = Undone
		s.Undone = true
		s.FinishedAt = ev.At
		checkpoint()
	case EvUndoFailed:
		s.Status = Failed
		s.LastErr = "undo: " + ev.Err
		s.FinishedAt = ev.At
	case EvStepCancelled:
		// The attempt ends here and its time counts; what the cut-off
		// action left behind is for the operator to find out (verify) or
		// decide (retry, undo, mark done), as for a dirty step.
		what := "cancelled by " + ev.Actor
		if s.Status == Undoing {
			what = "undo " + what
		}
		if ev.Err != "" {
			what += ": " + ev.Err
		}
		s.Status = Failed
		s.LastErr = what
		s.CancelledBy = ev.Actor
		s.stopClock(ev.At)
		s.FinishedAt = ev.At
	}
	return s, eff, nil
}

func (s *StepState) startClock(at time.Time) {
	if s.activeFrom.IsZero() {
		s.activeFrom = at
	}
}

func (s *StepState) stopClock(at time.Time) {
	if !s.activeFrom.IsZero() {
		if at.After(s.activeFrom) {
			s.Active += at.Sub(s.activeFrom)
		}
		s.activeFrom = time.Time{}
	}
}
