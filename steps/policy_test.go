package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestNextDecidesOnceForEveryFrontEnd walks the decisions of the policy:
// what Next answers for each status, and the journal record Do leaves.
func TestNextDecidesOnceForEveryFrontEnd(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	s := h.open()

	d, err := s.Next("manual", Policy{})
	if err != nil || d.Op != OpStart || !d.Auto || d.Actor != "ana" {
		t.Fatalf("pending: %+v %v", d, err)
	}
	if err := s.Do(ctx, d); err != nil {
		t.Fatal(err)
	}
	// A manual action: ask, unless a person asked (enter) or the policy
	// confirms without review.
	d, _ = s.Next("manual", Policy{})
	if d.Op != OpAsk || OpsText(d.Choices, d.Status) != "confirm, mark done or skip" {
		t.Fatalf("awaiting: %+v (%s)", d, OpsText(d.Choices, d.Status))
	}
	d, _ = s.Next("manual", Policy{Confirm: true, Actor: "ben", Reason: "done on the console"})
	if d.Op != OpConfirm || d.Actor != "ben" || d.Reason != "done on the console" || d.Auto {
		t.Fatalf("enter: %+v", d)
	}
	d, _ = s.Next("manual", Policy{ConfirmManual: true})
	if d.Op != OpConfirm || d.Actor != "ana (confirmed without review)" || !d.Auto {
		t.Fatalf("--confirm-manual: %+v", d)
	}
	if err := s.Do(ctx, d); err != nil {
		t.Fatal(err)
	}
	ev := h.events()[len(h.events())-3]
	if ev.Kind != EvStepConfirmed || ev.Actor != "ana (confirmed without review)" || ev.Reason != unreviewedRemark {
		t.Fatalf("journal %+v", ev)
	}
	if d, _ := s.Next("manual", Policy{}); d.Op != OpNone {
		t.Fatalf("succeeded: %+v", d)
	}

	// A failure is retried; the words say so.
	h.world.on("flaky", func(context.Context, *Env) error { return errors.New("exit 1") })
	if err := s.Start(ctx, "flaky"); err == nil {
		t.Fatal("flaky passed")
	}
	d, _ = s.Next("flaky", Policy{})
	if d.Op != OpStart || !strings.HasPrefix(d.Why, "retry (attempt 2) after: do 1 (fake)") {
		t.Fatalf("failed: %+v", d)
	}

	// An impossible standing choice is refused, naming what is possible.
	crash(s)
	h.opt.TakeOver = true
	s = h.open()
	if err := s.Start(ctx, "quiet"); err != nil {
		t.Fatal(err)
	}
	crashWhile(t, h, s, "auto")
	s = h.open()
	d, _ = s.Next("auto", Policy{})
	if d.Op != OpAsk || !strings.Contains(d.Why, "dirty") {
		t.Fatalf("dirty: %+v", d)
	}
	d, err = s.Next("auto", Policy{OnDirty: OpMarkDone})
	if err != nil || d.Op != OpMarkDone || d.Reason != dirtyMarkReason {
		t.Fatalf("dirty, mark done: %+v %v", d, err)
	}
	if _, err := s.Next("auto", Policy{OnDirty: OpConfirm}); err == nil || !strings.Contains(err.Error(), "retry, verify, undo, mark done or skip") {
		t.Fatalf("confirm of a dirty step: %v", err)
	}
}

// crashWhile leaves step id dirty: started, then the process "died".
func crashWhile(t *testing.T, h *harness, s *Session, id string) {
	t.Helper()
	if err := s.record(Event{Kind: EvStepStarted, Step: id, Attempt: 1, Actor: "ana"}); err != nil {
		t.Fatal(err)
	}
	crash(s)
}

func TestRehearsalConfirmsManualStepsInTheSameWords(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.opt.Rehearsal = true
	s := h.open()
	if _, err := s.Advance(ctx, "manual", Policy{}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Advance(ctx, "manual", Policy{})
	if err != nil || d.Op != OpConfirm || d.Why != "manual step auto-confirmed (rehearsal)" {
		t.Fatalf("rehearsal: %+v %v", d, err)
	}
	for _, ev := range h.events() {
		if ev.Kind == EvStepConfirmed && (ev.Actor != "ana (rehearsal auto-confirm)" || ev.Reason != "auto-confirmed in a rehearsal") {
			t.Fatalf("journal %+v", ev)
		}
	}
}
