package gitcp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/runbook-dev/runbook/steps/termsafe"
)

// PushTimeout bounds one push of the checkpoints. A push that takes longer
// is a failed push: the checkpoint stays made and the push stays owed.
const PushTimeout = 30 * time.Second

// WithPush pushes the workspace's branch (and the run's phase tags) to
// remote after every checkpoint: the name of one of the repository's
// remotes, or a URL. A push that fails never undoes the checkpoint: it is
// owed, told (the checkpoint request's Note, and WithNotice), and made
// with the next checkpoint or by PushOwed when the run reopens.
func WithPush(remote string) Option { return func(c *config) { c.push = remote } }

// WithNotice receives, at once, what went wrong with a push (the same text
// the journal gets); for a front end that can show it while the run goes
// on (the headless runner's stderr).
func WithNotice(f func(string)) Option { return func(c *config) { c.notice = f } }

// PushRemote is the remote checkpoints are pushed to ("" when none).
func (r *Repo) PushRemote() string { return r.cfg.push }

// SafeRemote shows a remote without its credentials: the password of a URL
// (and the user of an http(s) URL, which is often a token) become ***.
func SafeRemote(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil || !strings.Contains(remote, "://") {
		return termsafe.Line(remote)
	}
	user := u.User.Username()
	if u.Scheme == "http" || u.Scheme == "https" {
		user = "***"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(user, "***")
	} else {
		u.User = url.User(user)
	}
	return termsafe.Line(strings.Replace(u.String(), "%2A%2A%2A", "***", -1))
}

// RemoteSecrets are the credentials a remote's URL holds, for a redactor:
// its password, or the user of an http(s) URL without one (a token).
func RemoteSecrets(remote string) []string {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil || !strings.Contains(remote, "://") {
		return nil
	}
	if p, ok := u.User.Password(); ok {
		if p == "" {
			return nil
		}
		return []string{p}
	}
	if n := u.User.Username(); n != "" && (u.Scheme == "http" || u.Scheme == "https") {
		return []string{n}
	}
	return nil
}

// pushURLs are the push remote as given and, when it names one of the
// repository's remotes, that remote's URLs (which may hold credentials).
func (r *Repo) pushURLs() []string {
	if r.cfg.push == "" {
		return nil
	}
	out := []string{r.cfg.push}
	if rem, err := r.repo.Remote(r.cfg.push); err == nil {
		out = append(out, rem.Config().URLs...)
	}
	return out
}

// PushSecrets are the credentials the push remote's URLs hold (given, or
// in the repository's config): the session's redactor learns them.
func (r *Repo) PushSecrets() []string {
	var out []string
	for _, u := range r.pushURLs() {
		out = append(out, RemoteSecrets(u)...)
	}
	return out
}

// scrub takes the remote's credentials out of a text (a go-git error may
// quote the URL), then masks what the redactor knows.
func (r *Repo) scrub(s string) string {
	for _, u := range r.pushURLs() {
		if safe := SafeRemote(u); safe != u {
			s = strings.ReplaceAll(s, u, safe)
		}
		for _, v := range RemoteSecrets(u) {
			s = strings.ReplaceAll(s, v, "***")
			s = strings.ReplaceAll(s, url.QueryEscape(v), "***")
			s = strings.ReplaceAll(s, url.PathEscape(v), "***")
		}
	}
	if r.cfg.redact != nil {
		s = r.cfg.redact.String(s)
	}
	return termsafe.Text(s)
}

// afterCheckpoint pushes when pushes are asked for and there is something
// new (a commit now, or a push owed). Called with r.mu held.
func (r *Repo) afterCheckpoint(ctx context.Context, commit string, note func(string)) {
	if r.cfg.push == "" || (commit == "" && !r.pushOwed) {
		return
	}
	wasOwed := r.pushOwed
	tip, pushed, err := r.pushLocked(ctx)
	tell := func(s string) {
		if note != nil {
			note(s)
		}
		if r.cfg.notice != nil {
			r.cfg.notice(s)
		}
	}
	switch {
	case err != nil:
		tell(r.pushFailed(tip, err))
	case wasOwed && pushed:
		tell(fmt.Sprintf("checkpoints owed to %s pushed (up to %s)", SafeRemote(r.cfg.push), shortHex(tip)))
	}
}

