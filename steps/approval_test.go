package steps

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// approvalHarness: step "auto" needs two approvals, with a reason.
func approvalHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.rb.Phases[0].Steps[0].Approval = &runbooks.Approval{Count: 2, ReasonRequired: true}
	return h
}

// fakeApprovals is a source of approvals a test feeds.
type fakeApprovals struct {
	mu      sync.Mutex
	given   []Approval
	changed chan struct{}
	waits   int
}

func newFakeApprovals() *fakeApprovals { return &fakeApprovals{changed: make(chan struct{}, 16)} }

func (f *fakeApprovals) give(a Approval) {
	f.mu.Lock()
	f.given = append(f.given, a)
	f.mu.Unlock()
	f.changed <- struct{}{}
}

func (f *fakeApprovals) WaitApprovals(ctx context.Context, step string, need int) ([]Approval, error) {
	f.mu.Lock()
	f.waits++
	f.mu.Unlock()
	for {
		f.mu.Lock()
		as := append([]Approval(nil), f.given...)
		f.mu.Unlock()
		if len(as) >= need {
			return as, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.changed:
		}
	}
}

func TestApprovalGivenAtTheFrontEnd(t *testing.T) {
	ctx := context.Background()
	h := approvalHarness(t)
	s := h.open()

	d, err := s.Next("auto", Policy{})
	if err != nil || d.Op != OpApprove || d.Why != "waits for 2 approvals (reason required) from operators other than ana" {
		t.Fatalf("pending, unapproved: %+v %v", d, err)
	}
	// The UI's enter asks the same.
	if d, _ := s.Next("auto", Policy{Confirm: true}); d.Op != OpApprove {
		t.Fatalf("enter: %+v", d)
	}
	// No source to wait on: Do says what is missing and records nothing.
	before := len(h.events())
	var ae *ApprovalError
	if err := s.Do(ctx, d); !errors.As(err, &ae) || ae.Need != 2 || !strings.Contains(err.Error(), "needs 2 approvals from operators other than ana") {
		t.Fatalf("Do without a source: %v", err)
	}
	if len(h.events()) != before {
		t.Fatal("a refused approval wait left records")
	}
	var self *SelfApprovalError
	if err := s.Approve("auto", " ana ", "looks fine"); !errors.As(err, &self) {
		t.Fatalf("the driver approving their own step: %v", err)
	}
	if err := s.Approve("auto", "ben", ""); err == nil || !strings.Contains(err.Error(), "reason required") {
		t.Fatalf("no reason: %v", err)
	}
	if err := s.Approve("quiet", "ben", "x"); err == nil || !strings.Contains(err.Error(), "needs no approval") {
		t.Fatalf("a step without approval: %v", err)
	}
	if err := s.Approve("auto", "ben", "change ticket CHG-1 approved, token "+testSecret); err != nil {
		t.Fatal(err)
	}
	if err := s.Approve("auto", "ben", "again"); err == nil || !strings.Contains(err.Error(), "ben has already approved it") {
		t.Fatalf("twice: %v", err)
	}
	if d, _ := s.Next("auto", Policy{}); d.Op != OpApprove || !strings.Contains(d.Why, "1 approval (reason required)") {
		t.Fatalf("one short: %+v", d)
	}
	h.clock().Advance(time.Minute)
	if err := s.Approve("auto", "cy", "on call agrees"); err != nil {
		t.Fatal(err)
	}
	d, err = s.Advance(ctx, "auto", Policy{})
	if err != nil || d.Op != OpStart {
		t.Fatalf("approved: %+v %v", d, err)
	}
	evs := h.events()
	var got []string
	for _, ev := range evs[before:] {
		got = append(got, ev.Kind.String()+" "+ev.Actor+" "+ev.Via)
	}
	if strings.Join(got[:3], "|") != "step.approved ben driver|step.approved cy driver|step.started ana " {
		t.Fatalf("journal: %q", got)
	}
	ap := evs[before]
	if ap.Host != "testhost" || strings.Contains(ap.Reason, testSecret) || !strings.Contains(ap.Reason, "CHG-1") || !ap.Given.IsZero() || !ap.At.Equal(t0) {
		t.Errorf("approval record %+v", ap)
	}
	st := s.Snapshot().Step("auto")
	if len(st.Approvals) != 2 || st.Approvals[1].By != "cy" || st.Approvals[1].Via != ViaDriver || !st.Approvals[1].At.Equal(t0.Add(time.Minute)) {
		t.Errorf("fold: %+v", st.Approvals)
	}
	if got := CountDecisions(s.Snapshot()); got.Approvals != 2 || got.Total() != 2 {
		t.Errorf("decisions %+v", got)
	}
	var rep strings.Builder
	if err := WriteReport(&rep, h.rb, s.Snapshot(), h.clock().Now(), h.opt.Redactor); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"- Decisions: 2 (2 approvals)\n",
		"## Approvals\n\n- **auto** approved by ben on testhost at 08:00:00, on the driver's machine: change ticket CHG-1 approved",
		"- **auto** approved by cy on testhost at 08:01:00, on the driver's machine: on call agrees",
	} {
		if !strings.Contains(rep.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, rep.String())
		}
	}
	if strings.Contains(rep.String(), testSecret) {
		t.Error("secret in the report")
	}
}

