package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/termsafe"
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
	// StaleBefore, when set, says that the previous holder of this run
	// died on this host (this session took its lock over): git lock files
	// it left in the workspace, older than this moment, may be cleared
	// when no git process runs there. Note journals what was cleared.
	StaleBefore time.Time
	Note        func(string)
	// Paths are the workspace paths the step's actions reported changing
	// (Env.Touch), relative to the workspace.
	Paths []string
	// Undo is true for the checkpoint after a step's undo.
	Undo bool
}

// Options configure a session.
type Options struct {
	Runbook  *runbooks.Runbook
	StateDir string // where journal, lock and logs live (created 0700)
	// FoldCache and FoldKey keep fold snapshots of the journal between
	// processes (see ReadRunCached): opening a long run checks every
	// record but folds only those past the snapshot. Nil: no snapshots.
	FoldCache runbooks.Cache
	FoldKey   string
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
	// DBLock is the run lock on the runbook's database target (nil: none).
	// Open takes it before it records anything; the session keeps it
	// (checked and taken again at every step boundary) and Close releases
	// it.
	DBLock DBLock
	// AllowNoDBLock: when the run lock cannot be taken at Open (the
	// database is unreachable or refuses the credentials), go on without
	// it (Recovered.Warnings says so) instead of failing with *DBLockError.
	// A lock held by another session always stops the opening.
	AllowNoDBLock bool
	// Share, when set, writes the run to a shared store as well: after
	// the local journal, every record (see share.go). Nil: local only.
	Share *Share
	// Log receives debug events (action start and end, journal appends,
	// lock changes); nil: none.
	Log *slog.Logger
	// Approvals is where the approvals of steps that need them come from
	// (the shared-run store, or --approve); nil: only those given at the
	// front end (Session.Approve). See approval.go.
	Approvals Approvals
	// Notes brings followers' notes (the store); the session journals
	// each as it arrives. Nil: none.
	Notes Notes
	// Notify is told the run's notable moments (see notable.go), each
	// after the record that shows it is durable, from the goroutine that
	// recorded it, with the session's state locked: it must not block or
	// call the session. Nil: none.
	Notify func(Moment)
	// NotifyEvery is how often the clock is checked for moments no record
	// brings (a step over budget, the point of no return near); default
	// 15s.
	NotifyEvery time.Duration
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
	// opened is when this session opened the run.
	opened time.Time
	// dbLockNoted: a lost run lock was noted in the journal (once until it
	// is taken again).
	dbLockNoted bool
	// cur is the step whose actions run now and how to cancel them
	// (guarded by mu).
	cur *inFlight
	// Recovered tells what opening found: steps that were in flight and a
	// torn journal tail.
	Recovered Recovery
	// watch: the notable moments told so far (guarded by mu).
	watch moments
	// bg stops the session's own goroutines (follower notes, the
	// notification clock); bgDone ends when they have.
	bg     context.CancelFunc
	bgDone sync.WaitGroup
	// shared is the session's hold on the shared store (nil: local only).
	shared *shared
}

