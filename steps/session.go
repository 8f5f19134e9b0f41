package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// DefaultActionTimeout bounds an action when neither the step nor the action
// says otherwise.
const DefaultActionTimeout = 10 * time.Minute

// Checkpointer commits a step's checkpoint. Issue-free runs without a
// workspace repository pass nil.
type Checkpointer interface {
	Checkpoint(ctx context.Context, req CheckpointRequest) (commit string, err error)
}

// CheckpointRequest is what a checkpoint commit records.
type CheckpointRequest struct {
	Phase   runbooks.Phase
	Step    runbooks.Step
	State   StepState
	Journal string // the journal file, committed with the step's files
	Now     time.Time
	// Paths are the workspace paths the step's actions reported changing
	// (Env.Touch), relative to the workspace.
	Paths []string
	// Undo is true for the checkpoint after a step's undo.
	Undo bool
}

// Options configure a session.
type Options struct {
	Runbook   *runbooks.Runbook
	StateDir  string // where journal, lock and logs live (created 0700)
	Workspace string
	Clock     Clock
	Operator  string
	Host      string
	PID       int
	TakeOver  bool
	Rehearsal bool
	Targets   Targets
	Redactor  *Redactor
	// Checkpointer may be nil: no checkpoints.
	Checkpointer Checkpointer
	// Output receives each line a step prints, already redacted. It is
	// called from the goroutine running the step; it must not block long.
	Output func(step, line string)
	// ConfirmManualUndo takes manual undo actions as done by the operator
	// (rehearsals, or a headless rollback told so); each is journaled as a
	// note naming who confirmed it. Otherwise a manual undo action fails the
	// undo, saying what to do by hand.
	ConfirmManualUndo bool
	// fault: the crash tests' hooks, settable only in crashtest builds
	// (SetJournalFault).
	fault faultHook
}

// Session is one operator's hold on a run: the lock, the journal and the
// folded state. Methods are safe for concurrent use; one step runs at a time.
type Session struct {
	opt     Options
	lock    *Lock
	journal *Journal
	mu      sync.Mutex // guards run and journal
	run     *Run
	work    sync.Mutex // one step's actions at a time
	touched map[string]*PathSet
	// cur is the step whose actions run now and how to cancel them
	// (guarded by mu).
	cur *inFlight
	// Recovered tells what opening found: steps that were in flight and a
	// torn journal tail.
	Recovered Recovery
}

// Recovery is what Open found and repaired.
type Recovery struct {
	Dirty []string
	Torn  *TornTail
	New   bool
	// RunbookChanged: the runbook's source differs from the one the run
	// last opened with (its digest). Steps already done are not re-checked.
	RunbookChanged bool
}

// JournalPath is where a runbook's journal lives in a state directory.
func JournalPath(stateDir, runbookID string) string {
	return filepath.Join(stateDir, runbookID, "journal")
}

// RunDir is the per-runbook state directory.
func RunDir(stateDir, runbookID string) string { return filepath.Join(stateDir, runbookID) }