func TestApprovalsFromASourceAreJournaledBeforeTheStart(t *testing.T) {
	ctx := context.Background()
	h := approvalHarness(t)
	src := newFakeApprovals()
	h.opt.Approvals = src
	var mu sync.Mutex
	var told []Moment
	h.opt.Notify = func(m Moment) { mu.Lock(); told = append(told, m); mu.Unlock() }
	s := h.open()

	// The wait honours its context: the step stays pending.
	cctx, cancel := context.WithCancel(ctx)
	d, _ := s.Next("auto", Policy{})
	done := make(chan error)
	go func() { done <- s.Do(cctx, d) }()
	src.give(Approval{By: "ben", Host: "ben-laptop", Reason: "ok", Via: ViaStore, At: t0.Add(time.Second)})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if st := s.Snapshot().Step("auto"); st.Status != Pending || st.ApprovalAsked.IsZero() {
		t.Fatalf("after a cancelled wait: %+v", st)
	}

	go func() { done <- s.Do(ctx, d) }()
	// The driver's own (the store refuses it; were one to come, it is not
	// counted) and one without the required reason are not counted.
	src.give(Approval{By: "ana", Host: "h", Reason: "mine", Via: ViaStore})
	src.give(Approval{By: "dee", Host: "h", Via: ViaStore})
	src.give(Approval{By: "cy", Host: "cy-desk", Reason: "fine by ops", Via: ViaStore})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Next("auto", Policy{}); d.Op != OpStart {
		t.Fatalf("after the approvals: %+v", d)
	}
	var got []string
	for _, ev := range h.events() {
		if ev.Step == "auto" {
			got = append(got, ev.Kind.String()+" "+ev.Actor+"@"+ev.Host+" "+ev.Via)
		}
	}
	want := "approval.asked ana@testhost |step.approved ben@ben-laptop store|step.approved cy@cy-desk store"
	if strings.Join(got, "|") != want {
		t.Fatalf("journal:\n got %q\nwant %q", strings.Join(got, "|"), want)
	}
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, m := range told {
		kinds = append(kinds, m.Kind)
	}
	if strings.Join(kinds, ",") != "run_started,approval_needed" {
		t.Errorf("moments %v", kinds)
	}
}

func TestRehearsalApprovesInItsOwnName(t *testing.T) {
	ctx := context.Background()
	h := approvalHarness(t)
	h.opt.Rehearsal = true
	s := h.open()
	d, err := s.Advance(ctx, "auto", Policy{})
	if err != nil || d.Op != OpApprove || !d.Auto || d.Why != "approval given by the rehearsal itself" {
		t.Fatalf("rehearsal: %+v %v", d, err)
	}
	ev := h.events()[len(h.events())-1]
	if ev.Kind != EvStepApproved || ev.Actor != "ana (rehearsal auto-approval)" || ev.Via != ViaRehearsal || ev.Reason != rehearsalApproveRemark {
		t.Fatalf("journal %+v", ev)
	}
	if d, _ := s.Next("auto", Policy{}); d.Op != OpStart {
		t.Fatalf("after: %+v", d)
	}
	// With a source (a shared rehearsal), the rehearsal waits like a real run.
	crash(s)
	h2 := approvalHarness(t)
	h2.opt.Rehearsal = true
	h2.opt.Approvals = newFakeApprovals()
	s2 := h2.open()
	if d, _ := s2.Next("auto", Policy{}); d.Op != OpApprove || d.Auto {
		t.Fatalf("shared rehearsal: %+v", d)
	}
}

type fakeNotes struct {
	ch chan []FollowerNote
}

