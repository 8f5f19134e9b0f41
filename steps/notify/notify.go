// Package notify posts a run's notable moments (started, taken over,
// approval needed, step failed or over budget, point of no return near,
// finished) to webhooks, as a small JSON body whose "text" field a Slack
// incoming webhook shows as is.
//
// Delivery never holds the run up: Enqueue puts the event on a bounded
// queue per webhook and returns; each webhook has one worker that posts,
// retries with backoff a bounded number of times, and reports what it
// could not deliver through Options.Notice. When a queue is full the
// oldest waiting event is dropped and counted: during a change window the
// latest news matters most.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runbook-dev/runbook/steps/termsafe"
)

// Kind is what happened.
type Kind int

// The events a notifier sends.
const (
	RunStarted Kind = iota + 1
	RunResumed
	RunTakenOver
	ApprovalNeeded
	StepFailed
	StepOverBudget
	PointOfNoReturnNear
	RunFinished
)

var kindNames = [...]string{
	RunStarted:          "run_started",
	RunResumed:          "run_resumed",
	RunTakenOver:        "run_taken_over",
	ApprovalNeeded:      "approval_needed",
	StepFailed:          "step_failed",
	StepOverBudget:      "step_over_budget",
	PointOfNoReturnNear: "point_of_no_return_near",
	RunFinished:         "run_finished",
}

// String is the kind's name in the JSON body ("step_failed").
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one notable moment of a run. Every text field is redacted
// before it leaves the process.
type Event struct {
	Kind     Kind
	Runbook  string // the runbook's title
	Run      string
	Step     string // the step concerned, if any
	Operator string // who acted (the driver, the one who took over)
	Host     string
	Detail   string // one line: the error, the overrun, who approves...
	At       time.Time
}

// Body is the JSON a webhook receives.
type Body struct {
	Text     string `json:"text"`
	Event    string `json:"event"`
	Runbook  string `json:"runbook,omitempty"`
	Run      string `json:"run,omitempty"`
	Step     string `json:"step,omitempty"`
	Operator string `json:"operator,omitempty"`
	Host     string `json:"host,omitempty"`
	Detail   string `json:"detail,omitempty"`
	At       string `json:"at"`
}

// NewBody renders ev, every field passed through redact.
func NewBody(ev Event, redact func(string) string) Body {
	b := Body{
		Event:    ev.Kind.String(),
		Runbook:  redact(ev.Runbook),
		Run:      redact(ev.Run),
		Step:     redact(ev.Step),
		Operator: redact(ev.Operator),
		Host:     redact(ev.Host),
		Detail:   redact(ev.Detail),
		At:       ev.At.UTC().Format(time.RFC3339),
	}
	var who string
	if b.Operator != "" {
		who = b.Operator
		if b.Host != "" {
			who += " on " + b.Host
		}
	}
	var s string
	switch ev.Kind {
	case RunStarted:
		s = "run " + b.Run + " started"
	case RunResumed:
		s = "run " + b.Run + " resumed"
	case RunTakenOver:
		s = "run " + b.Run + " taken over"
	case ApprovalNeeded:
		s = "step " + b.Step + " needs approval"
	case StepFailed:
		s = "step " + b.Step + " failed"
	case StepOverBudget:
		s = "step " + b.Step + " is over its budget"
	case PointOfNoReturnNear:
		s = "point of no return near: step " + b.Step
	case RunFinished:
		s = "run " + b.Run + " finished"
	default:
		s = b.Event
	}
	if who != "" {
		s += " by " + who
	}
	if b.Detail != "" {
		s += ": " + b.Detail
	}
	if b.Runbook != "" {
		s = b.Runbook + ": " + s
	}
	b.Text = s
	return b
}

// Options configure a notifier.
type Options struct {
	URLs []string
	// Redact masks secrets in every text field (required).
	Redact func(string) string
	// Notice receives what could not be delivered, one line each, from the
	// notifier's own goroutines (so it must be safe to call concurrently).
	// Nil drops them.
	Notice func(string)
	// Queue bounds the events waiting per webhook (default 64).
	Queue int
	// Attempts bounds the posts of one event (default 4).
	Attempts int
	// Backoff is the wait before the first retry; it doubles each time, up
	// to 30s (default 500ms). A Retry-After the webhook sends is honoured
	// within that bound.
	Backoff time.Duration
	// Timeout bounds one post (default 10s).
	Timeout time.Duration
	// Client posts (default: a client of its own).
	Client *http.Client
}

// Notifier delivers events to webhooks in the background.
type Notifier struct {
	opt     Options
	hooks   []*hook
	stop    context.CancelFunc
	base    context.Context
	done    sync.WaitGroup
	closing atomic.Bool
}

// hook is one webhook: its queue and its worker's state.
type hook struct {
	url     string
	name    string // scheme://host only: webhook paths often hold a secret
	mu      sync.Mutex
	queue   []Event
	closed  bool
	wake    chan struct{}
	dropped atomic.Uint64
	told    uint64 // drops already reported (worker only)
}