func (r *Repo) pushFailed(tip string, err error) string {
	what := "checkpoints"
	if tip != "" {
		what = "checkpoint " + shortHex(tip)
	}
	why := strings.Join(strings.Fields(r.scrub(err.Error())), " ")
	if strings.Contains(why, "non-fast-forward") {
		why += " (the remote's branch has commits this workspace has not: did another machine go on with the run? fetch and compare before anything is pushed by hand)"
	}
	return fmt.Sprintf("%s not pushed to %s: %s; kept in the workspace, the push is owed and made with the next checkpoint or when the run resumes", what, SafeRemote(r.cfg.push), why)
}

// PushOwed pushes what earlier pushes could not (a session that failed to
// push, or died before it could). It returns what to journal ("" when
// there was nothing to push) and whether the push failed.
func (r *Repo) PushOwed(ctx context.Context) (note string, failed bool) {
	if r.cfg.push == "" {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	tip, pushed, err := r.pushLocked(ctx)
	switch {
	case err != nil:
		return r.pushFailed("", err), true
	case pushed:
		return fmt.Sprintf("checkpoints owed to %s pushed (up to %s)", SafeRemote(r.cfg.push), shortHex(tip)), false
	}
	return "", false
}

// pushLocked pushes the branch HEAD is on, and the run's phase tags (moved
// with force: a phase that ends again after a rollback moves its tag).
// pushed is false when the remote had everything already.
func (r *Repo) pushLocked(ctx context.Context) (tip string, pushed bool, err error) {
	head, branch, err := r.head()
	if err != nil {
		r.pushOwed = true
		return "", false, err
	}
	if head.IsZero() {
		return "", false, nil
	}
	tip = head.String()
	if branch == plumbing.HEAD {
		r.pushOwed = true
		return tip, false, errors.New("HEAD is detached: only a branch is pushed (check out a branch in the workspace)")
	}
	specs := []gitconfig.RefSpec{gitconfig.RefSpec(branch.String() + ":" + branch.String())}
	if id := r.cfg.runbook; id != "" {
		prefix := "refs/tags/runbook/" + refSafe(id) + "/"
		if iter, err := r.repo.Storer.IterReferences(); err == nil {
			_ = iter.ForEach(func(ref *plumbing.Reference) error {
				if strings.HasPrefix(ref.Name().String(), prefix) {
					specs = append(specs, gitconfig.RefSpec("+"+ref.Name().String()+":"+ref.Name().String()))
				}
				return nil
			})
		}
	}
	rem, err := r.remote()
	if err != nil {
		r.pushOwed = true
		return tip, false, err
	}
	pctx, cancel := context.WithTimeout(ctx, PushTimeout)
	defer cancel()
	err = rem.PushContext(pctx, &gogit.PushOptions{RemoteName: rem.Config().Name, RefSpecs: specs})
	if errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		r.pushOwed = false
		return tip, false, nil
	}
	if err != nil {
		r.pushOwed = true
		if pctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s (%w)", PushTimeout, err)
		}
		return tip, false, err
	}
	r.pushOwed = false
	return tip, true, nil
}

// remote is the push remote: one of the repository's remotes by name, else
// an anonymous remote for the URL or path.
func (r *Repo) remote() (*gogit.Remote, error) {
	if rem, err := r.repo.Remote(r.cfg.push); err == nil {
		return rem, nil
	}
	if !strings.Contains(r.cfg.push, "://") && !strings.Contains(r.cfg.push, "/") && !strings.Contains(r.cfg.push, ":") {
		return nil, fmt.Errorf("the workspace has no remote named %q (add it with `git -C %s remote add %s URL`, or give a URL)", r.cfg.push, r.dir, r.cfg.push)
	}
	return gogit.NewRemote(r.repo.Storer, &gitconfig.RemoteConfig{Name: "runbook-push", URLs: []string{r.cfg.push}}), nil
}

func shortHex(h string) string {
	if len(h) > 10 {
		return h[:10]
	}
	return h
}