func (f *fakeNotes) WaitNotes(ctx context.Context, after uint64) ([]FollowerNote, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ns := <-f.ch:
			var out []FollowerNote
			for _, n := range ns {
				if n.Ref > after {
					out = append(out, n)
				}
			}
			if len(out) > 0 {
				return out, nil
			}
		}
	}
}

func TestFollowerNotesJournaledOnce(t *testing.T) {
	h := newHarness(t)
	notes := &fakeNotes{ch: make(chan []FollowerNote)}
	h.opt.Notes = notes
	s := h.open()
	n1 := FollowerNote{Ref: 1, Step: "manual", By: "ben", Host: "ben-laptop", At: t0, Text: "db backup done, key " + testSecret}
	n2 := FollowerNote{Ref: 2, By: "cy", Host: "cy-desk", At: t0, Text: "\x1b[31mred\x1b[0m alert"}
	notes.ch <- []FollowerNote{n1}
	notes.ch <- []FollowerNote{n1, n2} // n1 again: not journaled twice
	waitFor(t, func() bool { return s.Snapshot().NoteRef == 2 })
	crash(s)
	h.opt.TakeOver = true
	s = h.open()
	if s.Snapshot().NoteRef != 2 {
		t.Fatalf("NoteRef after reopen: %d", s.Snapshot().NoteRef)
	}
	var got []Event
	for _, ev := range h.events() {
		if ev.Kind == EvNote {
			got = append(got, ev)
		}
	}
	if len(got) != 2 {
		t.Fatalf("notes %+v", got)
	}
	if got[0].Step != "manual" || got[0].Actor != "ben" || got[0].Host != "ben-laptop" || got[0].Via != ViaStore || strings.Contains(got[0].Note, testSecret) {
		t.Errorf("note 1 %+v", got[0])
	}
	// No step named: the step the run is at. Escapes are made safe.
	if got[1].Step != "auto" || strings.ContainsRune(got[1].Note, 0x1b) {
		t.Errorf("note 2 %+v", got[1])
	}
	st := s.Snapshot().Step("manual")
	if len(st.Notes) != 1 || st.Notes[0].Host != "ben-laptop" || st.Notes[0].Via != ViaStore {
		t.Errorf("fold %+v", st.Notes)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMomentsDerivedFromTheJournal(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var told []Moment
	h.opt.Notify = func(m Moment) { told = append(told, m) }
	h.opt.NotifyEvery = time.Hour // the test calls NotifyClock itself
	s := h.open()
	h.world.on("do2", func(context.Context, *Env) error {
		h.clock().Advance(11 * time.Minute) // budget 10m
		return nil
	})
	if _, err := s.Advance(ctx, "auto", Policy{}); err != nil {
		t.Fatal(err)
	}
	h.world.on("flaky", func(context.Context, *Env) error { return errors.New("exit 1: password=" + testSecret) })
	_ = s.Start(ctx, "flaky")
	// A step at work past its budget is told by the clock, once.
	h.world.on("block", func(ctx context.Context, _ *Env) error {
		h.clock().Advance(6 * time.Minute)
		s.NotifyClock()
		s.NotifyClock()
		return nil
	})
	h.opt.Runbook.Phases[0].Steps[3].Timeout = time.Minute
	if err := s.Start(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	crash(s)
	h.opt.Operator, h.opt.TakeOver = "ben", true
	s = h.open()
	var lines []string
	for _, m := range told {
		lines = append(lines, m.Kind+" "+m.Step+" "+m.Actor)
		if strings.Contains(m.Detail, testSecret) {
			t.Errorf("secret in %+v", m)
		}
	}
	want := []string{
		"run_started  ana",
		"step_over_budget auto ",
		"step_failed flaky ",
		"step_over_budget slow ",
		"run_taken_over  ben",
	}
	got := strings.Join(lines, "|")
	if !strings.Contains(got, "step_failed flaky") || strings.Count(got, "step_over_budget slow") != 1 {
		t.Fatalf("moments %q", lines)
	}
	var filtered []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "point_of_no_return_near") {
			filtered = append(filtered, l)
		}
	}
	// The flaky step retries twice (retries: 2): one failure record per attempt.
	var dedup []string
	for _, l := range filtered {
		if len(dedup) == 0 || dedup[len(dedup)-1] != l {
			dedup = append(dedup, l)
		}
	}
	if strings.Join(dedup, "|") != strings.Join(want, "|") {
		t.Fatalf("moments:\n got %q\nwant %q", dedup, want)
	}
}
