package steps

import (
	"fmt"
	"time"
)

// Run is the state of one run: the fold of its journal.
type Run struct {
	Runbook    string
	Digest     string
	StartedAt  time.Time
	Finished   bool
	FinishedAt time.Time
	Operator   string
	Host       string
	Rehearsal  bool
	Date       string // the day the run was planned on
	Resumes    int
	LastSeq    uint64
	LastAt     time.Time
	Steps      map[string]*StepState
	// LastCommit is the run's last checkpoint commit and LastCommitStep
	// the step it was made for (checkpoints that committed nothing do
	// not count): where a reopened run's workspace must be.
	LastCommit, LastCommitStep string
	// Share is how the run stands with the shared store, set by
	// Session.Snapshot (zero: local only, or not a snapshot).
	Share ShareStatus
	// owed: steps whose checkpoint a record asked for and no checkpoint
	// record has paid yet, in the order asked.
	owed []string

	// NoteRef is the store number of the last follower note journaled.
	NoteRef uint64
}

// Owed lists the steps whose checkpoint is owed, in the order asked for.
func (r *Run) Owed() []string { return append([]string(nil), r.owed...) }

func (r *Run) owe(step string, eff []Effect) {
	for _, e := range eff {
		if e.Kind != EffCheckpoint {
			continue
		}
		for _, id := range r.owed {
			if id == step {
				return
			}
		}
		r.owed = append(r.owed, step)
	}
}

func (r *Run) paid(step string) {
	for i, id := range r.owed {
		if id == step {
			// In place: Owed and Clone hand out copies, never this.
			r.owed = append(r.owed[:i], r.owed[i+1:]...)
			return
		}
	}
}

// NewRun is an empty run (no journal yet).
func NewRun() *Run { return &Run{Steps: map[string]*StepState{}} }

// Step returns the state of a step (Pending when the journal never named it).
func (r *Run) Step(id string) StepState {
	if s, ok := r.Steps[id]; ok {
		st := *s
		st.Notes = st.Notes[:len(st.Notes):len(st.Notes)] // see Apply
		return st
	}
	return StepState{}
}

// Apply folds one event into the run. Step transitions go through the pure
// Transition; an illegal one leaves the run unchanged and returns its error.
func (r *Run) Apply(ev Event) ([]Effect, error) {
	var p prepared
	if err := r.prepare(ev, &p); err != nil {
		return nil, err
	}
	r.commit(&p)
	return p.eff, nil
}

// prepared is what folding one event does, computed and not yet applied.
// A value, not a closure: folding a journal prepares once per record, and
// a closure would carry the event and the step's state to the heap.
type prepared struct {
	ev    Event
	cur   *StepState // the step's state in the run; nil: not yet there
	next  StepState
	notes []Note // the step's notes before an EvNote
	eff   []Effect
}

// prepare checks ev against the run and computes what folding it does,
// without changing the run: commit applies it. The session prepares before
// it writes the record and commits after, so Transition runs once per
// record and an illegal event never reaches the journal.
func (r *Run) prepare(ev Event, p *prepared) error {
	p.ev = ev
	switch ev.Kind {
	case EvRunStarted:
		if !r.StartedAt.IsZero() {
			return fmt.Errorf("run already started at %s", r.StartedAt.Format(time.RFC3339))
		}
		return nil
	case EvRunResumed, EvRunFinished:
		return nil
	}
	if ev.Step == "" {
		return fmt.Errorf("%s event without a step", ev.Kind)
	}
	var s StepState
	if p.cur = r.Steps[ev.Step]; p.cur != nil {
		s = *p.cur
	}
	// Transition copies the notes to stay pure, which makes a step with
	// n notes fold in O(n²). The run owns its states: let Transition
	// see no old notes and append the new one in commit, in place. Clone
	// clips what it hands out, so no snapshot shares the spare room.
	p.notes = s.Notes
	if ev.Kind == EvNote {
		s.Notes = nil
	}
	next, eff, err := Transition(s, ev)
	if err != nil {
		return fmt.Errorf("step %s: %w", ev.Step, err)
	}
	p.next, p.eff = next, eff
	return nil
}

// commit applies what prepare computed.
func (r *Run) commit(p *prepared) {
	ev := p.ev
	switch ev.Kind {
	case EvRunStarted:
		r.Runbook, r.Digest, r.StartedAt = ev.Runbook, ev.Digest, ev.At
		r.Operator, r.Host, r.Rehearsal, r.Date = ev.Actor, ev.Host, ev.Rehearsal, ev.Date
		r.track(ev)
		return
	case EvRunResumed:
		r.Resumes++
		r.Operator, r.Host = ev.Actor, ev.Host
		if ev.Digest != "" {
			r.Digest = ev.Digest
		}
		r.track(ev)
		return
	case EvRunFinished:
		r.Finished, r.FinishedAt = true, ev.At
		r.track(ev)
		return
	}
	next := &p.next
	if ev.Kind == EvNote {
		next.Notes = append(p.notes, next.Notes...)
	}
	cur := p.cur // nothing folds between prepare and commit
	if cur == nil {
		cur = new(StepState)
		r.Steps[ev.Step] = cur
	}
	if ev.Kind == EvStepStarted {
		// Rollback undoes in the reverse order of forward work;
		// re-verifying, marking done or noting does not move a step.
		next.Seq = ev.Seq
	}
	*cur = *next
	if ev.Kind == EvNote && ev.Ref > r.NoteRef {
		r.NoteRef = ev.Ref
	}
	r.owe(ev.Step, p.eff)
	if ev.Kind == EvCheckpoint {
		r.paid(ev.Step)
		if ev.Commit != "" {
			r.LastCommit, r.LastCommitStep = ev.Commit, ev.Step
		}
	}
	if ev.Kind != EvNote && ev.Kind != EvChecklistTick && ev.Kind != EvCheckpoint && r.Finished {
		// Work after the end (an undo, a retry) reopens the run.
		r.Finished = false
	}
	r.track(ev)
}

func (r *Run) track(ev Event) {
	r.LastSeq = ev.Seq
	if ev.At.After(r.LastAt) {
		r.LastAt = ev.At
	}
}

// Fold replays events into a fresh run.
func Fold(events []Event) (*Run, error) {
	r := NewRun()
	for _, ev := range events {
		if _, err := r.Apply(ev); err != nil {
			return r, fmt.Errorf("journal record %d (%s): %w", ev.Seq, ev.Kind, err)
		}
	}
	return r, nil
}

// InFlight lists steps whose work was started and not ended, in id order
// of the given list.
func (r *Run) InFlight(order []string) []string {
	var out []string
	for _, id := range order {
		if s, ok := r.Steps[id]; ok && s.Status.Busy() {
			out = append(out, id)
		}
	}
	return out
}