// Recovery is what Open found and repaired.
type Recovery struct {
	Dirty []string
	Torn  *TornTail
	New   bool
	// RunbookChanged: the runbook's source differs from the one the run
	// last opened with (its digest). Steps already done are not re-checked.
	RunbookChanged bool
	// Owed lists the steps whose checkpoint an earlier session owed and
	// this one made at open.
	Owed []string
	// TookOver is the dead holder whose lock this session took over
	// (zero when the lock was free or new).
	TookOver LockInfo
	// Warnings are what the operator should know and need not stop for
	// (e.g. going on without the database run lock).
	Warnings []string
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
	// The database lock before the journal: a refused operator leaves no
	// trace in it.
	dbWarn, err := takeDBLock(context.Background(), opt)
	if err != nil {
		lock.Release()
		return nil, err
	}
	if dbWarn == "" && opt.DBLock != nil {
		logDebug(opt.Log, "run lock taken", "target", opt.DBLock.Target())
	}
	release := func() {
		lock.Release()
		if opt.DBLock != nil {
			opt.DBLock.Release()
		}
	}
	// The journal is read once, folded as it is read.
	j, run, torn, err := OpenJournalCached(JournalPath(opt.StateDir, opt.Runbook.ID), opt.Redactor, opt.FoldCache, opt.FoldKey)
	if err != nil {
		release()
		return nil, err
	}
	j.fault = opt.fault
	if run.Runbook != "" && run.Runbook != opt.Runbook.ID {
		j.Close()
		release()
		return nil, fmt.Errorf("journal %s belongs to runbook %q, not %q", j.Path(), run.Runbook, opt.Runbook.ID)
	}
	if run.LastSeq > 0 && run.Rehearsal != opt.Rehearsal {
		j.Close()
		release()
		return nil, &RehearsalMismatchError{Journal: j.Path(), Rehearsal: run.Rehearsal, Started: run.StartedAt}
	}
	s := &Session{opt: opt, lock: lock, journal: j, run: run}
	s.Recovered.Torn = torn
	s.Recovered.TookOver = lock.Previous
	s.opened = opt.Clock.Now()
	if dbWarn != "" {
		s.Recovered.Warnings = append(s.Recovered.Warnings, dbWarn)
		s.dbLockNoted = true
	}
	s.Recovered.RunbookChanged = run.Digest != "" && run.Digest != opt.Runbook.Digest
	s.learnSecrets()
	now := opt.Clock.Now()
	tookOver := ""
	if opt.Share != nil {
		// The store's records first: a machine whose journal is empty or
		// behind opens exactly as after a local crash.
		if tookOver, err = s.openShared(now); err != nil {
			s.Close()
			return nil, err
		}
		if err = s.checkShared(); err != nil {
			s.Close()
			return nil, err
		}
	}
	// The workspace must be at the run's last checkpoint, also when the
	// run's records came from the store just now (a take-over on another
	// machine): checked before this session records anything.
	wsNote, err := checkWorkspace(opt, run) // steps/workspace.go
	if err != nil {
		s.Close()
		return nil, err
	}
	if run.LastSeq == 0 {
		s.Recovered.New = true
		err = s.record(Event{Kind: EvRunStarted, At: now, Runbook: opt.Runbook.ID, Digest: opt.Runbook.Digest, Actor: opt.Operator, Host: opt.Host, PID: opt.PID, Rehearsal: opt.Rehearsal, Date: opt.Runbook.Schedule.Date})
	} else {
		note := ""
		if torn != nil {
			note = torn.String()
		}
		if tookOver != "" {
			// Who was displaced, and how stale they were.
			note = strings.TrimPrefix(note+"; "+tookOver, "; ")
		}
		err = s.record(Event{Kind: EvRunResumed, At: now, Digest: opt.Runbook.Digest, Actor: opt.Operator, Host: opt.Host, PID: opt.PID, Note: note})
	}
	if err == nil {
		for _, id := range run.InFlight(s.order()) {
			st := run.Step(id)
			ev := Event{Kind: EvStepDirty, At: now, Step: id, Note: "process ended while " + st.Status.String()}
			if fi, err := os.Stat(s.LogPath(id)); err == nil {
				ev.Until = fi.ModTime().UTC() // the machine's fold keeps it only within the attempt
			}
			if err = s.record(ev); err != nil {
				break
			}
			s.Recovered.Dirty = append(s.Recovered.Dirty, id)
		}
	}
	if err == nil {
		err = s.workspaceNote(wsNote)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	s.payOwed(context.Background())
	s.pushOwed()
	s.startBackground()
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

// Close releases the journal and the lock (and the shared store's lease,
// once the store holds every record).
func (s *Session) Close() error {
	s.stopBackground()
	var errs []error
	errs = append(errs, s.closeShared())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal != nil {
		errs = append(errs, s.journal.Close())
		s.journal = nil
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Release())
		s.lock = nil
		if s.opt.DBLock != nil {
			s.opt.DBLock.Release()
		}
	}
	return errors.Join(errs...)
}

// Runbook is the session's runbook.
func (s *Session) Runbook() *runbooks.Runbook { return s.opt.Runbook }

// Clock is the session's clock.
func (s *Session) Clock() Clock { return s.opt.Clock }

// JournalFile is the path of the journal.
func (s *Session) JournalFile() string { return JournalPath(s.opt.StateDir, s.opt.Runbook.ID) }

// safeEvent makes the free text of an event terminal-safe: errors carry
// what commands and servers said, notes and reasons what people typed.
func safeEvent(ev Event) Event {
	ev.Reason = termsafe.Text(ev.Reason)
	ev.Note = termsafe.Text(ev.Note)
	ev.Err = termsafe.Text(ev.Err)
	ev.Actor = termsafe.Line(ev.Actor)
	return ev
}

// stepState reads one step's state (and whether the run is a rehearsal)
// without copying the whole run.
func (s *Session) stepState(id string) (StepState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run.Step(id), s.run.Rehearsal
}

// Step returns one step's state, safe to read while steps run, without
// copying the whole run (Snapshot) to read it.
func (s *Session) Step(id string) StepState {
	st, _ := s.stepState(id)
	return st
}

// Snapshot returns a copy of the run state, safe to read while steps run.
func (s *Session) Snapshot() *Run {
	s.mu.Lock()
	c := s.run.Clone()
	s.mu.Unlock()
	c.Share = s.ShareStatus()
	return c
}

// Clone deep-copies a run.
func (r *Run) Clone() *Run {
	c := *r
	c.owed = r.Owed()
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
	_, err := s.recordEffectsLocked(ev)
	return err
}

// recordEffects journals an event and returns the effects Transition
// asked for: the driver performs exactly those (see drive).
func (s *Session) recordEffects(ev Event) ([]Effect, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordEffectsLocked(ev)
}

func (s *Session) recordEffectsLocked(ev Event) ([]Effect, error) {
	if s.journal == nil {
		return nil, errors.New("session is closed")
	}
	if ev.At.IsZero() {
		ev.At = s.opt.Clock.Now()
	}
	// The record as it will be written (numbered, redacted), folded once:
	// checked before writing, so an illegal event never reaches disk, and
	// committed to the state only once it is durable.
	ev.Seq = s.journal.Seq() + 1
	ev = s.markSaved(ev)
	if ev.Actor != "" && ev.Actor != "runbook" && ev.Host == "" {
		// A decision names its machine too: a shared run has several.
		ev.Host = s.opt.Host
	}
	ev = safeEvent(s.opt.Redactor.Event(ev))
	var p prepared
	if err := s.run.prepare(ev, &p); err != nil {
		return nil, err
	}
	if err := s.shareRefuses(); err != nil {
		return nil, err // taken over: this session writes nothing more
	}
	written, err := s.journal.Append(ev)
	if err != nil {
		return nil, err
	}
	logDebug(s.opt.Log, "journal append", "seq", ev.Seq, "kind", ev.Kind.String(), "step", ev.Step)
	prevOperator := s.run.Operator
	s.shareRecord(written)
	s.run.commit(&p)
	if s.opt.Notify != nil {
		s.tell(s.watch.record(s.opt.Runbook, ev, s.run, prevOperator, s.opt.Clock.Now()))
	}
	return p.eff, nil
}

func (s *Session) step(id string) (runbooks.Phase, runbooks.Step, error) {
	p, st, ok := s.opt.Runbook.Step(id)
	if !ok {
		return runbooks.Phase{}, runbooks.Step{}, fmt.Errorf("no step %q in runbook %s", id, s.opt.Runbook.ID)
	}
	return p, st, nil
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
	if err := s.record(Event{Kind: EvRunFinished}); err != nil {
		return err
	}
	if s.shared != nil {
		s.shared.setState("finished")
	}
	return nil
}

func (s *Session) checkpoint(ctx context.Context, phase runbooks.Phase, step runbooks.Step) error {
	if s.opt.Checkpointer == nil {
		return nil
	}
	st, _ := s.stepState(step.ID)
	var notes []string
	req := CheckpointRequest{
		Phase: phase, Step: step, State: st,
		Journal: s.JournalFile(), Now: s.opt.Clock.Now(),
		Paths: s.touchedSet(step.ID).List(), Undo: st.Status == Undone,
		Note: func(n string) { notes = append(notes, n) },
	}
	if s.Recovered.TookOver.PID != 0 {
		req.StaleBefore = s.opened
	}
	commit, err := s.opt.Checkpointer.Checkpoint(ctx, req)
	for _, n := range notes {
		if nerr := s.record(Event{Kind: EvNote, Step: step.ID, Note: n, Actor: "runbook"}); nerr != nil {
			return nerr
		}
	}
	if err != nil {
		// Owed: the next session makes it (see payOwed).
		nerr := s.record(Event{Kind: EvNote, Step: step.ID, Note: "checkpoint failed: " + err.Error(), Actor: "runbook"})
		return errors.Join(fmt.Errorf("checkpoint after step %s: %w", step.ID, err), nerr)
	}
	// Recorded even when there was nothing to commit: the checkpoint the
	// table asked for is paid.
	return s.record(Event{Kind: EvCheckpoint, Step: step.ID, Commit: commit})
}

// payOwed makes the checkpoints that an earlier session was asked for and
// did not make (it failed, or was killed inside one), in the order they
// were asked for, so the workspace's history ends as an uninterrupted
// run's would. One that fails again stays owed.
func (s *Session) payOwed(ctx context.Context) {
	s.mu.Lock()
	owed := s.run.Owed()
	s.mu.Unlock()
	for _, id := range owed {
		phase, step, err := s.step(id)
		if err != nil || !phase.Checkpoint {
			continue
		}
		if err := s.checkpoint(ctx, phase, step); err == nil {
			s.Recovered.Owed = append(s.Recovered.Owed, id)
		}
	}
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