// Open takes the lock, reads the journal and records the (re)opening. Steps
// that were in flight when the last session died are journaled dirty.
func Open(opt Options) (*Session, error) {
	if opt.Runbook == nil {
		return nil, errors.New("open session: no runbook")
	}
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Redactor == nil {
		opt.Redactor = NewRedactor()
	}
	if opt.PID == 0 {
		opt.PID = os.Getpid()
	}
	if opt.Host == "" {
		opt.Host, _ = os.Hostname()
	}
	if err := os.MkdirAll(opt.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", opt.StateDir, err)
	}
	dir := RunDir(opt.StateDir, opt.Runbook.ID)
	lock, err := AcquireLock(dir, LockInfo{Holder: opt.Operator, Host: opt.Host, PID: opt.PID, Since: opt.Clock.Now()}, opt.TakeOver)
	if err != nil {
		return nil, err
	}
	j, events, torn, err := OpenJournal(JournalPath(opt.StateDir, opt.Runbook.ID), opt.Redactor)
	if err != nil {
		lock.Release()
		return nil, err
	}
	j.fault = opt.fault
	run, err := Fold(events)
	if err != nil {
		j.Close()
		lock.Release()
		return nil, fmt.Errorf("fold journal %s: %w", j.Path(), err)
	}
	if run.Runbook != "" && run.Runbook != opt.Runbook.ID {
		j.Close()
		lock.Release()
		return nil, fmt.Errorf("journal %s belongs to runbook %q, not %q", j.Path(), run.Runbook, opt.Runbook.ID)
	}
	if len(events) > 0 && run.Rehearsal != opt.Rehearsal {
		j.Close()
		lock.Release()
		return nil, &RehearsalMismatchError{Journal: j.Path(), Rehearsal: run.Rehearsal, Started: run.StartedAt}
	}
	s := &Session{opt: opt, lock: lock, journal: j, run: run}
	s.Recovered.Torn = torn
	s.Recovered.RunbookChanged = run.Digest != "" && run.Digest != opt.Runbook.Digest
	s.learnSecrets()
	now := opt.Clock.Now()
	if len(events) == 0 {
		s.Recovered.New = true
		err = s.record(Event{Kind: EvRunStarted, At: now, Runbook: opt.Runbook.ID, Digest: opt.Runbook.Digest, Actor: opt.Operator, Host: opt.Host, PID: opt.PID, Rehearsal: opt.Rehearsal, Date: opt.Runbook.Schedule.Date})
	} else {
		note := ""
		if torn != nil {
			note = torn.String()
		}
		err = s.record(Event{Kind: EvRunResumed, At: now, Digest: opt.Runbook.Digest, Actor: opt.Operator, Host: opt.Host, PID: opt.PID, Note: note})
	}
	if err == nil {
		for _, id := range run.InFlight(s.order()) {
			st := run.Step(id)
			if err = s.record(Event{Kind: EvStepDirty, At: now, Step: id, Note: "process ended while " + st.Status.String()}); err != nil {
				break
			}
			s.Recovered.Dirty = append(s.Recovered.Dirty, id)
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Session) order() []string {
	var ids []string
	for _, st := range s.opt.Runbook.Steps() {
		ids = append(ids, st.ID)
	}
	// Steps the journal knows and the runbook no longer has are still
	// in flight candidates.
	for id := range s.run.Steps {
		if _, _, ok := s.opt.Runbook.StepRef(id); !ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// Close releases the journal and the lock.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.journal != nil {
		errs = append(errs, s.journal.Close())
		s.journal = nil
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Release())
		s.lock = nil
	}
	return errors.Join(errs...)
}

// Runbook is the session's runbook.
func (s *Session) Runbook() *runbooks.Runbook { return s.opt.Runbook }

// Clock is the session's clock.
func (s *Session) Clock() Clock { return s.opt.Clock }

// JournalFile is the path of the journal.
func (s *Session) JournalFile() string { return JournalPath(s.opt.StateDir, s.opt.Runbook.ID) }

// stepState reads one step's state (and whether the run is a rehearsal)
// without copying the whole run.
func (s *Session) stepState(id string) (StepState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run.Step(id), s.run.Rehearsal
}

// Snapshot returns a copy of the run state, safe to read while steps run.
func (s *Session) Snapshot() *Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run.Clone()
}

// Clone deep-copies a run.
func (r *Run) Clone() *Run {
	c := *r
	c.Steps = make(map[string]*StepState, len(r.Steps))
	for k, v := range r.Steps {
		vv := *v
		// Clip: the run appends notes in place (see Apply); a snapshot
		// must never share that spare room.
		vv.Notes = vv.Notes[:len(vv.Notes):len(vv.Notes)]
		c.Steps[k] = &vv
	}
	return &c
}

// record journals an event (fsynced) and folds it in. The state changes
// only after the record is durable.
func (s *Session) record(ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordLocked(ev)
}

func (s *Session) recordLocked(ev Event) error {
	if s.journal == nil {
		return errors.New("session is closed")
	}
	if ev.At.IsZero() {
		ev.At = s.opt.Clock.Now()
	}
	// Check legality before writing: an illegal event never reaches disk.
	if ev.Step != "" {
		if _, _, err := Transition(s.run.Step(ev.Step), ev); err != nil {
			return fmt.Errorf("step %s: %w", ev.Step, err)
		}
	}
	written, err := s.journal.Append(ev)
	if err != nil {
		return err
	}
	if _, err := s.run.Apply(written); err != nil {
		return fmt.Errorf("journal and state disagree: %w", err)
	}
	return nil
}

