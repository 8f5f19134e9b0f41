package steps

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbooks"
)

// logCheckpointer logs each checkpoint into the fake world's call list, so
// actions and checkpoints appear in one order.
type logCheckpointer struct{ w *fakeWorld }

func (c logCheckpointer) Checkpoint(_ context.Context, req CheckpointRequest) (string, error) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	c.w.calls = append(c.w.calls, req.Step.ID+"/checkpoint")
	return "c" + req.Step.ID, nil
}

// TestSessionPerformsOnlyWhatTheTableAsks runs the session through starts,
// a manual confirm, a re-check, a phase without checkpoints, a failure
// marked done, a skip and an undo. Every side effect it performed (actions
// run, checkpoints made) is grouped into effects, and the list must equal
// the effects Transition returns when the journal is folded: nothing the
// table did not ask for, nothing it asked for left out.
func TestSessionPerformsOnlyWhatTheTableAsks(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.opt.Checkpointer = logCheckpointer{h.world}
	s := h.open()
	h.world.on("flaky", func(context.Context, *Env) error { return errors.New("exit 1") })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Start(ctx, "auto"))
	must(s.Verify(ctx, "auto")) // a re-check: no checkpoint
	must(s.Start(ctx, "manual"))
	must(s.Confirm(ctx, "manual", "ben", "done"))
	if err := s.Start(ctx, "flaky"); err == nil {
		t.Fatal("flaky passed")
	}
	must(s.MarkDone(ctx, "flaky", "fixed by hand"))
	must(s.Skip(ctx, "slow", "not today"))
	must(s.Start(ctx, "quiet")) // phase without checkpoints
	must(s.Undo(ctx, "auto"))

	// What the table asked for, record by record.
	var asked []string
	run := NewRun()
	for _, ev := range h.events() {
		eff, err := run.Apply(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range eff {
			g := e.Step + " " + e.Kind.String()
			// Two do effects in a row (before and after a manual action)
			// show as one group of calls.
			if len(asked) > 0 && asked[len(asked)-1] == g && e.Kind != EffCheckpoint {
				continue
			}
			asked = append(asked, g)
		}
	}
	// What the session did, grouped: consecutive actions of one list of
	// one step are one effect.
	list := map[string]string{}
	for _, st := range h.rb.Steps() {
		for name, acts := range map[string][]string{"run do": labels(st.Do), "run verify": labels(st.Verify), "run undo": labels(st.Undo)} {
			for _, l := range acts {
				list[st.ID+"/"+l] = st.ID + " " + name
			}
		}
	}
	var did []string
	for _, c := range h.world.ran() {
		g := list[c]
		if strings.HasSuffix(c, "/checkpoint") {
			g = strings.TrimSuffix(c, "/checkpoint") + " checkpoint"
		} else if g == "" {
			t.Fatalf("call %s belongs to no action list", c)
		}
		if len(did) > 0 && did[len(did)-1] == g && !strings.HasSuffix(g, " checkpoint") {
			continue
		}
		did = append(did, g)
	}
	eq(t, "side effects performed vs effects the table asked for", did, asked)

	// Folding once per record leaves the state the journal folds to.
	folded, err := Fold(h.events())
	if err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	for id, st := range folded.Steps {
		if !reflect.DeepEqual(*st, snap.Step(id)) {
			t.Errorf("step %s: live state %+v\nfolded %+v", id, snap.Step(id), *st)
		}
	}
}

func labels(acts []runbooks.Action) []string {
	var out []string
	for _, a := range acts {
		if f, ok := a.Params.(*fakeAction); ok {
			out = append(out, f.Label)
		}
	}
	return out
}

// A checkpoint that failed, or that the process died inside, is owed: the
// next session makes it at open, in order, and the journal pays it.
func TestOwedCheckpointsAreMadeOnResume(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	s := h.open()
	h.cp.err = errors.New("index locked")
	if err := s.Start(ctx, "auto"); err == nil {
		t.Fatal("a failed checkpoint was not reported")
	}
	h.cp.err = nil
	// Killed between the step's end and its checkpoint.
	if _, err := s.recordEffects(Event{Kind: EvStepStarted, Step: "flaky", Attempt: 1, Actor: "ana"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.recordEffects(Event{Kind: EvStepSucceeded, Step: "flaky"}); err != nil {
		t.Fatal(err)
	}
	eq(t, "owed before the crash", s.Snapshot().Owed(), []string{"auto", "flaky"})
	crash(s)
	h.opt.TakeOver = true
	s = h.open()
	eq(t, "paid at open", s.Recovered.Owed, []string{"auto", "flaky"})
	eq(t, "owed after open", s.Snapshot().Owed(), []string(nil))
	var got []string
	for _, r := range h.cp.calls() {
		got = append(got, r.Step.ID)
	}
	eq(t, "checkpoints made", got, []string{"auto", "flaky"})
	if s.Recovered.TookOver.PID == 0 {
		t.Fatal("taking over a dead holder is not reported")
	}
	// Nothing is owed twice.
	crash(s)
	s = h.open()
	eq(t, "nothing owed on the next open", s.Recovered.Owed, []string(nil))
}
