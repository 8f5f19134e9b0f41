package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/pflag"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/notify"
	"github.com/runbook-dev/runbook/steps/store"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui"
)

// What a driven run shares with the team, wired here into the engine's
// options: approvals (the store, or --approve), followers' notes (the
// store) and notifications (the runbook's notify: list, --notify,
// $RUNBOOK_NOTIFY).

// teamFlags are the flags of approvals and notifications.
type teamFlags struct {
	// notify: webhook URLs (--notify, repeatable; $RUNBOOK_NOTIFY).
	notify []string
	// approve: approvals given on the driver's machine, STEP=NAME[:REASON]
	// (a run without a store).
	approve []string
	// closers end what openSession started for sharing (the notifier,
	// the store connection), after the session is closed.
	closers []func()
	// notice receives what the team's side has to say while the run goes
	// on (a webhook that fails); set by the front end.
	notice func(string)
}

func (s *teamFlags) register(fs *pflag.FlagSet, getenv func(string) string) {
	// $RUNBOOK_NOTIFY is read when the run starts, not as the flag's
	// default: --help would print the URLs, which are secrets.
	fs.StringArrayVar(&s.notify, "notify", nil, "post the run's notable moments to this webhook `URL` (repeatable; $RUNBOOK_NOTIFY, space-separated)")
	fs.StringArrayVar(&s.approve, "approve", nil, "without a store: an approval given on this machine, `STEP=NAME[:REASON]` (repeatable; journaled as given on the driver's machine)")
}

// closeTeam ends the notifier (delivering what is queued, for a few
// seconds at most) and the store connection the run used.
func (c *common) closeTeam() {
	for i := len(c.team.closers) - 1; i >= 0; i-- {
		c.team.closers[i]()
	}
	c.team.closers = nil
}

func (c *common) teamNotice(msg string) {
	if c.team.notice != nil {
		c.team.notice(msg)
	}
}

// share sets the options of a driven session that involve the team.
func (c *common) teamOptions(rb *runbooks.Runbook, opt *steps.Options, warn func(string)) error {
	host, _ := os.Hostname()
	flagged, err := parseApprovals(rb, c.team.approve, c.operator, host)
	if err != nil {
		return err
	}
	if dsn, _ := c.storeDSN(); dsn != "" {
		if len(flagged) > 0 {
			return usagef("--approve is for runs without a store; with a store, approvers run `runbook approve STEP --reason ...` from their own machine")
		}
		// The driver's store connection serves approvals and notes too
		// (the session closes it).
		st, ok := sharedStore(opt.Share)
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			var err error
			st, err = c.openStore(ctx)
			cancel()
			if err != nil {
				return err
			}
			c.team.closers = append(c.team.closers, st.Close)
		}
		src := &storeSource{st: st, c: c, rb: rb}
		opt.Approvals, opt.Notes = src, src
	} else if len(flagged) > 0 {
		opt.Approvals = flagged
	}
	return c.notifyOptions(rb, opt, opt.Redactor, warn)
}

// storeSource is the store as the engine's source of approvals and
// followers' notes for the run c names (--run, else the runbook's latest).
type storeSource struct {
	st *store.Store
	c  *common
	rb *runbooks.Runbook
	mu sync.Mutex
	id string
}

// setRun names the run the driver's session opened (joined or started).
func (s *storeSource) setRun(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" {
		s.id = id
	}
}

func (s *storeSource) run(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != "" {
		return s.id, nil
	}
	r, err := s.c.findRun(ctx, s.st, s.rb)
	if err != nil {
		return "", err
	}
	s.id = r.ID
	return s.id, nil
}

func (s *storeSource) WaitApprovals(ctx context.Context, step string, need int) ([]steps.Approval, error) {
	run, err := s.run(ctx)
	if err != nil {
		return nil, err
	}
	// A lost connection is waited out: approvals are rows, never lost.
	// A missing grant is not.
	var as []store.Approval
	for backoff := 200 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
		as, err = s.st.WaitApprovals(ctx, run, step, need)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if _, priv := errIsPrivilege(err); err == nil || priv {
			break
		}
		s.c.teamNotice(fmt.Sprintf("waiting for approvals of %s: %v; trying again in %s", step, err, backoff))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]steps.Approval, len(as))
	for i, a := range as {
		out[i] = steps.Approval{By: a.Approver, Host: a.Host, At: a.At, Reason: a.Reason, Via: steps.ViaStore}
	}
	return out, nil
}

func (s *storeSource) WaitNotes(ctx context.Context, after uint64) ([]steps.FollowerNote, error) {
	run, err := s.run(ctx)
	if err != nil {
		return nil, err
	}
	ns, err := s.st.WaitNotes(ctx, run, after)
	if err != nil {
		return nil, err
	}
	out := make([]steps.FollowerNote, len(ns))
	for i, n := range ns {
		out[i] = steps.FollowerNote{Ref: n.ID, Step: n.Step, By: n.By, Host: n.Host, At: n.At, Text: n.Text}
	}
	return out, nil
}

// flagApprovals are approvals given with --approve: fixed, so a wait for
// more than they hold ends at once, saying so.
type flagApprovals map[string][]steps.Approval

func (f flagApprovals) WaitApprovals(_ context.Context, step string, need int) ([]steps.Approval, error) {
	as := f[step]
	if len(as) >= need {
		return as, nil
	}
	return nil, fmt.Errorf("step %s needs %d approvals and --approve gives %d: add --approve %s=NAME:REASON for each approver (not the driver), or share the run with --store so others approve with `runbook approve`", step, need, len(as), step)
}