func (s *Session) step(id string) (runbooks.Phase, runbooks.Step, error) {
	pi, si, ok := s.opt.Runbook.StepRef(id)
	if !ok {
		return runbooks.Phase{}, runbooks.Step{}, fmt.Errorf("no step %q in runbook %s", id, s.opt.Runbook.ID)
	}
	p := s.opt.Runbook.Phases[pi]
	return p, p.Steps[si], nil
}

// Start runs a step's do actions (a first run, or a retry after failure,
// undo or a dirty stop), then its verify actions. A manual action stops it
// in AwaitingOperator; Confirm continues.
func (s *Session) Start(ctx context.Context, id string) error {
	return s.start(ctx, id, s.opt.Operator)
}

func (s *Session) start(ctx context.Context, id, actor string) error {
	_, _, err := s.step(id)
	if err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	st, _ := s.stepState(id)
	if err := s.record(Event{Kind: EvStepStarted, Step: id, Attempt: st.Attempts + 1, Actor: actor}); err != nil {
		return err
	}
	return s.continueDo(ctx, id, 0, false)
}

// Confirm records that the operator did the manual action the step awaits,
// and continues the step.
func (s *Session) Confirm(ctx context.Context, id, actor, remark string) error {
	if _, _, err := s.step(id); err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	st, _ := s.stepState(id)
	_, step, _ := s.step(id)
	if st.Manual >= len(step.Do) || (st.Manual >= 0 && step.Do[st.Manual].Type != "manual") {
		// The runbook changed while the step waited: the index no longer
		// points at the manual action it waited on.
		return fmt.Errorf("step %s: the runbook changed since it began waiting for the operator; retry it from the start or mark it done", id)
	}
	if err := s.record(Event{Kind: EvStepConfirmed, Step: id, Actor: actor, Reason: remark, Action: st.Manual}); err != nil {
		return err
	}
	return s.continueDo(ctx, id, st.Manual+1, true)
}

// Verify runs a step's verify actions: after a dirty stop, or to re-check.
func (s *Session) Verify(ctx context.Context, id string) error {
	return s.verify(ctx, id, s.opt.Operator)
}

func (s *Session) verify(ctx context.Context, id, actor string) error {
	_, step, err := s.step(id)
	if err != nil {
		return err
	}
	if len(step.Verify) == 0 {
		return fmt.Errorf("step %s has no verify actions: retry it, mark it done or undo it", id)
	}
	s.work.Lock()
	defer s.work.Unlock()
	st, _ := s.stepState(id)
	recheck := st.Status == Succeeded
	if err := s.record(Event{Kind: EvStepVerifying, Step: id, Actor: actor}); err != nil {
		return err
	}
	return s.finishVerify(ctx, id, step, recheck)
}

func (s *Session) continueDo(ctx context.Context, id string, from int, confirmed bool) error {
	phase, step, _ := s.step(id)
	if len(step.Do) == 0 && !confirmed {
		// A step with no do actions is work for a person: it waits for
		// the operator like a manual action (Action -1: none of the list).
		return s.record(Event{Kind: EvStepAwaiting, Step: id, Action: -1})
	}
	out := s.output(id)
	defer out.Close()
	actx, done := s.begin(ctx, id)
	defer done()
	for i := from; i < len(step.Do); i++ {
		a := step.Do[i]
		err := s.runAction(actx, step, a, out, step.Retries)
		if IsNeedsOperator(err) {
			return s.record(Event{Kind: EvStepAwaiting, Step: id, Action: i})
		}
		if err != nil {
			return s.fail(actx, id, EvStepFailed, actionLabel("do", i, a), err)
		}
	}
	done()
	if len(step.Verify) > 0 {
		if err := s.record(Event{Kind: EvStepVerifying, Step: id}); err != nil {
			return err
		}
		return s.finishVerify(ctx, id, step, false)
	}
	if err := s.record(Event{Kind: EvStepSucceeded, Step: id}); err != nil {
		return err
	}
	return s.checkpoint(ctx, phase, step)
}