// New checks the webhook URLs and starts one worker per webhook.
func New(opt Options) (*Notifier, error) {
	if opt.Redact == nil {
		return nil, errors.New("notify: a redaction function is required: notifications must not carry secrets")
	}
	if opt.Queue <= 0 {
		opt.Queue = 64
	}
	if opt.Attempts <= 0 {
		opt.Attempts = 4
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 500 * time.Millisecond
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Client == nil {
		opt.Client = &http.Client{}
	}
	base, stop := context.WithCancel(context.Background())
	n := &Notifier{opt: opt, base: base, stop: stop}
	for i, raw := range opt.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			stop()
			// Only scheme and host are shown: a webhook's path is often its secret.
			shown := "no host"
			if err == nil && u.Host != "" {
				shown = u.Scheme + "://" + u.Host
			}
			return nil, fmt.Errorf("notify: webhook %d (%s) is not an http(s) URL", i+1, opt.Redact(termsafe.Line(shown)))
		}
		n.hooks = append(n.hooks, &hook{url: raw, name: u.Scheme + "://" + u.Host, wake: make(chan struct{}, 1)})
	}
	for _, h := range n.hooks {
		n.done.Add(1)
		go n.work(h)
	}
	return n, nil
}

// Enqueue hands ev to every webhook's queue and returns at once; it never
// waits for the network. A full queue drops its oldest event (counted in
// Dropped and reported by the worker). After Close it does nothing.
func (n *Notifier) Enqueue(ev Event) {
	if n.closing.Load() {
		return
	}
	for _, h := range n.hooks {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			continue
		}
		if len(h.queue) >= n.opt.Queue {
			h.queue[0] = Event{} // let go of the dropped event's strings
			h.queue = h.queue[1:]
			h.dropped.Add(1)
		}
		h.queue = append(h.queue, ev)
		h.mu.Unlock()
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// Dropped is how many events were dropped from full queues, all webhooks
// together.
func (n *Notifier) Dropped() uint64 {
	var d uint64
	for _, h := range n.hooks {
		d += h.dropped.Load()
	}
	return d
}

// Close stops taking events and waits until the queues are delivered, or
// ctx ends: then in-flight posts are cancelled and the error says how many
// events were left undelivered.
func (n *Notifier) Close(ctx context.Context) error {
	n.closing.Store(true)
	for _, h := range n.hooks {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	finished := make(chan struct{})
	go func() { n.done.Wait(); close(finished) }()
	select {
	case <-finished:
		n.stop()
		return nil
	case <-ctx.Done():
		n.stop()
		<-finished
		left := 0
		for _, h := range n.hooks {
			h.mu.Lock()
			left += len(h.queue)
			h.mu.Unlock()
		}
		return fmt.Errorf("notify: stopped before delivering everything (%d events left): %w", left, ctx.Err())
	}
}

func (n *Notifier) say(format string, args ...any) {
	if n.opt.Notice != nil {
		n.opt.Notice(fmt.Sprintf(format, args...))
	}
}

// work is one webhook's worker: it posts the queue's events in order.
func (n *Notifier) work(h *hook) {
	defer n.done.Done()
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			closed := h.closed
			h.mu.Unlock()
			if closed {
				return
			}
			select {
			case <-h.wake:
			case <-n.base.Done():
				return
			}
			continue
		}
		ev := h.queue[0]
		h.queue[0] = Event{}
		h.queue = h.queue[1:]
		h.mu.Unlock()
		if n.base.Err() != nil {
			return
		}
		if d := h.dropped.Load(); d > h.told {
			n.say("webhook %s: %d notifications dropped while it was slow (queue of %d full)", h.name, d-h.told, n.opt.Queue)
			h.told = d
		}
		n.deliver(h, ev)
	}
}

// deliver posts one event, retrying what may pass on a second try
// (network errors, 429, 5xx) with backoff.
func (n *Notifier) deliver(h *hook, ev Event) {
	body, err := json.Marshal(NewBody(ev, n.opt.Redact))
	if err != nil {
		n.say("webhook %s: %s not sent: %v", h.name, ev.Kind, err)
		return
	}
	wait := n.opt.Backoff
	var last string
	for attempt := 1; attempt <= n.opt.Attempts; attempt++ {
		retryAfter, permanent, err := n.post(h, body)
		if err == nil {
			return
		}
		last = err.Error()
		if permanent || attempt == n.opt.Attempts {
			break
		}
		d := max(wait, retryAfter)
		d = min(d, 30*time.Second)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-n.base.Done():
			t.Stop()
			n.say("webhook %s: %s not delivered: stopped while retrying (%s)", h.name, ev.Kind, last)
			return
		}
		wait = min(wait*2, 30*time.Second)
	}
	n.say("webhook %s: %s not delivered after %d attempt(s): %s", h.name, ev.Kind, n.opt.Attempts, last)
}

// post sends body once. permanent marks a refusal a retry will not change
// (4xx other than 408 and 429).
func (n *Notifier) post(h *hook, body []byte) (retryAfter time.Duration, permanent bool, err error) {
	ctx, cancel := context.WithTimeout(n.base, n.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return 0, true, errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "runbook")
	resp, err := n.opt.Client.Do(req)
	if err != nil {
		// The error names the URL, which may hold a secret: say less.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, false, errors.New(n.opt.Redact(termsafe.Line(err.Error())))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, false, nil
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	msg := resp.Status
	if len(bytes.TrimSpace(snippet)) > 0 {
		msg += ": " + string(bytes.TrimSpace(snippet))
	}
	permanent = resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429
	return retryAfter, permanent, errors.New(n.opt.Redact(termsafe.Line(msg)))
}
