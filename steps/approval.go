package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// Where an approval (or a note) came from, as the journal's `via` says.
const (
	ViaDriver    = "driver"    // given on the driver's machine (the UI's dialog, --approve)
	ViaStore     = "store"     // given through the shared-run store (runbook approve, follow)
	ViaRehearsal = "rehearsal" // a rehearsal's own approval, journaled as such
)

// Approval is one operator's approval of a step.
type Approval struct {
	By     string
	Host   string
	At     time.Time // when it was given
	Reason string
	Via    string
}

// Approvals is where the approvals of a run's steps come from when they are
// not given at the driver's own front end: the shared-run store (`runbook
// approve`, a follower's key), or approvals named on the command line.
type Approvals interface {
	// WaitApprovals returns step's approvals once there are at least need
	// of them. It blocks until then, and returns ctx's error when ctx
	// ends first. A source that can never have more (a fixed list) says
	// so with an error rather than blocking.
	WaitApprovals(ctx context.Context, step string, need int) ([]Approval, error)
}

// FollowerNote is a note a follower added to the run through the store.
type FollowerNote struct {
	Ref  uint64 // its number in the store: increasing
	Step string // the step the follower had selected ("" : the current one)
	By   string
	Host string
	At   time.Time
	Text string
}

// Notes brings the notes followers add while the run is driven.
type Notes interface {
	// WaitNotes returns the notes after ref once there is at least one,
	// in order. It blocks until then, and returns ctx's error when ctx
	// ends first.
	WaitNotes(ctx context.Context, after uint64) ([]FollowerNote, error)
}

// The words the journal carries for a rehearsal's own approval.
const (
	rehearsalApproveActor  = " (rehearsal auto-approval)"
	rehearsalApproveRemark = "approved by the rehearsal itself (no store to approve through)"
)

// ApprovalError is a step that needs approvals this session has no way to
// wait for (no store, no approvals given on the command line).
type ApprovalError struct {
	Step     string
	Need     int
	Operator string
}

func (e *ApprovalError) Error() string {
	return fmt.Sprintf("step %s needs %s from operators other than %s", e.Step, approvalsText(e.Need), e.Operator)
}

// SelfApprovalError is the driver approving their own step.
type SelfApprovalError struct{ Step, Operator string }

func (e *SelfApprovalError) Error() string {
	return fmt.Sprintf("%s drives this run and cannot approve its own step %s: another operator must approve it", e.Operator, e.Step)
}

func approvalsText(n int) string {
	if n == 1 {
		return "1 approval"
	}
	return fmt.Sprintf("%d approvals", n)
}

// ApprovalShort is how many approvals step still lacks before it may
// start (0: none needed, or enough given). A rehearsal's own approval
// satisfies the step whatever its count.
func ApprovalShort(step runbooks.Step, st StepState) int {
	if step.Approval == nil {
		return 0
	}
	for _, a := range st.Approvals {
		if a.Via == ViaRehearsal {
			return 0
		}
	}
	return max(step.Approval.Count-len(st.Approvals), 0)
}

// ApprovalWhat says in words what step's approval needs, "2 approvals
// (reason required)".
func ApprovalWhat(step runbooks.Step, short int) string {
	s := approvalsText(short)
	if step.Approval != nil && step.Approval.ReasonRequired {
		s += " (reason required)"
	}
	return s
}

// Approve journals an approval of step id given at the driver's own front
// end (the UI's dialog): by names the approver, who must not be the
// session's operator. The journal says it was given on the driver's machine.
func (s *Session) Approve(id, by, reason string) error {
	_, step, err := s.step(id)
	if err != nil {
		return err
	}
	return s.recordApproval(step, Approval{By: by, Host: s.opt.Host, At: s.opt.Clock.Now(), Reason: reason, Via: ViaDriver})
}

// AskApproval journals that step id waits for approval (once per session),
// which is what notifies "approval needed".
func (s *Session) AskApproval(id string) error {
	_, step, err := s.step(id)
	if err != nil {
		return err
	}
	st, _ := s.stepState(id)
	short := ApprovalShort(step, st)
	if short == 0 {
		return nil
	}
	if !st.ApprovalAsked.IsZero() && !st.ApprovalAsked.Before(s.opened) {
		return nil
	}
	return s.record(Event{Kind: EvApprovalAsked, Step: id, Actor: s.opt.Operator, Note: "needs " + ApprovalWhat(step, short)})
}

// recordApproval checks and journals one approval.
func (s *Session) recordApproval(step runbooks.Step, a Approval) error {
	a.By = strings.TrimSpace(termsafe.Line(a.By))
	a.Reason = strings.TrimSpace(a.Reason)
	if step.Approval == nil {
		return fmt.Errorf("step %s needs no approval", step.ID)
	}
	if a.By == "" {
		return fmt.Errorf("step %s: an approval names its approver", step.ID)
	}
	if a.Via != ViaRehearsal && strings.EqualFold(a.By, strings.TrimSpace(s.opt.Operator)) {
		return &SelfApprovalError{Step: step.ID, Operator: s.opt.Operator}
	}
	if step.Approval.ReasonRequired && a.Reason == "" {
		return fmt.Errorf("step %s: an approval of this step must say why (reason required)", step.ID)
	}
	ev := Event{Kind: EvStepApproved, Step: step.ID, Actor: a.By, Host: a.Host, Reason: a.Reason, Via: a.Via}
	if a.Via == ViaStore {
		// Given elsewhere, earlier: the record keeps when. One given
		// here is given when it is journaled.
		ev.Given = a.At
	}
	return s.record(ev)
}

