// Package steps is the engine: the typed step state machine (Transition),
// the journal it is folded from, the operator lock, the clock arithmetic,
// and the Session, the one driver that turns operator decisions into
// journaled events and action runs. It has no UI and no globals; the TUI
// and the headless runner drive it alike.
//
// Files: machine.go (statuses, events, Transition and its effects),
// journal.go (the checksummed append-only log), run.go (the fold),
// fold.go (RunFold: records from elsewhere, the shared store, folded one
// at a time as the journal reader does),
// session.go (Open, Close, recording), driver.go (the step operations and
// drive, which performs exactly the effects Transition returns),
// policy.go (Next: what happens next, and the words the journal uses),
// output.go (a step's output lines: redacted, logged, handed on),
// rollback.go (the undo order), lock.go (the state directory's lock),
// workspace.go (a reopened run's workspace check and owed pushes).
// approval.go (steps that wait for approval, their sources, followers'
// notes), notable.go (the run's notable moments, for notifications).
// share.go (the shared store: RecordSink, the lease, the write path).
package steps