// finishVerify runs the verify actions. recheck: the step had already
// succeeded, and a passing re-check changes nothing worth a checkpoint.
func (s *Session) finishVerify(ctx context.Context, id string, step runbooks.Step, recheck bool) error {
	phase, _, _ := s.step(id)
	out := s.output(id)
	defer out.Close()
	actx, done := s.begin(ctx, id)
	defer done()
	for i, a := range step.Verify {
		if err := s.runAction(actx, step, a, out, 0); err != nil {
			if IsNeedsOperator(err) {
				err = errors.New("a manual action cannot verify: use mark done")
			}
			return s.fail(actx, id, EvStepFailed, actionLabel("verify", i, a), err)
		}
	}
	done()
	if err := s.record(Event{Kind: EvStepSucceeded, Step: id}); err != nil {
		return err
	}
	if recheck {
		return nil
	}
	return s.checkpoint(ctx, phase, step)
}

// StepError is a step that failed or was cancelled; the failure is
// journaled. Error() names the step and the action; Hint() says what the
// operator can do next.
type StepError struct {
	Step string
	// Err is the failure, redacted, beginning with the action's label.
	Err error
	// Action names the failing action: `do "apply compose"` when it has a
	// name:, else `do 2 (shell)`.
	Action string
	// Status is where the step stands now (Failed after a failure or a
	// cancel).
	Status Status
	// CancelledBy names who cancelled the step (empty for a failure).
	CancelledBy string
	// Next lists what may be done with the step now, from Transition's
	// table and the step's actions (see Choices).
	Next []Op
}

func (e *StepError) Error() string { return "step " + e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// Hint is the next thing the operator can do, in words: "next: retry,
// verify, undo, mark done or skip". Empty when nothing is possible.
func (e *StepError) Hint() string {
	if len(e.Next) == 0 {
		return ""
	}
	return "next: " + OpsText(e.Next, e.Status)
}

// actionLabel names an action in a failure: by its name: when it has one.
func actionLabel(list string, i int, a runbooks.Action) string {
	if a.Name != "" {
		return fmt.Sprintf("%s %q", list, a.Name)
	}
	return fmt.Sprintf("%s %d (%s)", list, i+1, a.Type)
}

// fail journals the end of a step's work that did not succeed: cancelled
// when the operator cancelled it (Cancel), else failed (kind). ctx is the
// context the actions ran under.
func (s *Session) fail(ctx context.Context, id string, kind EventKind, label string, cause error) error {
	msg := label + ": " + cause.Error()
	ev := Event{Kind: kind, Step: id}
	var c *CancelledError
	switch {
	case errors.As(context.Cause(ctx), &c):
		ev.Kind, ev.Actor = EvStepCancelled, c.By
		ev.Note = "cancel asked at " + c.At.UTC().Format(time.RFC3339Nano)
	case errors.Is(cause, context.Canceled):
		msg = "interrupted by the operator: " + msg
	}
	ev.Err = msg
	if err := s.record(ev); err != nil {
		return errors.Join(cause, err)
	}
	_, step, _ := s.step(id)
	st, _ := s.stepState(id)
	if ev.Kind == EvStepCancelled {
		msg = st.LastErr
	}
	return &StepError{
		Step: id, Err: errors.New(s.opt.Redactor.String(msg)), Action: label,
		Status: st.Status, CancelledBy: st.CancelledBy,
		Next: Choices(st, len(step.Verify) > 0, len(step.Undo) > 0),
	}
}

// CancelledError is the cause of a context cancelled by Session.Cancel.
type CancelledError struct {
	By string
	At time.Time
}

func (e *CancelledError) Error() string { return "cancelled by " + e.By }

// inFlight is the step whose actions run now.
type inFlight struct {
	step   string
	cancel context.CancelCauseFunc
}

// begin marks step id's actions as running under a context that Cancel
// can cancel; done (idempotent) ends that.
func (s *Session) begin(ctx context.Context, id string) (context.Context, func()) {
	actx, cancel := context.WithCancelCause(ctx)
	f := &inFlight{step: id, cancel: cancel}
	s.mu.Lock()
	s.cur = f
	s.mu.Unlock()
	return actx, func() {
		s.mu.Lock()
		if s.cur == f {
			s.cur = nil
		}
		s.mu.Unlock()
	}
}

// Cancel cancels the actions of step id that run now: their context is
// cancelled (a shell action's process group is killed, a query cancelled,
// a wait stopped). It returns at once; the call running the step returns
// a *StepError once the journal holds EvStepCancelled (actor: by). The
// step is then Failed and offers retry, verify, undo or mark done. A
// checkpoint already under way is not cut.
func (s *Session) Cancel(id, by string) error {
	if strings.TrimSpace(by) == "" {
		return errors.New("cancel: who cancels is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.cur.step != id {
		st := s.run.Step(id)
		return fmt.Errorf("step %s is %s, not running: nothing to cancel", id, st.Status)
	}
	s.cur.cancel(&CancelledError{By: by, At: s.opt.Clock.Now()})
	return nil
}

// Running is the step whose actions run now, or "".
func (s *Session) Running() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return ""
	}
	return s.cur.step
}