// parseApprovals reads --approve STEP=NAME[:REASON] values.
func parseApprovals(rb *runbooks.Runbook, vals []string, operator, host string) (flagApprovals, error) {
	out := flagApprovals{}
	now := time.Now()
	for _, v := range vals {
		step, rest, ok := strings.Cut(v, "=")
		name, reason, _ := strings.Cut(rest, ":")
		name, reason = strings.TrimSpace(name), strings.TrimSpace(reason)
		if !ok || step == "" || name == "" {
			return nil, usagef("--approve %q: want STEP=NAME or STEP=NAME:REASON", termsafe.Line(v))
		}
		_, s, found := rb.Step(step)
		switch {
		case !found:
			return nil, usagef("--approve: no step %q in runbook %s", termsafe.Line(step), rb.ID)
		case s.Approval == nil:
			return nil, usagef("--approve: step %s needs no approval", step)
		case strings.EqualFold(name, strings.TrimSpace(operator)):
			return nil, usagef("--approve %s=%s: %s drives this run and cannot approve its own step; name the approver (another operator)", step, termsafe.Line(name), termsafe.Line(operator))
		case s.Approval.ReasonRequired && reason == "":
			return nil, usagef("--approve %s=%s: step %s requires a reason: --approve %s=%s:REASON", step, termsafe.Line(name), step, step, termsafe.Line(name))
		}
		out[step] = append(out[step], steps.Approval{By: name, Host: host, At: now, Reason: reason, Via: steps.ViaDriver})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// notifyOptions starts a notifier per webhook (the runbook's notify:
// list, then --notify and $RUNBOOK_NOTIFY) and sets Options.Notify to
// hand each moment to those that want it. Delivery is the notifier's, in
// its own goroutines: a failing or hanging webhook never holds the run
// up, and what it could not deliver is a notice.
func (c *common) notifyOptions(rb *runbooks.Runbook, opt *steps.Options, red *steps.Redactor, warn func(string)) error {
	var hooks []runbooks.Webhook
	for _, w := range rb.Notify {
		if w.Env != "" {
			w.URL = c.getenv(w.Env)
			if w.URL == "" {
				if warn != nil {
					warn(fmt.Sprintf("notify: $%s is not set; that webhook is left out", w.Env))
				}
				continue
			}
			red.Add(w.URL)
		}
		hooks = append(hooks, w)
	}
	urls := c.team.notify
	if len(urls) == 0 {
		urls = strings.Fields(c.getenv("RUNBOOK_NOTIFY"))
	}
	for _, u := range urls {
		hooks = append(hooks, runbooks.Webhook{URL: u})
	}
	if len(hooks) == 0 {
		return nil
	}
	type sink struct {
		n    *notify.Notifier
		hook runbooks.Webhook
	}
	var sinks []sink
	for _, h := range hooks {
		// A webhook's URL is its secret: never in the journal or a log.
		red.Add(h.URL)
		n, err := notify.New(notify.Options{URLs: []string{h.URL}, Redact: red.String, Notice: c.teamNotice})
		if err != nil {
			for _, s := range sinks {
				s.n.Close(context.Background())
			}
			return usagef("notify: %s", red.String(err.Error()))
		}
		sinks = append(sinks, sink{n: n, hook: h})
	}
	c.team.closers = append(c.team.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for _, s := range sinks {
			if err := s.n.Close(ctx); err != nil {
				c.teamNotice(err.Error())
			}
		}
	})
	kinds := notifyKinds()
	title, run := rb.Title, c.runID
	if run == "" {
		run = rb.ID
		if opt.Rehearsal {
			run += " (rehearsal)"
		}
	}
	host := opt.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	opt.Notify = func(m steps.Moment) {
		ev := notify.Event{Kind: kinds[m.Kind], Runbook: title, Run: run, Step: m.Step, Operator: m.Actor, Host: m.Host, Detail: m.Detail, At: m.At}
		if ev.Operator == "" {
			ev.Operator = c.operator
		}
		if ev.Host == "" {
			ev.Host = host
		}
		for _, s := range sinks {
			if s.hook.Wants(m.Kind) {
				s.n.Enqueue(ev)
			}
		}
	}
	return nil
}

// notifyKinds maps the engine's moment names (runbooks.NotifyEvents) to
// the notifier's kinds.
func notifyKinds() map[string]notify.Kind {
	out := map[string]notify.Kind{}
	for k := notify.RunStarted; k <= notify.RunFinished; k++ {
		out[k.String()] = k
	}
	return out
}

// errIsPrivilege names the grant a refused store operation lacks.
func errIsPrivilege(err error) (*store.PrivilegeError, bool) {
	var pe *store.PrivilegeError
	return pe, errors.As(err, &pe)
}

// liveNotices hands notices to the running UI (its status line); those
// that come before it runs wait for it, those after it ends (the notifier
// delivering its queue at exit) go to stderr.
type liveNotices struct {
	mu      sync.Mutex
	p       *tea.Program
	after   io.Writer
	pending []string
}

func teamNotices(c *common) *liveNotices {
	l := &liveNotices{}
	c.team.notice = l.notice
	return l
}

func (l *liveNotices) notice(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.p != nil:
		go l.p.Send(ui.Notice(msg)) // Send waits for the program: never from here
	case l.after != nil:
		fmt.Fprintln(l.after, "runbook: notice:", termsafe.Line(msg))
	default:
		l.pending = append(l.pending, msg)
	}
}

func (l *liveNotices) attach(p *tea.Program) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p = p
	for _, msg := range l.pending {
		go p.Send(ui.Notice(msg))
	}
	l.pending = nil
}

func (l *liveNotices) detach(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p, l.after = nil, w
}
