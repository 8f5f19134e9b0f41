package steps

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)

// legal is the transition table written out by hand: for each step event,
// the statuses it may leave from and the status it leads to. Every pair not
// listed must be refused.
var legal = map[EventKind]map[Status]Status{
	EvStepStarted:    {Pending: Running, Failed: Running, Undone: Running, Dirty: Running},
	EvStepVerifying:  {Running: Verifying, Dirty: Verifying, Failed: Verifying, Succeeded: Verifying},
	EvStepAwaiting:   {Running: AwaitingOperator},
	EvStepConfirmed:  {AwaitingOperator: Running},
	EvStepSucceeded:  {Running: Succeeded, Verifying: Succeeded},
	EvStepFailed:     {Running: Failed, Verifying: Failed},
	EvStepMarkedDone: {Dirty: Succeeded, Failed: Succeeded, AwaitingOperator: Succeeded},
	EvStepSkipped:    {Pending: Skipped, Failed: Skipped, Dirty: Skipped, AwaitingOperator: Skipped, Undone: Skipped},
	EvStepDirty:      {Running: Dirty, Verifying: Dirty, Undoing: Dirty},
	EvUndoStarted:    {Succeeded: Undoing, Failed: Undoing, Dirty: Undoing, AwaitingOperator: Undoing},
	EvUndoFinished:   {Undoing: Undone},
	EvUndoFailed:     {Undoing: Failed},
	// A cancel ends the attempt as Failed: the step then offers retry,
	// verify, undo or mark done (see TestChoicesAfterCancel).
	EvStepCancelled: {Running: Failed, Verifying: Failed, Undoing: Failed},
}

// effectsOf is the work each legal step event asks of the driver.
var effectsOf = map[EventKind][]Effect{
	EvStepStarted:    {{Kind: EffRunDo, Step: "s1"}},
	EvStepVerifying:  {{Kind: EffRunVerify, Step: "s1"}},
	EvStepConfirmed:  {{Kind: EffRunDo, Step: "s1", From: 3, Confirmed: true}}, // the awaited manual action is #2
	EvStepSucceeded:  {{Kind: EffCheckpoint, Step: "s1"}},
	EvStepMarkedDone: {{Kind: EffCheckpoint, Step: "s1"}},
	EvStepSkipped:    {{Kind: EffCheckpoint, Step: "s1"}},
	EvUndoStarted:    {{Kind: EffRunUndo, Step: "s1"}},
	EvUndoFinished:   {{Kind: EffCheckpoint, Step: "s1"}},
}

// statusOnlyKinds change a step's record but never its status.
var statusOnlyKinds = map[EventKind]bool{EvNote: true, EvChecklistTick: true, EvCheckpoint: true, EvApprovalAsked: true, EvStepApproved: true}

// runKinds are not step events at all.
var runKinds = map[EventKind]bool{EvRunStarted: true, EvRunResumed: true, EvRunFinished: true}

// stateIn builds a plausible state in status st, with the fields a real
// history would have set, so that a transition has something to keep or
// clear.
func stateIn(st Status) StepState {
	s := StepState{
		Status:   st,
		Attempts: 1,
		Manual:   2,
		Notes:    []Note{{At: t0, By: "ana", Text: "first"}},
		Checked:  map[int]bool{0: true},
		Commit:   "c0ffee",
	}
	if st != Pending {
		s.StartedAt = t0
		s.lastAt = t0
	}
	switch st {
	case Running, Verifying, AwaitingOperator:
		s.activeFrom = t0
	case Failed:
		s.LastErr = "boom"
		s.FinishedAt = t0.Add(time.Minute)
	case Dirty:
		s.InFlight = Running
	case Undone:
		s.Undone = true
	}
	return s
}

func eventFor(k EventKind, at time.Time) Event {
	return Event{Kind: k, Step: "s1", At: at, Attempt: 2, Action: 4, Item: 1, Checked: true,
		Actor: "ben", Reason: "done by hand", Note: "a note", Err: "exit 1", Commit: "abc123"}
}