// runAction runs one action with the step's timeout, retrying a failure up
// to retries times.
func (s *Session) runAction(ctx context.Context, step runbooks.Step, a runbooks.Action, out io.Writer, retries int) error {
	act, ok := a.Params.(Action)
	if !ok {
		return fmt.Errorf("action %s at %s cannot run (type %T)", a.Type, a.Pos, a.Params)
	}
	env := s.env(step.ID, out)
	timeout := step.Timeout
	if timeout == 0 {
		timeout = DefaultActionTimeout
	}
	var err error
	for try := 0; try <= retries; try++ {
		if try > 0 {
			env.Printf("retry %d of %d after: %v", try, retries, err)
		}
		label := a.Type
		if a.Name != "" {
			label = a.Name
		}
		env.Printf("▸ %s", label)
		actx, cancel := context.WithTimeout(ctx, timeout)
		err = act.Run(actx, env)
		if err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		cancel()
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			// The action did not say it was cancelled (a killed child says
			// "signal: killed"); keep the cause, so the failure is recorded
			// as an interruption.
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if err == nil || IsNeedsOperator(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (s *Session) env(step string, out io.Writer) *Env {
	st, _ := s.stepState(step)
	return &Env{
		Out: out, Targets: s.opt.Targets, Redact: s.opt.Redactor,
		Workspace: s.opt.Workspace, StateDir: s.opt.StateDir, Step: step,
		Rehearsal: s.opt.Rehearsal, Clock: s.opt.Clock, StepStarted: st.StartedAt,
		SaveDir: filepath.Join(RunDir(s.opt.StateDir, s.opt.Runbook.ID), "saved", step),
		Touched: s.touchedSet(step),
	}
}

func (s *Session) touchedSet(step string) *PathSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.touched == nil {
		s.touched = map[string]*PathSet{}
	}
	ps, ok := s.touched[step]
	if !ok {
		ps = new(PathSet)
		s.touched[step] = ps
	}
	return ps
}

// Env describes the environment a step's actions see, for plan views.
func (s *Session) Env(step string) *Env { return s.env(step, io.Discard) }

// Undo runs a step's undo actions.
func (s *Session) Undo(ctx context.Context, id string) error {
	return s.undo(ctx, id, s.opt.Operator)
}

func (s *Session) undo(ctx context.Context, id, actor string) error {
	phase, step, err := s.step(id)
	if err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	if err := s.record(Event{Kind: EvUndoStarted, Step: id, Actor: actor}); err != nil {
		return err
	}
	out := s.output(id)
	defer out.Close()
	actx, done := s.begin(ctx, id)
	defer done()
	for i, a := range step.Undo {
		if err := s.runAction(actx, step, a, out, step.Retries); err != nil {
			var nop *NeedsOperatorError
			if errors.As(err, &nop) && (s.opt.ConfirmManualUndo || s.opt.Rehearsal) {
				if err := s.record(Event{Kind: EvNote, Step: id, Actor: actor, Note: manualUndoNote(s.opt.Rehearsal, nop.Prompt)}); err != nil {
					return err
				}
				continue
			}
			if IsNeedsOperator(err) {
				err = fmt.Errorf("manual undo: %w; do it by hand, then undo again with manual undos confirmed", err)
			}
			return s.fail(actx, id, EvUndoFailed, actionLabel("undo", i, a), err)
		}
	}
	done()
	if err := s.record(Event{Kind: EvUndoFinished, Step: id}); err != nil {
		return err
	}
	return s.checkpoint(ctx, phase, step)
}

// MarkDone declares a dirty, failed or awaiting step done. It waits for a
// running step: its checkpoint must not sweep up that step's files.
func (s *Session) MarkDone(ctx context.Context, id, reason string) error {
	return s.markDone(ctx, id, reason, s.opt.Operator)
}

func (s *Session) markDone(ctx context.Context, id, reason, actor string) error {
	phase, step, err := s.step(id)
	if err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	if err := s.record(Event{Kind: EvStepMarkedDone, Step: id, Reason: reason, Actor: actor}); err != nil {
		return err
	}
	return s.checkpoint(ctx, phase, step)
}

// Skip skips a step; the reason is required and recorded. Like MarkDone,
// it waits for a running step.
func (s *Session) Skip(ctx context.Context, id, reason string) error {
	return s.skip(ctx, id, reason, s.opt.Operator)
}

func (s *Session) skip(ctx context.Context, id, reason, actor string) error {
	phase, step, err := s.step(id)
	if err != nil {
		return err
	}
	s.work.Lock()
	defer s.work.Unlock()
	if err := s.record(Event{Kind: EvStepSkipped, Step: id, Reason: reason, Actor: actor}); err != nil {
		return err
	}
	return s.checkpoint(ctx, phase, step)
}

// Note adds an operator note to a step.
func (s *Session) Note(id, text string) error {
	if _, _, err := s.step(id); err != nil {
		return err
	}
	return s.record(Event{Kind: EvNote, Step: id, Note: text, Actor: s.opt.Operator})
}

// Tick ticks or unticks a checklist item.
func (s *Session) Tick(id string, item int, checked bool) error {
	_, step, err := s.step(id)
	if err != nil {
		return err
	}
	if item < 0 || item >= len(step.Checklist) {
		return fmt.Errorf("step %s has no checklist item %d", id, item+1)
	}
	return s.record(Event{Kind: EvChecklistTick, Step: id, Item: item, Checked: checked, Actor: s.opt.Operator})
}

// Finish records the end of the run when every step is done.
func (s *Session) Finish() error {
	r := s.Snapshot()
	if r.Finished {
		return nil
	}
	for _, st := range s.opt.Runbook.Steps() {
		if !r.Step(st.ID).Status.Done() {
			return fmt.Errorf("step %s is %s", st.ID, r.Step(st.ID).Status)
		}
	}
	return s.record(Event{Kind: EvRunFinished})
}

func (s *Session) checkpoint(ctx context.Context, phase runbooks.Phase, step runbooks.Step) error {
	if s.opt.Checkpointer == nil || !phase.Checkpoint {
		return nil
	}
	st, _ := s.stepState(step.ID)
	commit, err := s.opt.Checkpointer.Checkpoint(ctx, CheckpointRequest{
		Phase: phase, Step: step, State: st,
		Journal: s.JournalFile(), Now: s.opt.Clock.Now(),
		Paths: s.touchedSet(step.ID).List(), Undo: st.Status == Undone,
	})
	if err != nil {
		nerr := s.record(Event{Kind: EvNote, Step: step.ID, Note: "checkpoint failed: " + err.Error(), Actor: "runbook"})
		return errors.Join(fmt.Errorf("checkpoint after step %s: %w", step.ID, err), nerr)
	}
	if commit == "" {
		return nil
	}
	return s.record(Event{Kind: EvCheckpoint, Step: step.ID, Commit: commit})
}

// output returns the line writer for a step: each complete line is redacted,
// appended to the step's log file and handed to Options.Output.
func (s *Session) output(step string) *lineWriter {
	w := &lineWriter{step: step, red: s.opt.Redactor, sink: s.opt.Output}
	dir := filepath.Join(RunDir(s.opt.StateDir, s.opt.Runbook.ID), "logs")
	if err := os.MkdirAll(dir, 0o700); err == nil {
		f, err := os.OpenFile(filepath.Join(dir, step+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err == nil {
			w.log = f
			fmt.Fprintf(f, "--- %s\n", s.opt.Clock.Now().UTC().Format(time.RFC3339))
		}
	}
	return w
}

// LogPath is the output log of a step.
func (s *Session) LogPath(step string) string {
	return filepath.Join(RunDir(s.opt.StateDir, s.opt.Runbook.ID), "logs", step+".log")
}

type lineWriter struct {
	mu   sync.Mutex
	step string
	red  *Redactor
	sink func(step, line string)
	log  *os.File
	buf  []byte
	// inKey: inside a PEM private key block, whose body lines carry no
	// marker of their own and are masked until its END line.
	inKey bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		// A very long line without a newline: flush it in pieces.
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) emit(line string) {
	raw := strings.TrimRight(line, "\r")
	isEnd := strings.Contains(raw, "-----END") && strings.Contains(raw, "PRIVATE KEY-----")
	switch {
	case w.inKey:
		if isEnd {
			w.inKey = false
		}
		raw = Mask
	case strings.Contains(raw, "-----BEGIN") && strings.Contains(raw, "PRIVATE KEY-----"):
		w.inKey = !isEnd
	}
	line = w.red.String(raw)
	if w.log != nil {
		w.log.WriteString(line + "\n")
	}
	if w.sink != nil {
		w.sink(w.step, line)
	}
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
	if w.log != nil {
		err := w.log.Close()
		w.log = nil
		return err
	}
	return nil
}

// RollbackOrder lists the steps a rollback to `to` undoes, latest first:
// every step that did work (succeeded, failed, dirty or awaiting the
// operator), in the reverse of the journal's order. `to` is "start", a step
// id (that step and everything done after it are undone) or a phase id
// (the phase's first done step and everything after it).
func (s *Session) RollbackOrder(to string) ([]string, error) {
	return RollbackOrder(s.opt.Runbook, s.Snapshot(), to)
}

// RollbackOrder is Session.RollbackOrder for a run read from a journal
// (a dry run takes no lock and writes nothing).
func RollbackOrder(rb *runbooks.Runbook, run *Run, to string) ([]string, error) {
	type done struct {
		id  string
		seq uint64
	}
	var list []done
	for _, st := range rb.Steps() {
		ss := run.Step(st.ID)
		switch ss.Status {
		case Succeeded, Failed, Dirty, AwaitingOperator:
			list = append(list, done{st.ID, ss.Seq})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq > list[j].seq })
	var from uint64 // undo every step whose seq is at least this
	switch {
	case to == "start" || to == "":
	default:
		ids := []string{to}
		if _, _, ok := rb.StepRef(to); !ok {
			ids = nil
			for _, p := range rb.Phases {
				if p.ID == to {
					for _, st := range p.Steps {
						ids = append(ids, st.ID)
					}
				}
			}
			if ids == nil {
				return nil, fmt.Errorf("rollback --to %q: no step or phase of that id in %s (or use start)", to, rb.ID)
			}
		}
		from = ^uint64(0)
		for _, d := range list {
			for _, id := range ids {
				if d.id == id && d.seq < from {
					from = d.seq
				}
			}
		}
		if from == ^uint64(0) {
			return nil, fmt.Errorf("rollback --to %s: it has not been done, so there is nothing to roll back to", to)
		}
	}
	var out []string
	for _, d := range list {
		if d.seq >= from {
			out = append(out, d.id)
		}
	}
	return out, nil
}

// learnSecrets teaches the redactor the secrets that actions of this
// runbook left behind in earlier processes.
func (s *Session) learnSecrets() {
	for _, st := range s.opt.Runbook.Steps() {
		for _, list := range [][]runbooks.Action{st.Do, st.Verify, st.Undo} {
			for _, a := range list {
				if src, ok := a.Params.(SecretSource); ok {
					s.opt.Redactor.Add(src.KnownSecrets(s.env(st.ID, io.Discard))...)
				}
			}
		}
	}
}

// RehearsalMismatchError: a real run was asked to resume a rehearsal's
// journal, or the other way round. Never mixed: a rehearsal confirms manual
// steps on its own, which the real window must not inherit.
type RehearsalMismatchError struct {
	Journal   string
	Rehearsal bool // what the journal holds
	Started   time.Time
}

func (e *RehearsalMismatchError) Error() string {
	if e.Rehearsal {
		return fmt.Sprintf("journal %s holds a rehearsal (started %s); a real run needs a journal of its own: use another --state, or add --rehearsal to continue the rehearsal", e.Journal, e.Started.Format("2006-01-02 15:04 MST"))
	}
	return fmt.Sprintf("journal %s holds a real run (started %s); a rehearsal needs a journal of its own: use another --state", e.Journal, e.Started.Format("2006-01-02 15:04 MST"))
}
