package runbooks

import (
	"net/url"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Approval says that a step may not start until operators other than the
// one driving the run have approved it:
//
//	approval:
//	  count: 2             # how many approvers (default 1)
//	  reason: required     # each approver must say why (default: optional)
//
// `approval: true` is the same as `approval: {count: 1}`.
type Approval struct {
	Count          int
	ReasonRequired bool
	Pos            Pos
}

// MaxApprovers bounds Approval.Count.
const MaxApprovers = 9

// Webhook is one entry of a runbook's `notify:` list: where the run's
// notable moments are posted, and which of them (none listed: all).
//
//	notify:
//	  - url: https://hooks.example.com/T000/B000
//	  - env: RUNBOOK_SLACK_WEBHOOK    # the URL is a secret: read it at run time
//	    events: [approval_needed, step_failed, run_finished]
type Webhook struct {
	URL    string // as written; empty when Env names it
	Env    string // environment variable holding the URL
	Events []string
	Pos    Pos
}

// NotifyEvents are the event names a webhook's `events:` may list, the
// same names the webhook's JSON body carries in "event".
var NotifyEvents = []string{
	"run_started", "run_resumed", "run_taken_over", "approval_needed",
	"step_failed", "step_over_budget", "point_of_no_return_near", "run_finished",
}

// Wants reports whether the webhook takes events of the named kind.
func (w Webhook) Wants(event string) bool {
	if len(w.Events) == 0 {
		return true
	}
	return contains(w.Events, event)
}

var approvalKeys = []string{"count", "reason"}

// approval reads a step's `approval:`.
func (l *loader) approval(f field) *Approval {
	a := &Approval{Count: 1, Pos: l.pos(f.value)}
	if b, ok := unwrap(f.value).(*ast.BoolNode); ok {
		if !b.Value {
			return nil
		}
		return a
	}
	fields, ok := l.mapping(f.value, "approval")
	if !ok {
		return nil
	}
	for _, x := range fields {
		switch x.key {
		case "count":
			a.Count = l.integer(x, "approval count")
			if a.Count < 1 || a.Count > MaxApprovers {
				l.errorf(x.value, "approval count must be between 1 and %d", MaxApprovers)
			}
		case "reason":
			switch s := l.str(x, "approval reason"); s {
			case "required":
				a.ReasonRequired = true
			case "optional":
			default:
				l.errorf(x.value, "approval reason must be required or optional, found %q", s)
			}
		default:
			l.unknown(x, "approval", approvalKeys...)
		}
	}
	return a
}

var webhookKeys = []string{"url", "env", "events"}

// notify reads the runbook's `notify:` list of webhooks.
func (l *loader) notify(n ast.Node, rb *Runbook) {
	for _, wn := range l.sequence(n, "notify") {
		fields, ok := l.mapping(wn, "a notify entry")
		if !ok {
			continue
		}
		w := Webhook{Pos: l.pos(wn)}
		seen := map[string]bool{}
		for _, f := range fields {
			seen[f.key] = true
			switch f.key {
			case "url":
				w.URL = l.str(f, "notify url")
				if msg := checkWebhookURL(w.URL); msg != "" {
					l.errorf(f.value, "notify url: %s", msg)
				}
			case "env":
				w.Env = l.str(f, "notify env")
				if w.Env != "" && !envRE.MatchString(w.Env) {
					l.errorf(f.value, "%q is not an environment variable name", w.Env)
				}
			case "events":
				for _, en := range l.sequence(f.value, "notify events") {
					e, ok := scalar(en)
					if !ok {
						l.errorf(en, "notify events items must be strings, found %s", kindOf(en))
						continue
					}
					if !contains(NotifyEvents, e) {
						l.errorf(en, "unknown notify event %q%s (expected one of: %s)", e, didYouMean(e, NotifyEvents), strings.Join(NotifyEvents, ", "))
						continue
					}
					w.Events = append(w.Events, e)
				}
			default:
				l.unknown(f, "notify entry", webhookKeys...)
			}
		}
		if seen["url"] == seen["env"] {
			l.errorf(wn, "a notify entry needs exactly one of url or env (env names the variable holding a secret URL)")
		}
		rb.Notify = append(rb.Notify, w)
	}
}

// checkWebhookURL says what is wrong with a webhook URL ("" when nothing).
// Never echo the URL: a webhook's path is often its secret.
func checkWebhookURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with https:// (or http://)"
	case u.Host == "":
		return "has no host"
	}
	return ""
}
