package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// fakeAction is the test action type: what it does is decided by the test,
// per label, through the world it was made for.
type fakeAction struct {
	Label string `yaml:"label"`
	w     *fakeWorld
}

func (f *fakeAction) Describe(*Env) string { return "fake " + f.Label }

func (f *fakeAction) Run(ctx context.Context, env *Env) error {
	f.w.mu.Lock()
	f.w.calls = append(f.w.calls, env.Step+"/"+f.Label)
	fn := f.w.behave[f.Label]
	f.w.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(ctx, env)
}

// fakeWorld records which fake actions ran and holds their behaviour.
type fakeWorld struct {
	mu     sync.Mutex
	calls  []string
	behave map[string]func(ctx context.Context, env *Env) error
}

func (w *fakeWorld) on(label string, fn func(ctx context.Context, env *Env) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.behave[label] = fn
}

func (w *fakeWorld) ran() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

// fakeCheckpointer records checkpoint requests.
type fakeCheckpointer struct {
	mu   sync.Mutex
	reqs []CheckpointRequest
	err  error
}

func (c *fakeCheckpointer) Checkpoint(_ context.Context, req CheckpointRequest) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return "", c.err
	}
	c.reqs = append(c.reqs, req)
	return fmt.Sprintf("commit-%d", len(c.reqs)), nil
}

const sessionRunbook = `
id: session-test
title: Session test
schedule: {date: "2025-10-24", timezone: UTC, start: "08:00"}
phases:
  - id: p1
    title: One
    slot: "08:00-09:00"
    steps:
      - id: auto
        title: Automated with verify and undo
        budget: 10m
        guide: g.md#g
        do:
          - fake: {label: do1}
          - fake: {label: do2}
        verify:
          - fake: {label: verify1}
        undo:
          - fake: {label: undo1}
      - id: manual
        title: A manual action between two automated ones
        budget: 10m
        guide: g.md#g
        checklist: [one, two]
        do:
          - fake: {label: before}
          - manual: {prompt: Do the thing by hand.}
          - fake: {label: after}
      - id: flaky
        title: Retried
        budget: 5m
        retries: 2
        guide: g.md#g
        do:
          - fake: {label: flaky}
      - id: slow
        title: Times out
        budget: 5m
        timeout: 20ms
        guide: g.md#g
        do:
          - fake: {label: block}
      - id: manual-undo
        title: Undone by hand
        budget: 5m
        guide: g.md#g
        do:
          - fake: {label: plain}
        undo:
          - manual: {prompt: Put it back by hand.}
  - id: p2
    title: Two, without checkpoints
    slot: "09:00-10:00"
    checkpoint: false
    steps:
      - id: quiet
        title: No checkpoint
        budget: 5m
        guide: g.md#g
        do:
          - fake: {label: quiet}
`

const testSecret = "Sup3r-S3cret-Value"

type harness struct {
	t     *testing.T
	world *fakeWorld
	rb    *runbooks.Runbook
	opt   Options
	cp    *fakeCheckpointer
	mu    sync.Mutex
	out   []string // step: line, as handed to Options.Output
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, world: &fakeWorld{behave: map[string]func(context.Context, *Env) error{}}, cp: &fakeCheckpointer{}}
	reg := NewRegistry()
	reg.Register("fake", func() Action { return &fakeAction{w: h.world} })
	rb, err := runbooks.Parse([]byte(sessionRunbook), "session.yaml", nil, runbooks.LoadOptions{
		Actions: reg,
		Guides:  fstest.MapFS{"g.md": {Data: []byte("# G\n")}},
	})
	if err != nil {
		t.Fatalf("test runbook: %v", err)
	}
	h.rb = rb
	h.opt = Options{
		Runbook:      rb,
		StateDir:     filepath.Join(t.TempDir(), "state"),
		Clock:        NewFakeClock(t0),
		Operator:     "ana",
		Host:         "testhost",
		Redactor:     NewRedactor(testSecret),
		Checkpointer: h.cp,
		Output: func(step, line string) {
			h.mu.Lock()
			h.out = append(h.out, step+": "+line)
			h.mu.Unlock()
		},
	}
	return h
}

func (h *harness) open() *Session {
	h.t.Helper()
	s, err := Open(h.opt)
	if err != nil {
		h.t.Fatalf("open: %v", err)
	}
	h.t.Cleanup(func() { s.Close() })
	return s
}

func (h *harness) clock() *FakeClock { return h.opt.Clock.(*FakeClock) }

func (h *harness) journalPath() string { return JournalPath(h.opt.StateDir, h.rb.ID) }