// awaitApprovals waits for step's approvals from Options.Approvals and
// journals each new one before returning: the step's start record comes
// after them. ctx ends the wait (the step stays pending).
func (s *Session) awaitApprovals(ctx context.Context, d Decision) error {
	_, step, err := s.step(d.Step)
	if err != nil {
		return err
	}
	st, _ := s.stepState(d.Step)
	if d.Auto {
		// The rehearsal's own approval, journaled as such.
		return s.recordApproval(step, Approval{By: d.Actor, Host: s.opt.Host, At: s.opt.Clock.Now(), Reason: d.Reason, Via: ViaRehearsal})
	}
	short := ApprovalShort(step, st)
	if short == 0 {
		return nil
	}
	if s.opt.Approvals == nil {
		return &ApprovalError{Step: d.Step, Need: short, Operator: s.opt.Operator}
	}
	if err := s.AskApproval(d.Step); err != nil {
		return err
	}
	need := step.Approval.Count
	for {
		as, err := s.opt.Approvals.WaitApprovals(ctx, d.Step, need)
		if err != nil {
			return err
		}
		for _, a := range as {
			st, _ = s.stepState(d.Step)
			if ApprovalShort(step, st) == 0 {
				return nil
			}
			if approvedBy(st, a.By) {
				continue
			}
			if err := s.recordApproval(step, a); err != nil {
				var self *SelfApprovalError
				if errors.As(err, &self) || strings.TrimSpace(a.Reason) == "" {
					// Not counted: the driver's own (a take-over made
					// an approver the driver), or one without the
					// reason this step requires.
					logDebug(s.opt.Log, "approval not counted", "step", d.Step, "by", a.By, "why", err.Error())
					continue
				}
				return err
			}
		}
		st, _ = s.stepState(d.Step)
		short = ApprovalShort(step, st)
		if short == 0 {
			return nil
		}
		// Wait for as many more as are still short.
		need = len(as) + short
	}
}

func approvedBy(st StepState, by string) bool {
	by = strings.TrimSpace(termsafe.Line(by))
	for _, a := range st.Approvals {
		if a.By == by {
			return true
		}
	}
	return false
}

// journalNotes journals followers' notes as they arrive, each once (the
// run remembers the last one's number), until ctx ends.
func (s *Session) journalNotes(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		s.mu.Lock()
		after := s.run.NoteRef
		s.mu.Unlock()
		notes, err := s.opt.Notes.WaitNotes(ctx, after)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logDebug(s.opt.Log, "follower notes", "err", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for _, n := range notes {
			if n.Ref <= after {
				continue
			}
			if err := s.recordFollowerNote(n); err != nil {
				logDebug(s.opt.Log, "follower note not journaled", "ref", n.Ref, "err", err.Error())
				if s.isClosed() {
					return
				}
			}
			after = n.Ref
		}
	}
}

// recordFollowerNote journals one follower's note on its step (or the
// step the run is at), naming who wrote it and from which host.
func (s *Session) recordFollowerNote(n FollowerNote) error {
	id := n.Step
	if _, _, err := s.step(id); err != nil || id == "" {
		id = ComputeTiming(s.opt.Runbook, s.Snapshot(), s.opt.Clock.Now()).Current
		if id == "" {
			steps := s.opt.Runbook.Steps()
			id = steps[len(steps)-1].ID
		}
	}
	text := strings.TrimSpace(n.Text)
	if text == "" {
		text = "(empty note)"
	}
	return s.record(Event{Kind: EvNote, Step: id, Actor: n.By, Host: n.Host, Note: text, Via: ViaStore, Ref: n.Ref, Given: n.At})
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal == nil
}

// approvalDecision is Next's answer for a step that lacks approvals: wait
// for them (Do waits on Options.Approvals), or, in a rehearsal with no
// source of approvals, the rehearsal's own approval, journaled as such.
func (s *Session) approvalDecision(d Decision, step runbooks.Step, short int, rehearsal bool) Decision {
	d.Op = OpApprove
	if rehearsal && s.opt.Approvals == nil {
		d.Auto = true
		d.Actor, d.Reason = d.Actor+rehearsalApproveActor, rehearsalApproveRemark
		d.Why = "approval given by the rehearsal itself"
		return d
	}
	d.Why = fmt.Sprintf("waits for %s from operators other than %s", ApprovalWhat(step, short), s.opt.Operator)
	return d
}

// WaitsForApprovals reports whether the session has a source of approvals
// to wait on (the store, --approve); without one, approvals are given at
// the front end (Session.Approve).
func (s *Session) WaitsForApprovals() bool { return s.opt.Approvals != nil }