func TestTransitionTableIsExhaustive(t *testing.T) {
	// Guard the table itself: a new status or event kind must be placed in
	// it before this test can pass.
	for k := range legal {
		if statusOnlyKinds[k] || runKinds[k] {
			t.Fatalf("%s is in more than one class", k)
		}
	}
	for _, k := range EventKinds() {
		n := 0
		for _, in := range []bool{legal[k] != nil, statusOnlyKinds[k], runKinds[k]} {
			if in {
				n++
			}
		}
		if n != 1 {
			t.Errorf("event kind %s is in %d classes of this test; place it in exactly one", k, n)
		}
	}
	if got := len(Statuses()); got != 10 {
		t.Errorf("%d statuses; the table covers 10: extend it", got)
	}
}

func TestTransitionEveryPair(t *testing.T) {
	at := t0.Add(10 * time.Minute)
	for _, k := range append([]EventKind{EvInvalid}, EventKinds()...) {
		for _, from := range Statuses() {
			t.Run(k.String()+"/from "+from.String(), func(t *testing.T) {
				in := stateIn(from)
				before := deepCopy(in)
				ev := eventFor(k, at)
				next, eff, err := Transition(in, ev)
				if !reflect.DeepEqual(in, before) {
					t.Fatalf("Transition changed its input:\n got %+v\nwant %+v", in, before)
				}
				want, ok := legal[k][from]
				switch {
				case statusOnlyKinds[k]:
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if next.Status != from || len(eff) != 0 {
						t.Fatalf("status %s → %s, effects %v; want status kept and no effects", from, next.Status, eff)
					}
				case ok:
					if err != nil {
						t.Fatalf("legal transition refused: %v", err)
					}
					if next.Status != want {
						t.Fatalf("status %s → %s; want %s", from, next.Status, want)
					}
					if !reflect.DeepEqual(eff, effectsOf[k]) {
						t.Fatalf("effects %+v; want %+v", eff, effectsOf[k])
					}
				default:
					var ie *IllegalError
					if !errors.As(err, &ie) {
						t.Fatalf("illegal transition allowed (→ %s) or wrong error: %v", next.Status, err)
					}
					if ie.From != from || ie.Kind != k {
						t.Fatalf("IllegalError names %s/%s; want %s/%s", ie.From, ie.Kind, from, k)
					}
					if !reflect.DeepEqual(next, before) || eff != nil {
						t.Fatalf("refused transition changed the state or asked for work: %+v %v", next, eff)
					}
					if !strings.Contains(err.Error(), from.String()) {
						t.Fatalf("message %q does not name the status", err)
					}
				}
			})
		}
	}
}

// deepCopy copies a state so that later mutation through shared slices or
// maps would show up in a comparison.
func deepCopy(s StepState) StepState {
	c := s
	c.Notes = append([]Note(nil), s.Notes...)
	if s.Checked != nil {
		c.Checked = map[int]bool{}
		for k, v := range s.Checked {
			c.Checked[k] = v
		}
	}
	return c
}