func (h *harness) events() []Event {
	h.t.Helper()
	evs, torn, err := ReadJournal(h.journalPath())
	if err != nil || torn != nil {
		h.t.Fatalf("read journal: %v, torn %v", err, torn)
	}
	return evs
}

// kinds lists the journal as "kind step" strings, from record from (1-based).
func (h *harness) kinds(from int) []string {
	var out []string
	for _, ev := range h.events()[from-1:] {
		out = append(out, strings.TrimSpace(ev.Kind.String()+" "+ev.Step))
	}
	return out
}

func (h *harness) journalBytes() []byte {
	data, err := os.ReadFile(h.journalPath())
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

func TestSessionAutomatedStep(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	if !s.Recovered.New || len(s.Recovered.Dirty) != 0 || s.Recovered.Torn != nil {
		t.Fatalf("recovered %+v", s.Recovered)
	}
	first := h.events()[0]
	if first.Kind != EvRunStarted || first.Runbook != "session-test" || first.Digest != h.rb.Digest || first.Actor != "ana" || first.Host != "testhost" || first.PID != os.Getpid() {
		t.Fatalf("run.started %+v", first)
	}

	if err := s.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	eq(t, "actions", h.world.ran(), []string{"auto/do1", "auto/do2", "auto/verify1"})
	eq(t, "journal", h.kinds(2), []string{"step.started auto", "step.verifying auto", "step.succeeded auto", "checkpoint auto"})
	started := h.events()[1]
	if started.Attempt != 1 || started.Actor != "ana" {
		t.Fatalf("step.started %+v", started)
	}
	st := s.Snapshot().Step("auto")
	if st.Status != Succeeded || st.Commit != "commit-1" || st.Attempts != 1 {
		t.Fatalf("state %+v", st)
	}
	if len(h.cp.reqs) != 1 || h.cp.reqs[0].Step.ID != "auto" || h.cp.reqs[0].State.Status != Succeeded || h.cp.reqs[0].Undo || h.cp.reqs[0].Journal != h.journalPath() {
		t.Fatalf("checkpoint requests %+v", h.cp.reqs)
	}

	if err := s.Undo(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	eq(t, "journal after undo", h.kinds(6), []string{"undo.started auto", "undo.finished auto", "checkpoint auto"})
	if !h.cp.reqs[1].Undo || s.Snapshot().Step("auto").Status != Undone {
		t.Fatalf("undo checkpoint %+v", h.cp.reqs[1])
	}

	if err := s.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	if ev := h.events()[8]; ev.Kind != EvStepStarted || ev.Attempt != 2 {
		t.Fatalf("retry after undo %+v", ev)
	}
}

func TestSessionManualStep(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	ctx := context.Background()
	if err := s.Start(ctx, "manual"); err != nil {
		t.Fatalf("start: %v", err)
	}
	eq(t, "actions", h.world.ran(), []string{"manual/before"})
	eq(t, "journal", h.kinds(2), []string{"step.started manual", "step.awaiting manual"})
	if ev := h.events()[2]; ev.Action != 1 {
		t.Fatalf("awaiting names action %d; want 1", ev.Action)
	}
	if st := s.Snapshot().Step("manual"); st.Status != AwaitingOperator {
		t.Fatalf("status %s", st.Status)
	}

	if err := s.Tick("manual", 1, true); err != nil {
		t.Fatal(err)
	}
	before := h.journalBytes()
	if err := s.Tick("manual", 2, true); err == nil {
		t.Fatal("tick of a missing checklist item accepted")
	}
	if err := s.Note("manual", "   "); err == nil {
		t.Fatal("empty note accepted")
	}
	if !bytes.Equal(before, h.journalBytes()) {
		t.Fatal("a refused request reached the journal")
	}
	if err := s.Note("manual", "waiting on the DBA"); err != nil {
		t.Fatal(err)
	}

	h.clock().Advance(7 * time.Minute)
	if err := s.Confirm(ctx, "manual", "ben", "done on the console"); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	eq(t, "actions after confirm", h.world.ran(), []string{"manual/before", "manual/after"})
	eq(t, "journal", h.kinds(4), []string{"checklist.tick manual", "note manual", "step.confirmed manual", "step.succeeded manual", "checkpoint manual"})
	evs := h.events()
	if tick := evs[3]; tick.Item != 1 || !tick.Checked || tick.Actor != "ana" {
		t.Fatalf("tick %+v", tick)
	}
	if note := evs[4]; note.Note != "waiting on the DBA" || note.Actor != "ana" {
		t.Fatalf("note %+v", note)
	}
	if c := evs[5]; c.Actor != "ben" || c.Reason != "done on the console" || c.Action != 1 {
		t.Fatalf("confirmed %+v", c)
	}
	st := s.Snapshot().Step("manual")
	if st.Status != Succeeded || st.Elapsed(h.clock().Now().Add(time.Hour)) != 7*time.Minute || !st.Checked[1] || len(st.Notes) != 1 {
		t.Fatalf("state %+v", st)
	}
}

func TestSessionSkipMarkDoneAndFinish(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	ctx := context.Background()
	h.world.on("do1", func(context.Context, *Env) error { return errors.New("exit 1") })
	if err := s.Start(ctx, "auto"); err == nil {
		t.Fatal("failing step reported success")
	}
	before := h.journalBytes()
	for _, reason := range []string{"", "  "} {
		if err := s.MarkDone(ctx, "auto", reason); err == nil || !strings.Contains(err.Error(), "reason") {
			t.Fatalf("mark done with reason %q: %v", reason, err)
		}
		if err := s.Skip(ctx, "manual", reason); err == nil || !strings.Contains(err.Error(), "reason") {
			t.Fatalf("skip with reason %q: %v", reason, err)
		}
	}
	if !bytes.Equal(before, h.journalBytes()) {
		t.Fatal("a refused mark done or skip reached the journal")
	}
	if err := s.Finish(); err == nil {
		t.Fatal("finish with steps left accepted")
	}
	if err := s.MarkDone(ctx, "auto", "fixed by hand on the server"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"manual", "flaky", "slow", "manual-undo", "quiet"} {
		if err := s.Skip(ctx, id, "not in this rehearsal"); err != nil {
			t.Fatalf("skip %s: %v", id, err)
		}
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	got := h.kinds(4)
	want := []string{"step.marked_done auto", "checkpoint auto",
		"step.skipped manual", "checkpoint manual", "step.skipped flaky", "checkpoint flaky",
		"step.skipped slow", "checkpoint slow", "step.skipped manual-undo", "checkpoint manual-undo",
		"step.skipped quiet", // phase p2 makes no checkpoints
		"run.finished"}
	eq(t, "journal", got, want)
	evs := h.events()
	if md := evs[3]; md.Reason != "fixed by hand on the server" || md.Actor != "ana" {
		t.Fatalf("marked done %+v", md)
	}
	if err := s.Finish(); err != nil {
		t.Fatalf("second finish: %v", err)
	}
	if n := len(h.events()); n != len(evs) {
		t.Fatal("second finish journaled again")
	}
	if !s.Snapshot().Finished {
		t.Fatal("run not finished")
	}
}

func TestSessionFailureIsRedacted(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	h.world.on("do2", func(_ context.Context, env *Env) error {
		env.Printf("connecting with %s", testSecret)
		fmt.Fprintf(env.Out, "partial line with password=hunter22")
		return fmt.Errorf("connect postgres://app:%s@db:5432/app: refused", testSecret)
	})
	err := s.Start(context.Background(), "auto")
	var se *StepError
	if !errors.As(err, &se) || se.Step != "auto" {
		t.Fatalf("err %v; want *StepError", err)
	}
	if strings.Contains(err.Error(), testSecret) || !strings.Contains(err.Error(), Mask) {
		t.Fatalf("returned error not redacted: %v", err)
	}
	eq(t, "actions", h.world.ran(), []string{"auto/do1", "auto/do2"})
	eq(t, "journal", h.kinds(2), []string{"step.started auto", "step.failed auto"})
	failed := h.events()[2]
	if !strings.HasPrefix(failed.Err, "do 2 (fake): connect postgres://app:"+Mask+"@db") {
		t.Fatalf("journaled error %q", failed.Err)
	}
	st := s.Snapshot().Step("auto")
	if st.Status != Failed || st.LastErr != failed.Err {
		t.Fatalf("state %+v", st)
	}
	s.Close()

	files := []string{h.journalPath(), s.LogPath("auto")}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(testSecret)) || bytes.Contains(data, []byte("hunter22")) {
			t.Errorf("a secret is in %s:\n%s", filepath.Base(f), data)
		}
	}
	log, _ := os.ReadFile(s.LogPath("auto"))
	if !bytes.Contains(log, []byte("connecting with "+Mask)) || !bytes.Contains(log, []byte("partial line with password="+Mask)) {
		t.Errorf("log lacks the output lines:\n%s", log)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	want := []string{"auto: ▸ fake", "auto: ▸ fake", "auto: connecting with " + Mask, "auto: partial line with password=" + Mask}
	eq(t, "output", h.out, want)
}

func TestSessionRefusesIllegalRequests(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	ctx := context.Background()
	if err := s.Start(ctx, "auto"); err != nil {
		t.Fatal(err)
	}
	calls := len(h.world.ran())
	before := h.journalBytes()
	for name, call := range map[string]func() error{
		"start a succeeded step":         func() error { return s.Start(ctx, "auto") },
		"confirm a step that waits not":  func() error { return s.Confirm(ctx, "auto", "ben", "") },
		"undo a pending step":            func() error { return s.Undo(ctx, "flaky") },
		"verify a step without verify":   func() error { return s.Verify(ctx, "flaky") },
		"skip a succeeded step":          func() error { return s.Skip(ctx, "auto", "because") },
		"mark a pending step done":       func() error { return s.MarkDone(ctx, "flaky", "because") },
		"start an unknown step":          func() error { return s.Start(ctx, "nope") },
		"note on an unknown step":        func() error { return s.Note("nope", "x") },
		"tick an item of a step without": func() error { return s.Tick("auto", 0, true) },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if !bytes.Equal(before, h.journalBytes()) {
		t.Fatal("refused requests reached the journal")
	}
	if len(h.world.ran()) != calls {
		t.Fatalf("refused requests ran actions: %v", h.world.ran()[calls:])
	}
}

// crash makes a session vanish the way a killed process does: its files are
// closed by the kernel, the flock goes with them, and nothing is released
// or written.
func crash(s *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.journal.f.Close()
	s.journal = nil
	s.lock.f.Close()
	s.lock = nil
}

func TestSessionReopenAfterCrash(t *testing.T) {
	for _, tt := range []struct {
		name     string
		crashIn  string // the action during which the process dies
		inFlight Status
		ran      []string
	}{
		{"during do", "do2", Running, []string{"auto/do1", "auto/do2"}},
		{"during verify", "verify1", Verifying, []string{"auto/do1", "auto/do2", "auto/verify1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			s := h.open()
			h.world.on(tt.crashIn, func(context.Context, *Env) error {
				crash(s)
				return errors.New("the process is gone")
			})
			if err := s.Start(context.Background(), "auto"); err == nil {
				t.Fatal("no error from a session that died")
			}
			eq(t, "actions before the crash", h.world.ran(), tt.ran)
			last := h.events()[len(h.events())-1]
			if last.Kind != EvStepStarted && last.Kind != EvStepVerifying {
				t.Fatalf("journal ends with %s", last.Kind)
			}

			// The dead holder's lock is stale: refused without take-over.
			if _, err := Open(h.opt); err == nil {
				t.Fatal("reopened over a stale lock without take-over")
			} else if le := (*LockedError)(nil); !errors.As(err, &le) || !le.Stale {
				t.Fatalf("reopen: %v", err)
			}
			n := len(h.events())
			h.clock().Advance(3 * time.Hour)
			h.opt.TakeOver = true
			s2 := h.open()
			eq(t, "dirty", s2.Recovered.Dirty, []string{"auto"})
			eq(t, "journal after reopen", h.kinds(n+1), []string{"run.resumed", "step.dirty auto"})
			dirty := h.events()[n+1]
			if dirty.Note != "process ended while "+tt.inFlight.String() {
				t.Fatalf("dirty note %q", dirty.Note)
			}
			st := s2.Snapshot().Step("auto")
			if st.Status != Dirty || st.InFlight != tt.inFlight {
				t.Fatalf("state %+v", st)
			}
			eq(t, "actions after reopen (nothing re-run)", h.world.ran(), tt.ran)

			// The operator chooses to verify: only verify actions run.
			h.world.on(tt.crashIn, nil)
			if err := s2.Verify(context.Background(), "auto"); err != nil {
				t.Fatal(err)
			}
			eq(t, "actions after verify", h.world.ran(), append(append([]string(nil), tt.ran...), "auto/verify1"))
			if st := s2.Snapshot().Step("auto"); st.Status != Succeeded || st.Attempts != 1 {
				t.Fatalf("after verify %+v", st)
			}
		})
	}
}

func TestSessionReopenWithTornTail(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	h.world.on("do1", func(context.Context, *Env) error {
		// Die in the middle of writing the next record.
		f, err := os.OpenFile(h.journalPath(), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		f.Write(AppendRecord(nil, Event{Seq: 3, Kind: EvStepSucceeded, Step: "auto"})[:17])
		f.Close()
		crash(s)
		return errors.New("gone")
	})
	s.Start(context.Background(), "auto")
	h.opt.TakeOver = true
	s2 := h.open()
	if s2.Recovered.Torn == nil || s2.Recovered.Torn.Line != 3 {
		t.Fatalf("torn %+v", s2.Recovered.Torn)
	}
	eq(t, "dirty", s2.Recovered.Dirty, []string{"auto"})
	eq(t, "journal", h.kinds(1), []string{"run.started", "step.started auto", "run.resumed", "step.dirty auto"})
	if note := h.events()[2].Note; !strings.Contains(note, "journal line 3") || !strings.Contains(note, "dropped") {
		t.Fatalf("resume note %q", note)
	}
	eq(t, "actions", h.world.ran(), []string{"auto/do1"})
}

func TestSessionResumeRestoresState(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	ctx := context.Background()
	if err := s.Start(ctx, "auto"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, "manual"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tick("manual", 0, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Note("auto", "went fine"); err != nil {
		t.Fatal(err)
	}
	want := s.Snapshot()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if info, held, _ := ReadLock(RunDir(h.opt.StateDir, h.rb.ID)); held || info.PID != 0 {
		t.Fatalf("lock after close: %+v held=%v", info, held)
	}
	calls := len(h.world.ran())

	h.opt.Operator = "ben"
	s2 := h.open()
	if s2.Recovered.New || len(s2.Recovered.Dirty) != 0 {
		t.Fatalf("recovered %+v", s2.Recovered)
	}
	got := s2.Snapshot()
	for id, w := range want.Steps {
		g := got.Steps[id]
		if g == nil || g.Status != w.Status || g.Attempts != w.Attempts || g.Commit != w.Commit || !reflect.DeepEqual(g.Notes, w.Notes) || !reflect.DeepEqual(g.Checked, w.Checked) {
			t.Errorf("step %s: got %+v want %+v", id, g, w)
		}
	}
	if got.Resumes != 1 || got.Operator != "ben" {
		t.Fatalf("run %+v", got)
	}
	if len(h.world.ran()) != calls {
		t.Fatal("reopen ran actions")
	}
	// The awaiting step continues where it stopped.
	if err := s2.Confirm(ctx, "manual", "ben", ""); err != nil {
		t.Fatal(err)
	}
	if r := h.world.ran(); r[len(r)-1] != "manual/after" || len(r) != calls+1 {
		t.Fatalf("after confirm %v", r)
	}
}

func TestSessionSecondOpenRefused(t *testing.T) {
	h := newHarness(t)
	h.open()
	other := h.opt
	other.Operator, other.PID = "ben", os.Getpid()+1
	_, err := Open(other)
	var le *LockedError
	if !errors.As(err, &le) || le.Info.Holder != "ana" || le.Info.Host != "testhost" || le.Info.PID != os.Getpid() {
		t.Fatalf("second open: %v", err)
	}
	if n := len(h.events()); n != 1 {
		t.Fatalf("refused open wrote %d records", n-1)
	}
}

func TestSessionRefusesJournalOfAnotherRunbook(t *testing.T) {
	h := newHarness(t)
	if err := os.MkdirAll(filepath.Dir(h.journalPath()), 0o700); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, h.journalPath(), []Event{{Seq: 1, Kind: EvRunStarted, At: t0, Runbook: "another"}})
	_, err := Open(h.opt)
	if err == nil || !strings.Contains(err.Error(), `belongs to runbook "another"`) {
		t.Fatalf("err %v", err)
	}
	// The lock is free again for the operator's next try.
	if _, held, _ := ReadLock(RunDir(h.opt.StateDir, h.rb.ID)); held {
		t.Fatal("lock left held after a refused open")
	}
}

func TestSessionInterrupt(t *testing.T) {
	for _, tt := range []struct {
		name string
		ret  func(ctx context.Context) error
	}{
		{"action returns the context's error", func(ctx context.Context) error { return fmt.Errorf("wait: %w", ctx.Err()) }},
		{"action returns its own error", func(context.Context) error { return errors.New("signal: killed") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			s := h.open()
			running := make(chan struct{})
			h.world.on("do1", func(ctx context.Context, _ *Env) error {
				close(running)
				<-ctx.Done()
				return tt.ret(ctx)
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Start(ctx, "auto") }()
			<-running
			cancel()
			err := <-done
			if err == nil {
				t.Fatal("interrupted step succeeded")
			}
			eq(t, "actions", h.world.ran(), []string{"auto/do1"})
			eq(t, "journal", h.kinds(2), []string{"step.started auto", "step.failed auto"})
			if e := h.events()[2].Err; !strings.HasPrefix(e, "interrupted by the operator: do 1 (fake):") {
				t.Fatalf("journaled error %q", e)
			}
		})
	}
}

func TestSessionRetriesAndTimeout(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	ctx := context.Background()
	fails := 2
	h.world.on("flaky", func(context.Context, *Env) error {
		if fails > 0 {
			fails--
			return errors.New("not yet")
		}
		return nil
	})
	if err := s.Start(ctx, "flaky"); err != nil {
		t.Fatal(err)
	}
	eq(t, "attempts of a retried action", h.world.ran(), []string{"flaky/flaky", "flaky/flaky", "flaky/flaky"})
	if st := s.Snapshot().Step("flaky"); st.Status != Succeeded || st.Attempts != 1 {
		t.Fatalf("state %+v", st)
	}
	h.mu.Lock()
	retried := strings.Join(h.out, "\n")
	h.mu.Unlock()
	if !strings.Contains(retried, "retry 1 of 2 after: not yet") || !strings.Contains(retried, "retry 2 of 2") {
		t.Fatalf("output %q", retried)
	}

	// A step's timeout bounds each action; the failure says so.
	h.world.on("block", func(ctx context.Context, _ *Env) error {
		<-ctx.Done()
		return ctx.Err()
	})
	err := s.Start(ctx, "slow")
	if err == nil || !strings.Contains(err.Error(), "timed out after 20ms") {
		t.Fatalf("err %v", err)
	}
	if e := s.Snapshot().Step("slow").LastErr; strings.Contains(e, "interrupted") || !strings.Contains(e, "timed out") {
		t.Fatalf("journaled %q", e)
	}
}

func TestSessionManualUndoFails(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	ctx := context.Background()
	if err := s.Start(ctx, "manual-undo"); err != nil {
		t.Fatal(err)
	}
	err := s.Undo(ctx, "manual-undo")
	if err == nil {
		t.Fatal("manual undo reported done")
	}
	st := s.Snapshot().Step("manual-undo")
	if st.Status != Failed || !strings.Contains(st.LastErr, "undo: undo 1 (manual): manual undo: needs the operator: Put it back by hand.") {
		t.Fatalf("state %+v", st)
	}
	// The operator did it by hand and says so.
	if err := s.MarkDone(ctx, "manual-undo", "put back by hand"); err != nil {
		t.Fatal(err)
	}
}

func TestSessionJournalsBeforeEachSideEffect(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	ctx := context.Background()
	var mu sync.Mutex
	var seen []string
	// Each action reads the journal file from disk (not the session's
	// memory) and notes the last record it finds there.
	for _, label := range []string{"do1", "do2", "verify1", "undo1", "before", "after"} {
		h.world.on(label, func(_ context.Context, env *Env) error {
			evs, torn, err := ReadJournal(JournalPath(env.StateDir, "session-test"))
			if err != nil || torn != nil {
				return fmt.Errorf("journal unreadable while %s runs: %v %v", label, err, torn)
			}
			last := evs[len(evs)-1]
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s sees %s %s att=%d", label, last.Kind, last.Step, last.Attempt))
			mu.Unlock()
			return nil
		})
	}
	steps := []func() error{
		func() error { return s.Start(ctx, "auto") },
		func() error { return s.Undo(ctx, "auto") },
		func() error { return s.Start(ctx, "auto") },
		func() error { return s.Start(ctx, "manual") },
		func() error { return s.Confirm(ctx, "manual", "ben", "") },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	eq(t, "what each action found on disk", seen, []string{
		"do1 sees step.started auto att=1",
		"do2 sees step.started auto att=1",
		"verify1 sees step.verifying auto att=0",
		"undo1 sees undo.started auto att=0",
		"do1 sees step.started auto att=2",
		"do2 sees step.started auto att=2",
		"verify1 sees step.verifying auto att=0",
		"before sees step.started manual att=1",
		"after sees step.confirmed manual att=0",
	})
}

func TestSessionCheckpointFailure(t *testing.T) {
	h := newHarness(t)
	h.cp.err = errors.New("refusing to commit .env")
	s := h.open()
	err := s.Start(context.Background(), "auto")
	if err == nil || !strings.Contains(err.Error(), "checkpoint after step auto: refusing to commit .env") {
		t.Fatalf("err %v", err)
	}
	eq(t, "journal", h.kinds(2), []string{"step.started auto", "step.verifying auto", "step.succeeded auto", "note auto"})
	note := h.events()[4]
	if note.Actor != "runbook" || !strings.Contains(note.Note, "checkpoint failed: refusing to commit .env") {
		t.Fatalf("note %+v", note)
	}
	if st := s.Snapshot().Step("auto"); st.Status != Succeeded || st.Commit != "" {
		t.Fatalf("state %+v", st)
	}
}

func TestSessionWithoutCheckpointer(t *testing.T) {
	h := newHarness(t)
	h.opt.Checkpointer = nil
	s := h.open()
	if err := s.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	eq(t, "journal", h.kinds(2), []string{"step.started auto", "step.verifying auto", "step.succeeded auto"})
}

func TestSessionClosed(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Note("auto", "after close"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("note after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// leftSecret is an action whose secret outlives the process that made it.
type leftSecret struct {
	Value string `yaml:"value"`
}

func (l *leftSecret) Describe(*Env) string            { return "left secret" }
func (l *leftSecret) Run(context.Context, *Env) error { return nil }
func (l *leftSecret) KnownSecrets(env *Env) []string  { return []string{l.Value} }

func TestOpenLearnsSecretsLeftByEarlierProcesses(t *testing.T) {
	reg := NewRegistry()
	reg.Register("left", func() Action { return new(leftSecret) })
	src := `id: learn
title: Learn
schedule: {date: "2025-10-24", timezone: UTC}
phases:
  - id: p
    title: P
    slot: "08:00-09:00"
    steps:
      - id: s
        title: S
        budget: 5m
        guide: g.md
        do: [{left: {value: generated-earlier-42}}]
`
	red := NewRedactor()
	openSmall(t, src, reg, Options{Redactor: red})
	if got := red.String("value generated-earlier-42 here"); got != "value "+Mask+" here" {
		t.Fatalf("the redactor did not learn the left secret: %q", got)
	}
}

func TestRealRunNeverResumesARehearsal(t *testing.T) {
	h := newHarness(t)
	h.opt.Rehearsal = true
	s := h.open()
	s.Close()
	h.opt.Rehearsal = false
	_, err := Open(h.opt)
	var mm *RehearsalMismatchError
	if !errors.As(err, &mm) || !mm.Rehearsal || !strings.Contains(err.Error(), "holds a rehearsal") {
		t.Fatalf("real run on a rehearsal's journal: %v", err)
	}
	// And the lock was let go: the rehearsal can go on.
	h.opt.Rehearsal = true
	s2, err := Open(h.opt)
	if err != nil {
		t.Fatalf("rehearsal again: %v", err)
	}
	s2.Close()
}

func TestStepWithoutDoWaitsForTheOperator(t *testing.T) {
	reg := NewRegistry()
	src := `id: nodo
title: No do
schedule: {date: "2025-10-24", timezone: UTC}
phases:
  - id: p
    title: P
    slot: "08:00-09:00"
    steps:
      - {id: s, title: Talk to the team, budget: 5m, guide: g.md}
`
	s := openSmall(t, src, reg, Options{})
	if err := s.Start(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	if st := s.Snapshot().Step("s"); st.Status != AwaitingOperator {
		t.Fatalf("a step without do is %s after start, want awaiting operator", st.Status)
	}
	if err := s.Confirm(context.Background(), "s", "ana", "done"); err != nil {
		t.Fatal(err)
	}
	if st := s.Snapshot().Step("s"); st.Status != Succeeded {
		t.Fatalf("after confirm: %s", st.Status)
	}
}

func TestReverifyDoesNotReorderRollback(t *testing.T) {
	reg := NewRegistry()
	reg.Register("left", func() Action { return new(leftSecret) })
	src := `id: order
title: Order
schedule: {date: "2025-10-24", timezone: UTC}
phases:
  - id: p
    title: P
    slot: "08:00-09:00"
    steps:
      - {id: a, title: A, budget: 5m, guide: g.md, do: [{left: {value: x}}], verify: [{left: {value: x}}]}
      - {id: b, title: B, budget: 5m, guide: g.md, do: [{left: {value: x}}], verify: [{left: {value: x}}]}
`
	cp := &fakeCheckpointer{}
	s := openSmall(t, src, reg, Options{Checkpointer: cp})
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := s.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	before := len(cp.calls())
	if err := s.Verify(ctx, "a"); err != nil { // a re-check of a done step
		t.Fatal(err)
	}
	if n := len(cp.calls()); n != before {
		t.Errorf("a passing re-check made %d checkpoint(s)", n-before)
	}
	if got, _ := s.RollbackOrder("start"); strings.Join(got, ",") != "b,a" {
		t.Fatalf("rollback order after a re-verify of a: %v, want b,a", got)
	}
	if got, _ := s.RollbackOrder("a"); strings.Join(got, ",") != "b,a" {
		t.Fatalf("rollback --to a: %v, want b,a", got)
	}
}

func (c *fakeCheckpointer) calls() []CheckpointRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CheckpointRequest(nil), c.reqs...)
}

func TestOutputMasksWholePrivateKeyBlocks(t *testing.T) {
	var got []string
	w := newLineWriter("s", NewRedactor(), func(_, l string) { got = append(got, l) })
	fmt.Fprint(w, "before\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBodyLineOne\nAwEHoUQDQgAEBodyLineTwo\n-----END EC PRIVATE KEY-----\nafter\n")
	w.Close()
	all := strings.Join(got, "\n")
	if strings.Contains(all, "BodyLine") || !strings.Contains(all, "before") || !strings.Contains(all, "after") || len(got) != 6 {
		t.Fatalf("key body not masked line by line:\n%s", all)
	}
}

// openSmall parses a small runbook (guide g.md) and opens a session on it
// in a fresh state directory; opt adds to the defaults.
func openSmall(t *testing.T, src string, reg *Registry, opt Options) *Session {
	t.Helper()
	rb, err := runbooks.Parse([]byte(src), "small.yaml", nil, runbooks.LoadOptions{Actions: reg, Guides: fstest.MapFS{"g.md": {Data: []byte("# G\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	opt.Runbook, opt.StateDir, opt.Clock, opt.Operator, opt.Host = rb, t.TempDir(), NewFakeClock(t0), "ana", "h"
	s, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopenTellsWhenTheRunbookChanged(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	if s.Recovered.RunbookChanged {
		t.Fatal("a new run reports a changed runbook")
	}
	s.Close()
	if s = h.open(); s.Recovered.RunbookChanged {
		t.Fatal("same runbook reported changed")
	}
	s.Close()
	rb := *h.rb
	rb.Digest = "0123456789abcdef"
	h.opt.Runbook = &rb
	if s = h.open(); !s.Recovered.RunbookChanged {
		t.Fatal("a changed digest is not reported")
	}
}

// A command's output and error text never reach the Output callback, the
// step's log or the journal with their escape sequences.
func TestOutputAndJournalAreTerminalSafe(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	h.world.on("do1", func(_ context.Context, env *Env) error {
		env.Out.Write([]byte("hello \x1b]0;pwned\x07world\x1b[2J\n\x1b]52;c;cm0gLXJmIC8K\x07clip\n"))
		return errors.New("server said \x1b]8;;http://evil\x07click\x1b]8;;\x07")
	})
	if err := s.Start(context.Background(), "auto"); err == nil {
		t.Fatal("step passed")
	}
	log, err := os.ReadFile(s.LogPath("auto"))
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	out := strings.Join(h.out, "\n")
	h.mu.Unlock()
	for what, text := range map[string]string{"output": out, "log": string(log), "journal": string(h.journalBytes())} {
		if strings.ContainsAny(text, "\x1b\x07") {
			t.Errorf("%s carries escape sequences:\n%q", what, text)
		}
	}
	if !strings.Contains(out, "auto: hello world") || !strings.Contains(h.events()[len(h.events())-1].Err, "server said click") {
		t.Errorf("the text itself was lost:\n%s\n%+v", out, h.events()[len(h.events())-1])
	}
}

// TestReopenCountsTheKilledAttemptToItsLastOutput: a step killed while it
// worked is journaled dirty with its log's last write, so the attempt's
// time counts up to that moment, now and after a retry.
func TestReopenCountsTheKilledAttemptToItsLastOutput(t *testing.T) {
	h := newHarness(t)
	s := h.open()
	h.world.on("do1", func(context.Context, *Env) error {
		crash(s)
		return errors.New("gone")
	})
	s.Start(context.Background(), "auto")
	// The action wrote output for 12 minutes before the machine died.
	lastOutput := t0.Add(12 * time.Minute)
	if err := os.MkdirAll(filepath.Dir(s.LogPath("auto")), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.LogPath("auto"), []byte("working\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(s.LogPath("auto"), lastOutput, lastOutput); err != nil {
		t.Fatal(err)
	}
	h.clock().Advance(3 * time.Hour)
	h.opt.TakeOver = true
	s2 := h.open()
	var dirty *Event
	for _, ev := range h.events() {
		if ev.Kind == EvStepDirty {
			dirty = &ev
		}
	}
	if dirty == nil || !dirty.Until.Equal(lastOutput) {
		t.Fatalf("dirty record %+v; want until %v", dirty, lastOutput)
	}
	if got := s2.Step("auto").Elapsed(h.clock().Now()); got != 12*time.Minute {
		t.Fatalf("elapsed %s; want the 12 minutes the log shows", got)
	}
}
