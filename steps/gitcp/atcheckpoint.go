package gitcp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// WithAcceptWorkspace lets a reopened run go on in a workspace that is not
// at the run's last checkpoint: CheckWorkspace then returns a note naming
// who accepted it, where the workspace is and where the run's checkpoints
// are, instead of a *WorkspaceError.
func WithAcceptWorkspace(by string) Option {
	return func(c *config) {
		c.acceptBy = by
		if c.acceptBy == "" {
			c.acceptBy = "the operator"
		}
	}
}

// WorkspaceError: a run reopened (resumed, or taken over on another
// machine) in a workspace that is not at its last checkpoint. It says what
// to fetch or check out.
type WorkspaceError struct {
	Dir    string
	Want   string // the run's last checkpoint
	Step   string // the step whose checkpoint it is
	Head   string // where the workspace is ("" on an unborn branch)
	Branch string // the branch HEAD is on ("" when detached)
	// Missing: the workspace has not got the commit (fetch it); else
	// Behind: HEAD is an ancestor of it (fast-forward); else the
	// workspace went elsewhere (check it out).
	Missing, Behind bool
	Remote          string // where to fetch from
}

func (e *WorkspaceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "workspace %s is not at the run's last checkpoint %s (step %s)", e.Dir, e.Want, e.Step)
	at := "at " + shortHex(e.Head)
	if e.Head == "" {
		at = "on an empty branch"
	}
	switch {
	case e.Missing:
		fmt.Fprintf(&b, ": it is %s and has not got that commit. Fetch it and move there:\n  git -C %s fetch %s && git -C %s merge --ff-only %s\n", at, e.Dir, e.Remote, e.Dir, e.Want)
		fmt.Fprintf(&b, "If %s has not got it either, the machine that made it still owes the push: push from the old machine first (`git -C WORKSPACE push %s %s` there, or resume runbook there once: it pushes what it owes).", e.Remote, e.Remote, orDefault(e.Branch, "BRANCH"))
	case e.Behind:
		fmt.Fprintf(&b, ": it is %s, behind it. Move it there:\n  git -C %s merge --ff-only %s\n", at, e.Dir, e.Want)
	default:
		fmt.Fprintf(&b, ": it is %s, which does not contain it. Check the run's checkpoint out:\n  git -C %s checkout %s\n", at, e.Dir, e.Want)
		b.WriteString("(and bring over any commit of your own that the run should see).")
	}
	b.WriteString("\nTo run steps on this workspace as it is, pass --accept-workspace (journaled).")
	return b.String()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// CheckWorkspace says whether the workspace is at the run's last checkpoint
// commit (made by step): at it, or at a commit that contains it (commits
// made by hand since). runbook's own repository (no workspace) is not
// shared and always passes. A workspace elsewhere is a *WorkspaceError,
// unless WithAcceptWorkspace: then the note says who accepted what.
func (r *Repo) CheckWorkspace(ctx context.Context, want, step string) (note string, err error) {
	if r.private || want == "" {
		return "", nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	wantH := plumbing.NewHash(want)
	if wantH.String() != strings.ToLower(want) {
		return "", fmt.Errorf("the journal's last checkpoint %q is not a commit hash", want)
	}
	head, branch, err := r.head()
	if err != nil {
		return "", err
	}
	if head == wantH {
		return "", nil
	}
	e := &WorkspaceError{Dir: r.dir, Want: want, Step: step, Remote: r.fetchRemote(branch)}
	if !head.IsZero() {
		e.Head = head.String()
	}
	if branch != plumbing.HEAD {
		e.Branch = branch.Short()
	}
	wantC, err := object.GetCommit(r.repo.Storer, wantH)
	switch {
	case errors.Is(err, plumbing.ErrObjectNotFound):
		e.Missing = true
	case err != nil:
		return "", fmt.Errorf("read the run's last checkpoint %s in %s: %w", want, r.dir, err)
	case head.IsZero():
		e.Behind = true
	default:
		headC, err := object.GetCommit(r.repo.Storer, head)
		if err != nil {
			return "", fmt.Errorf("read HEAD %s in %s: %w", head, r.dir, err)
		}
		if ok, err := wantC.IsAncestor(headC); err == nil && ok {
			return "", nil // commits made since, on top of the run's
		}
		if ok, err := headC.IsAncestor(wantC); err == nil && ok {
			e.Behind = true
		}
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if r.cfg.acceptBy != "" {
		return fmt.Sprintf("workspace accepted as it is by %s: at %s, not at the run's last checkpoint %s (step %s)", r.cfg.acceptBy, orDefault(shortHex(e.Head), "an empty branch"), shortHex(want), step), nil
	}
	return "", e
}

// fetchRemote is the remote to fetch the run's checkpoints from: the push
// remote when it is one of the repository's remotes, else the branch's
// upstream remote, else the push URL (without credentials), else origin.
func (r *Repo) fetchRemote(branch plumbing.ReferenceName) string {
	if r.cfg.push != "" {
		if _, err := r.repo.Remote(r.cfg.push); err == nil {
			return r.cfg.push
		}
	}
	if c, err := r.repo.Config(); err == nil && branch != plumbing.HEAD {
		if b := c.Branches[branch.Short()]; b != nil && b.Remote != "" {
			return b.Remote
		}
	}
	if r.cfg.push != "" {
		return SafeRemote(r.cfg.push)
	}
	return "origin"
}