func TestTransitionFields(t *testing.T) {
	at := t0.Add(10 * time.Minute)
	tests := []struct {
		name  string
		from  Status
		ev    Event
		check func(t *testing.T, s StepState)
	}{
		{"start counts the attempt and keeps the first start", Failed, Event{Kind: EvStepStarted, At: at}, func(t *testing.T, s StepState) {
			if s.Attempts != 2 || !s.StartedAt.Equal(t0) || s.LastErr != "" {
				t.Errorf("attempts %d, started %v, last error %q", s.Attempts, s.StartedAt, s.LastErr)
			}
		}},
		{"first start sets StartedAt", Pending, Event{Kind: EvStepStarted, At: at}, func(t *testing.T, s StepState) {
			if !s.StartedAt.Equal(at) || s.Attempts != 2 {
				t.Errorf("started %v attempts %d", s.StartedAt, s.Attempts)
			}
		}},
		{"retry of a dirty step clears what was in flight", Dirty, Event{Kind: EvStepStarted, At: at}, func(t *testing.T, s StepState) {
			if s.InFlight != 0 {
				t.Errorf("in flight %s", s.InFlight)
			}
		}},
		{"awaiting remembers the manual action", Running, Event{Kind: EvStepAwaiting, At: at, Action: 5}, func(t *testing.T, s StepState) {
			if s.Manual != 5 {
				t.Errorf("manual %d", s.Manual)
			}
		}},
		{"confirm records who", AwaitingOperator, Event{Kind: EvStepConfirmed, At: at, Actor: "ana"}, func(t *testing.T, s StepState) {
			if s.Actor != "ana" {
				t.Errorf("actor %q", s.Actor)
			}
		}},
		{"failure keeps the error and the end", Running, Event{Kind: EvStepFailed, At: at, Err: "exit 2"}, func(t *testing.T, s StepState) {
			if s.LastErr != "exit 2" || !s.FinishedAt.Equal(at) {
				t.Errorf("error %q finished %v", s.LastErr, s.FinishedAt)
			}
		}},
		{"success ends the step", Verifying, Event{Kind: EvStepSucceeded, At: at}, func(t *testing.T, s StepState) {
			if !s.FinishedAt.Equal(at) {
				t.Errorf("finished %v", s.FinishedAt)
			}
		}},
		{"mark done records reason and actor", Dirty, Event{Kind: EvStepMarkedDone, At: at, Reason: "checked by hand", Actor: "ana"}, func(t *testing.T, s StepState) {
			if s.Reason != "checked by hand" || s.Actor != "ana" || s.InFlight != 0 {
				t.Errorf("reason %q actor %q in flight %s", s.Reason, s.Actor, s.InFlight)
			}
		}},
		{"skip records reason and actor", Pending, Event{Kind: EvStepSkipped, At: at, Reason: "not on staging", Actor: "ben"}, func(t *testing.T, s StepState) {
			if s.Reason != "not on staging" || s.Actor != "ben" || !s.FinishedAt.Equal(at) {
				t.Errorf("reason %q actor %q finished %v", s.Reason, s.Actor, s.FinishedAt)
			}
		}},
		{"dirty remembers what was in flight", Verifying, Event{Kind: EvStepDirty, At: at}, func(t *testing.T, s StepState) {
			if s.InFlight != Verifying {
				t.Errorf("in flight %s", s.InFlight)
			}
		}},
		{"undo finished marks the step undone once and for all", Undoing, Event{Kind: EvUndoFinished, At: at}, func(t *testing.T, s StepState) {
			if !s.Undone || !s.FinishedAt.Equal(at) {
				t.Errorf("undone %v finished %v", s.Undone, s.FinishedAt)
			}
		}},
		{"undo failure says it was the undo", Undoing, Event{Kind: EvUndoFailed, At: at, Err: "exit 3"}, func(t *testing.T, s StepState) {
			if s.LastErr != "undo: exit 3" {
				t.Errorf("error %q", s.LastErr)
			}
		}},
		{"undo clears the last error", Failed, Event{Kind: EvUndoStarted, At: at}, func(t *testing.T, s StepState) {
			if s.LastErr != "" {
				t.Errorf("error %q", s.LastErr)
			}
		}},
		{"a note is appended with author and time", Succeeded, Event{Kind: EvNote, At: at, Actor: "ana", Note: "slow disk"}, func(t *testing.T, s StepState) {
			want := []Note{{At: t0, By: "ana", Text: "first"}, {At: at, By: "ana", Text: "slow disk"}}
			if !reflect.DeepEqual(s.Notes, want) {
				t.Errorf("notes %+v", s.Notes)
			}
		}},
		{"a tick sets and unsets items", AwaitingOperator, Event{Kind: EvChecklistTick, At: at, Item: 0, Checked: false}, func(t *testing.T, s StepState) {
			if s.Checked[0] {
				t.Errorf("item 0 still ticked: %v", s.Checked)
			}
		}},
		{"a cancel fails the attempt, names who, and counts its time", Running, Event{Kind: EvStepCancelled, At: at, Actor: "ana", Err: "do 1 (shell): context canceled"}, func(t *testing.T, s StepState) {
			if s.CancelledBy != "ana" || s.LastErr != "cancelled by ana: do 1 (shell): context canceled" || !s.FinishedAt.Equal(at) {
				t.Errorf("cancelled by %q, error %q, finished %v", s.CancelledBy, s.LastErr, s.FinishedAt)
			}
			if got := s.Elapsed(at.Add(time.Hour)); got != 10*time.Minute {
				t.Errorf("elapsed %s; want the 10m of the cancelled attempt", got)
			}
		}},
		{"a cancelled undo says it was the undo", Undoing, Event{Kind: EvStepCancelled, At: at, Actor: "ben"}, func(t *testing.T, s StepState) {
			if s.LastErr != "undo cancelled by ben" {
				t.Errorf("error %q", s.LastErr)
			}
		}},
		{"a retry forgets the cancel", Failed, Event{Kind: EvStepStarted, At: at}, func(t *testing.T, s StepState) {
			if s.CancelledBy != "" {
				t.Errorf("cancelled by %q", s.CancelledBy)
			}
		}},
		{"a checkpoint records the commit", Succeeded, Event{Kind: EvCheckpoint, At: at, Commit: "deadbeef"}, func(t *testing.T, s StepState) {
			if s.Commit != "deadbeef" {
				t.Errorf("commit %q", s.Commit)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			ev.Step = "s1"
			s, _, err := Transition(stateIn(tt.from), ev)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestCancelNeedsWho(t *testing.T) {
	_, _, err := Transition(stateIn(Running), Event{Kind: EvStepCancelled, Step: "s1", At: t0})
	var ie *IllegalError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "who cancelled") {
		t.Fatalf("err %v", err)
	}
}

func TestChoicesAfterCancel(t *testing.T) {
	s := apply(t, StepState{}, Event{Kind: EvStepStarted, Step: "s1", At: t0},
		Event{Kind: EvStepCancelled, Step: "s1", At: t0.Add(time.Minute), Actor: "ana"})
	eq(t, "choices", Choices(s, true, true), []Op{OpStart, OpVerify, OpUndo, OpMarkDone, OpSkip})
	eq(t, "words", OpsText(Choices(s, true, true), s.Status), "retry, verify, undo, mark done or skip")
	eq(t, "without verify and undo", Choices(s, false, false), []Op{OpStart, OpMarkDone, OpSkip})
	eq(t, "pending", OpsText(Choices(StepState{}, true, true), Pending), "start or skip")
	eq(t, "running", Choices(stateIn(Running), true, true), []Op(nil))
}

func TestReasonRequired(t *testing.T) {
	for _, k := range []EventKind{EvStepSkipped, EvStepMarkedDone} {
		for from := range legal[k] {
			for _, reason := range []string{"", "   ", "\t\n"} {
				s := stateIn(from)
				next, eff, err := Transition(s, Event{Kind: k, Step: "s1", At: t0, Reason: reason})
				var ie *IllegalError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), "a reason is required") {
					t.Errorf("%s from %s with reason %q: err %v; want a reason is required", k, from, reason, err)
				}
				if next.Status != from || eff != nil {
					t.Errorf("%s from %s without reason changed status to %s", k, from, next.Status)
				}
			}
		}
	}
}

func TestNoteNeedsText(t *testing.T) {
	s := stateIn(Running)
	next, _, err := Transition(s, Event{Kind: EvNote, Step: "s1", At: t0, Note: "  "})
	if err == nil || !strings.Contains(err.Error(), "a note needs text") {
		t.Fatalf("empty note: %v", err)
	}
	if len(next.Notes) != 1 {
		t.Fatalf("empty note recorded: %+v", next.Notes)
	}
}

func TestTransitionDoesNotShareSlicesOrMaps(t *testing.T) {
	s := stateIn(Running)
	s.Notes = make([]Note, 1, 8) // spare capacity an in-place append would use
	s.Notes[0] = Note{Text: "first"}
	a, _, err := Transition(s, Event{Kind: EvNote, Step: "s1", At: t0, Note: "from a"})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Transition(s, Event{Kind: EvNote, Step: "s1", At: t0, Note: "from b"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Notes[1].Text != "from a" || b.Notes[1].Text != "from b" {
		t.Fatalf("two successors of one state share notes: %q, %q", a.Notes[1].Text, b.Notes[1].Text)
	}
	c, _, err := Transition(s, Event{Kind: EvChecklistTick, Step: "s1", Item: 7, Checked: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Checked[7] || !c.Checked[7] {
		t.Fatalf("tick wrote through to the input map: in %v out %v", s.Checked, c.Checked)
	}
}

func TestNotStepEvents(t *testing.T) {
	for _, k := range []EventKind{EvInvalid, EvRunStarted, EvRunResumed, EvRunFinished, EventKind(200)} {
		_, _, err := Transition(StepState{}, Event{Kind: k, Step: "s1"})
		if err == nil || !strings.Contains(err.Error(), "not a step event") {
			t.Errorf("%s: %v", k, err)
		}
	}
}

// apply runs events through Transition, failing the test on a refusal.
func apply(t *testing.T, s StepState, evs ...Event) StepState {
	t.Helper()
	for _, ev := range evs {
		ev.Step = "s1"
		var err error
		if s, _, err = Transition(s, ev); err != nil {
			t.Fatalf("%s at %s: %v", ev.Kind, ev.At.Format("15:04"), err)
		}
	}
	return s
}

func TestElapsed(t *testing.T) {
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	t.Run("running counts up to now", func(t *testing.T) {
		s := apply(t, StepState{}, Event{Kind: EvStepStarted, At: m(0)})
		if got := s.Elapsed(m(7)); got != 7*time.Minute {
			t.Fatalf("elapsed %s", got)
		}
		if got := s.Elapsed(m(-1)); got != 0 {
			t.Fatalf("elapsed before the start %s", got)
		}
	})
	t.Run("waiting for the operator is work time", func(t *testing.T) {
		s := apply(t, StepState{},
			Event{Kind: EvStepStarted, At: m(0)},
			Event{Kind: EvStepAwaiting, At: m(1)},
			Event{Kind: EvStepConfirmed, At: m(4), Actor: "ana"},
			Event{Kind: EvStepVerifying, At: m(5)},
			Event{Kind: EvStepSucceeded, At: m(6)})
		if got := s.Elapsed(m(60)); got != 6*time.Minute {
			t.Fatalf("elapsed %s", got)
		}
	})
	t.Run("attempts add up, pauses between them do not", func(t *testing.T) {
		s := apply(t, StepState{},
			Event{Kind: EvStepStarted, At: m(0)},
			Event{Kind: EvStepFailed, At: m(3), Err: "x"},
			Event{Kind: EvStepStarted, At: m(10)},
			Event{Kind: EvStepSucceeded, At: m(12)})
		if got := s.Elapsed(m(60)); got != 5*time.Minute {
			t.Fatalf("elapsed %s", got)
		}
		if s.Attempts != 2 {
			t.Fatalf("attempts %d", s.Attempts)
		}
	})
	t.Run("a dirty step's clock stops at its last journaled moment", func(t *testing.T) {
		s := apply(t, StepState{},
			Event{Kind: EvStepStarted, At: m(0)},
			Event{Kind: EvStepAwaiting, At: m(1)},
			Event{Kind: EvStepConfirmed, At: m(25), Actor: "ana"},
			Event{Kind: EvStepDirty, At: m(180)}) // reopened hours later
		if got := s.Elapsed(m(200)); got != 25*time.Minute {
			t.Fatalf("elapsed %s; want the 25 minutes the journal knows of", got)
		}
		s = apply(t, s, Event{Kind: EvStepStarted, At: m(200)}, Event{Kind: EvStepSucceeded, At: m(210)})
		if got := s.Elapsed(m(300)); got != 35*time.Minute {
			t.Fatalf("elapsed after retry %s", got)
		}
	})
	t.Run("a killed attempt counts until its log's last write, and keeps it after a retry", func(t *testing.T) {
		s := apply(t, StepState{},
			Event{Kind: EvStepStarted, At: m(0)},
			Event{Kind: EvStepDirty, At: m(180), Until: m(40)}) // the log was written until m(40)
		if got := s.Elapsed(m(200)); got != 40*time.Minute {
			t.Fatalf("elapsed %s; want the 40 minutes the log shows work", got)
		}
		s = apply(t, s, Event{Kind: EvStepStarted, At: m(200)}, Event{Kind: EvStepSucceeded, At: m(210)})
		if got := s.Elapsed(m(300)); got != 50*time.Minute {
			t.Fatalf("elapsed after retry %s; want 40m killed + 10m retried", got)
		}
		// A log written before the attempt's last record, or after the
		// reopen, says nothing of this attempt.
		for _, until := range []time.Time{m(-5), m(181)} {
			s := apply(t, StepState{},
				Event{Kind: EvStepStarted, At: m(0)},
				Event{Kind: EvStepVerifying, At: m(1)},
				Event{Kind: EvStepDirty, At: m(180), Until: until})
			if got := s.Elapsed(m(200)); got != time.Minute {
				t.Fatalf("until %v: elapsed %s; want the minute the journal knows of", until, got)
			}
		}
	})
	t.Run("mark done of a waiting step stops the clock", func(t *testing.T) {
		s := apply(t, StepState{},
			Event{Kind: EvStepStarted, At: m(0)},
			Event{Kind: EvStepAwaiting, At: m(0)},
			Event{Kind: EvStepMarkedDone, At: m(9), Reason: "done by hand"})
		if got := s.Elapsed(m(60)); got != 9*time.Minute {
			t.Fatalf("elapsed %s", got)
		}
	})
}

func TestRunApply(t *testing.T) {
	r := NewRun()
	mustApply := func(ev Event) []Effect {
		t.Helper()
		eff, err := r.Apply(ev)
		if err != nil {
			t.Fatalf("%s: %v", ev.Kind, err)
		}
		return eff
	}
	mustApply(Event{Seq: 1, Kind: EvRunStarted, At: t0, Runbook: "rb", Digest: "d1", Actor: "ana", Host: "h1", Rehearsal: true})
	if r.Runbook != "rb" || r.Digest != "d1" || r.Operator != "ana" || r.Host != "h1" || !r.Rehearsal || !r.StartedAt.Equal(t0) {
		t.Fatalf("run started: %+v", r)
	}
	if _, err := r.Apply(Event{Seq: 2, Kind: EvRunStarted, At: t0}); err == nil {
		t.Fatal("second run.started accepted")
	}
	if eff := mustApply(Event{Seq: 2, Kind: EvStepStarted, Step: "a", At: t0}); len(eff) != 1 || eff[0].Kind != EffRunDo {
		t.Fatalf("effects %v", eff)
	}
	if _, err := r.Apply(Event{Seq: 3, Kind: EvStepConfirmed, Step: "a", At: t0}); err == nil || !strings.Contains(err.Error(), "step a") {
		t.Fatalf("illegal event: %v", err)
	}
	if r.Step("a").Status != Running || r.LastSeq != 2 {
		t.Fatalf("refused event changed the run: %s seq %d", r.Step("a").Status, r.LastSeq)
	}
	if _, err := r.Apply(Event{Seq: 3, Kind: EvNote, Note: "x"}); err == nil {
		t.Fatal("step event without a step accepted")
	}
	mustApply(Event{Seq: 3, Kind: EvStepSucceeded, Step: "a", At: t0.Add(time.Minute)})
	mustApply(Event{Seq: 4, Kind: EvRunFinished, At: t0.Add(2 * time.Minute)})
	if !r.Finished {
		t.Fatal("not finished")
	}
	mustApply(Event{Seq: 5, Kind: EvNote, Step: "a", Note: "after the end", At: t0.Add(3 * time.Minute)})
	if !r.Finished {
		t.Fatal("a note reopened the run")
	}
	mustApply(Event{Seq: 6, Kind: EvUndoStarted, Step: "a", At: t0.Add(time.Minute)}) // clock went back
	if r.Finished {
		t.Fatal("an undo after the end left the run finished")
	}
	if r.LastSeq != 6 || !r.LastAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("last seq %d at %v", r.LastSeq, r.LastAt)
	}
	mustApply(Event{Seq: 7, Kind: EvRunResumed, At: t0, Actor: "ben", Host: "h2", Digest: "d2"})
	if r.Resumes != 1 || r.Operator != "ben" || r.Host != "h2" || r.Digest != "d2" {
		t.Fatalf("resumed: %+v", r)
	}
	if got := r.InFlight([]string{"b", "a"}); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("in flight %v", got)
	}
	if r.Step("never").Status != Pending {
		t.Fatal("unknown step not pending")
	}
}

func TestFoldNamesTheRecord(t *testing.T) {
	_, err := Fold([]Event{
		{Seq: 1, Kind: EvRunStarted, At: t0},
		{Seq: 2, Kind: EvStepSucceeded, Step: "a", At: t0},
	})
	if err == nil || !strings.Contains(err.Error(), "journal record 2 (step.succeeded)") {
		t.Fatalf("err %v", err)
	}
}

func TestCloneIsDeep(t *testing.T) {
	r := NewRun()
	if _, err := r.Apply(Event{Seq: 1, Kind: EvStepStarted, Step: "a", At: t0}); err != nil {
		t.Fatal(err)
	}
	c := r.Clone()
	if _, err := r.Apply(Event{Seq: 2, Kind: EvStepFailed, Step: "a", At: t0, Err: "x"}); err != nil {
		t.Fatal(err)
	}
	if c.Step("a").Status != Running {
		t.Fatalf("clone followed the original: %s", c.Step("a").Status)
	}
}

func TestStringers(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Statuses() {
		name := s.String()
		if name == "" || strings.HasPrefix(name, "Status(") || seen[name] {
			t.Errorf("status %d has name %q", s, name)
		}
		seen[name] = true
		if b, _ := s.MarshalText(); string(b) != name {
			t.Errorf("MarshalText %q", b)
		}
	}
	if Status(99).String() != "Status(99)" {
		t.Error(Status(99).String())
	}
	for _, k := range EventKinds() {
		back, ok := parseEventKind(k.String())
		if !ok || back != k {
			t.Errorf("event kind %s does not parse back", k)
		}
	}
	if _, ok := parseEventKind("invalid"); ok {
		t.Error("the invalid kind parses")
	}
	for _, e := range []EffectKind{EffRunDo, EffRunVerify, EffRunUndo, EffCheckpoint} {
		if strings.HasPrefix(e.String(), "EffectKind(") {
			t.Errorf("effect %d unnamed", e)
		}
	}
	if !Running.Busy() || !Verifying.Busy() || !Undoing.Busy() || AwaitingOperator.Busy() || Dirty.Busy() {
		t.Error("Busy")
	}
	if !Succeeded.Done() || !Skipped.Done() || Undone.Done() || Failed.Done() {
		t.Error("Done")
	}
}

func TestRunNotesAreNotShared(t *testing.T) {
	r := NewRun()
	add := func(seq uint64, text string) {
		t.Helper()
		if _, err := r.Apply(Event{Seq: seq, Kind: EvNote, Step: "a", At: t0, Note: text}); err != nil {
			t.Fatal(err)
		}
	}
	add(1, "one")
	add(2, "two")
	add(3, "three") // the run's slice now has spare room
	if st := r.Steps["a"]; cap(st.Notes) == len(st.Notes) {
		t.Fatalf("no spare room to test with: len %d cap %d", len(st.Notes), cap(st.Notes))
	}
	snap := r.Clone()
	got := r.Step("a")
	// Whatever a reader appends to its copy never lands in the run.
	_ = append(snap.Steps["a"].Notes, Note{Text: "snapshot's"})
	_ = append(got.Notes, Note{Text: "copy's"})
	add(4, "four") // in place, into the run's spare room
	_ = append(snap.Steps["a"].Notes, Note{Text: "snapshot's"})
	_ = append(got.Notes, Note{Text: "copy's"})
	if len(snap.Step("a").Notes) != 3 || len(got.Notes) != 3 {
		t.Fatal("a snapshot saw a later note")
	}
	var texts []string
	for _, n := range r.Step("a").Notes {
		texts = append(texts, n.Text)
	}
	if strings.Join(texts, ",") != "one,two,three,four" {
		t.Fatalf("notes %v", texts)
	}
	if _, err := r.Apply(Event{Seq: 5, Kind: EvNote, Step: "a", At: t0, Note: " "}); err == nil {
		t.Fatal("empty note folded")
	}
	if len(r.Step("a").Notes) != 4 {
		t.Fatal("refused note changed the run")
	}
}

func TestMarkedDoneIsRememberedUntilWorkStartsAgain(t *testing.T) {
	s, _, err := Transition(StepState{Status: Failed}, Event{Kind: EvStepMarkedDone, Reason: "done by hand", At: t0})
	if err != nil || !s.MarkedDone || s.Status != Succeeded {
		t.Fatalf("mark done: %+v %v", s, err)
	}
	s, _, _ = Transition(s, Event{Kind: EvUndoStarted, At: t0})
	s, _, _ = Transition(s, Event{Kind: EvUndoFinished, At: t0})
	s, _, err = Transition(s, Event{Kind: EvStepStarted, At: t0})
	if err != nil || s.MarkedDone {
		t.Fatalf("after a new start: %+v %v", s, err)
	}
}
