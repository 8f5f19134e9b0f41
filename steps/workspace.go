package steps

import (
	"context"
	"time"
)

// WorkspaceKeeper is a Checkpointer whose workspace may follow the run
// from machine to machine (checkpoints pushed to a git remote, see
// steps/gitcp). When a run reopens (a resume, or a take-over elsewhere),
// Open asks it, before anything is recorded, whether the workspace is at
// the run's last checkpoint; once the owed checkpoints are made, it pushes
// what earlier sessions could not.
type WorkspaceKeeper interface {
	Checkpointer
	// CheckWorkspace returns an error, which stops the opening, when the
	// workspace is not at commit (made by step's checkpoint); a note to
	// journal when the operator accepted the workspace as it is.
	CheckWorkspace(ctx context.Context, commit, step string) (note string, err error)
	// PushOwed pushes what is owed; note is what to journal ("": nothing
	// was pushed), failed says the push failed (a warning too).
	PushOwed(ctx context.Context) (note string, failed bool)
}

// workspaceCheckTimeout bounds the reopening's workspace check and push.
const workspaceCheckTimeout = time.Minute

// checkWorkspace is Open's check of a reopened run's workspace.
func checkWorkspace(opt Options, run *Run) (string, error) {
	k, ok := opt.Checkpointer.(WorkspaceKeeper)
	if !ok || run.LastSeq == 0 || run.LastCommit == "" {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), workspaceCheckTimeout)
	defer cancel()
	return k.CheckWorkspace(ctx, run.LastCommit, run.LastCommitStep)
}

// workspaceNote journals the acceptance of a workspace off the run's last
// checkpoint, on that checkpoint's step.
func (s *Session) workspaceNote(note string) error {
	if note == "" {
		return nil
	}
	s.Recovered.Warnings = append(s.Recovered.Warnings, note)
	return s.record(Event{Kind: EvNote, Step: s.run.LastCommitStep, Actor: s.opt.Operator, Note: note})
}

// pushOwed pushes the checkpoints earlier sessions owed the remote; what
// it did is journaled on the step of the last checkpoint, a failure is a
// warning too.
func (s *Session) pushOwed() {
	k, ok := s.opt.Checkpointer.(WorkspaceKeeper)
	if !ok || s.Recovered.New {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), workspaceCheckTimeout)
	defer cancel()
	note, failed := k.PushOwed(ctx)
	if note == "" {
		return
	}
	if failed {
		s.Recovered.Warnings = append(s.Recovered.Warnings, note)
	}
	s.mu.Lock()
	step := s.run.LastCommitStep
	s.mu.Unlock()
	if step != "" {
		_ = s.record(Event{Kind: EvNote, Step: step, Actor: "runbook", Note: note})
	}
}
