package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a local webhook that keeps what it was sent.
type receiver struct {
	mu     sync.Mutex
	bodies []Body
	raw    []string
	srv    *httptest.Server
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		var b Body
		if err := json.Unmarshal(raw, &b); err != nil || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook got %q (%s): %v", raw, req.Header.Get("Content-Type"), err)
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.raw = append(r.raw, string(raw))
		n := len(r.bodies)
		r.mu.Unlock()
		code := http.StatusOK
		if status != nil {
			code = status(n)
		}
		w.WriteHeader(code)
		if code >= 300 {
			_, _ = io.WriteString(w, "no channel here")
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() ([]Body, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Body(nil), r.bodies...), append([]string(nil), r.raw...)
}

// collected is a notice sink.
type collected struct {
	mu sync.Mutex
	s  []string
}

func (c *collected) add(s string) { c.mu.Lock(); c.s = append(c.s, s); c.mu.Unlock() }
func (c *collected) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.s...)
}

func redact(s string) string { return strings.ReplaceAll(s, "hunter2", "****") }

func closeWithin(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

var at = time.Date(2026, 10, 24, 9, 12, 0, 0, time.UTC)

func TestBodiesAreTheExpectedRedactedJSON(t *testing.T) {
	r := newReceiver(t, nil)
	n, err := New(Options{URLs: []string{r.srv.URL + "/hooks/T000/B000/XXXX"}, Redact: redact})
	if err != nil {
		t.Fatal(err)
	}
	rb := "Phase 1 security hardening"
	events := []Event{
		{Kind: RunStarted, Runbook: rb, Run: "r1", Operator: "alice", Host: "laptop-a", At: at},
		{Kind: RunResumed, Runbook: rb, Run: "r1", Operator: "alice", Host: "laptop-a", At: at},
		{Kind: RunTakenOver, Runbook: rb, Run: "r1", Operator: "bob", Host: "laptop-b", Detail: "from alice on laptop-a, heartbeat 2m old", At: at},
		{Kind: ApprovalNeeded, Runbook: rb, Run: "r1", Step: "item3/pgaudit", Detail: "1 approval, with a reason", At: at},
		{Kind: StepFailed, Runbook: rb, Run: "r1", Step: "item4/secrets", Detail: "psql: password hunter2 rejected", At: at},
		{Kind: StepOverBudget, Runbook: rb, Run: "r1", Step: "item2/nginx", Detail: "12m of 10m", At: at},
		{Kind: PointOfNoReturnNear, Runbook: rb, Run: "r1", Step: "item3/migrate", At: at},
		{Kind: RunFinished, Runbook: rb, Run: "r1", Detail: "completed, 9h41m of 12h planned", At: at},
	}
	for _, ev := range events {
		n.Enqueue(ev)
	}
	closeWithin(t, n)
	got, raw := r.got()
	want := []string{
		"Phase 1 security hardening: run r1 started by alice on laptop-a",
		"Phase 1 security hardening: run r1 resumed by alice on laptop-a",
		"Phase 1 security hardening: run r1 taken over by bob on laptop-b: from alice on laptop-a, heartbeat 2m old",
		"Phase 1 security hardening: step item3/pgaudit needs approval: 1 approval, with a reason",
		"Phase 1 security hardening: step item4/secrets failed: psql: password **** rejected",
		"Phase 1 security hardening: step item2/nginx is over its budget: 12m of 10m",
		"Phase 1 security hardening: point of no return near: step item3/migrate",
		"Phase 1 security hardening: run r1 finished: completed, 9h41m of 12h planned",
	}
	if len(got) != len(want) {
		t.Fatalf("webhook got %d bodies, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Text != want[i] || got[i].Event != events[i].Kind.String() || got[i].At != "2026-10-24T09:12:00Z" {
			t.Errorf("body %d = %+v; want text %q", i, got[i], want[i])
		}
		if strings.Contains(raw[i], "hunter2") {
			t.Errorf("body %d carries the secret: %s", i, raw[i])
		}
	}
	wantJSON := `{"text":"Phase 1 security hardening: step item4/secrets failed: psql: password **** rejected","event":"step_failed","runbook":"Phase 1 security hardening","run":"r1","step":"item4/secrets","detail":"psql: password **** rejected","at":"2026-10-24T09:12:00Z"}`
	if raw[4] != wantJSON {
		t.Errorf("body 4 = %s\nwant      %s", raw[4], wantJSON)
	}
}

// hangingServer blocks every request until release is closed, telling
// arrived of each and keeping each body's detail.
type hangingServer struct {
	srv     *httptest.Server
	arrived chan struct{}
	release chan struct{}
	mu      sync.Mutex
	details []string
}

func newHanging(t *testing.T) *hangingServer {
	h := &hangingServer{arrived: make(chan struct{}, 1000), release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b Body
		_ = json.NewDecoder(req.Body).Decode(&b)
		h.mu.Lock()
		h.details = append(h.details, b.Detail)
		h.mu.Unlock()
		h.arrived <- struct{}{}
		select {
		case <-h.release:
		case <-req.Context().Done():
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hangingServer) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.details...)
}

func numbered(i int) Event {
	return Event{Kind: StepOverBudget, Step: "s", Detail: fmt.Sprintf("event %d", i), At: at}
}

// A webhook that hangs never holds the caller: Enqueue returns while the
// server is blocked, the queue keeps the newest events, and the drops are
// counted and reported.
func TestHangingWebhookDoesNotHoldTheCaller(t *testing.T) {
	h := newHanging(t)
	ns := &collected{}
	n, err := New(Options{URLs: []string{h.srv.URL}, Redact: redact, Notice: ns.add, Queue: 4, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	n.Enqueue(numbered(0))
	<-h.arrived // the webhook holds event 0 in flight, and does not answer
	for i := 1; i < 100; i++ {
		n.Enqueue(numbered(i)) // returns although the webhook is blocked
	}
	if d := n.Dropped(); d != 99-4 {
		t.Fatalf("dropped %d events, want %d (queue of 4, newest kept)", d, 99-4)
	}
	close(h.release)
	closeWithin(t, n)
	want := []string{"event 0", "event 96", "event 97", "event 98", "event 99"}
	if got := h.got(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the webhook got %q, want %q (the newest)", got, want)
	}
	found := false
	for _, s := range ns.all() {
		found = found || strings.Contains(s, "95 notifications dropped while it was slow")
	}
	if !found {
		t.Fatalf("drops not reported: %q", ns.all())
	}
}

// A hanging webhook holds only its own queue: another webhook of the same
// notifier gets every event while the first is blocked.
func TestHangingWebhookDoesNotHoldTheOthers(t *testing.T) {
	h := newHanging(t)
	healthy := newReceiver(t, nil)
	n, err := New(Options{URLs: []string{h.srv.URL, healthy.srv.URL}, Redact: redact, Queue: 200, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		n.Enqueue(numbered(i))
	}
	<-h.arrived
	deadline := time.After(20 * time.Second)
	for {
		got, _ := healthy.got()
		if len(got) == 100 {
			for i, b := range got {
				if b.Detail != numbered(i).Detail {
					t.Fatalf("healthy webhook event %d is %q", i, b.Detail)
				}
			}
			break
		}
		select {
		case <-deadline:
			t.Fatalf("the healthy webhook got %d of 100 events while the other hung", len(got))
		case <-time.After(5 * time.Millisecond):
		}
	}
	if got := h.got(); len(got) != 1 {
		t.Fatalf("the hanging webhook answered %d requests while blocked", len(got))
	}
	close(h.release)
	closeWithin(t, n)
	if got := h.got(); len(got) != 100 || n.Dropped() != 0 {
		t.Fatalf("after release the hanging webhook got %d of 100 (dropped %d)", len(got), n.Dropped())
	}
}

func TestFailingWebhookRetriesThenSaysSo(t *testing.T) {
	for _, c := range []struct {
		name     string
		status   func(n int) int
		requests int
		notice   string
	}{
		{"server error retried until the limit", func(int) int { return 500 }, 3, "not delivered after 3 attempt(s): 500 Internal Server Error: no channel here"},
		{"refusal not retried", func(int) int { return 404 }, 1, "404 Not Found"},
		{"passing on a later attempt", func(n int) int {
			if n < 3 {
				return 503
			}
			return 200
		}, 3, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReceiver(t, c.status)
			ns := &collected{}
			n, err := New(Options{URLs: []string{r.srv.URL + "/secret-path"}, Redact: redact, Notice: ns.add, Attempts: 3, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			n.Enqueue(Event{Kind: StepFailed, Step: "s", At: at})
			closeWithin(t, n)
			if got, _ := r.got(); len(got) != c.requests {
				t.Fatalf("webhook got %d requests, want %d", len(got), c.requests)
			}
			notes := ns.all()
			if c.notice == "" {
				if len(notes) != 0 {
					t.Fatalf("notices %q, want none", notes)
				}
				return
			}
			if len(notes) != 1 || !strings.Contains(notes[0], c.notice) || !strings.Contains(notes[0], "step_failed") {
				t.Fatalf("notices %q, want one with %q", notes, c.notice)
			}
			if strings.Contains(notes[0], "secret-path") {
				t.Fatalf("a notice shows the webhook's path: %q", notes[0])
			}
		})
	}
}

func TestUnreachableWebhookIsANotice(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	ns := &collected{}
	n, err := New(Options{URLs: []string{url + "/x"}, Redact: redact, Notice: ns.add, Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n.Enqueue(Event{Kind: RunFinished, Run: "r", At: at})
	closeWithin(t, n)
	if notes := ns.all(); len(notes) != 1 || !strings.Contains(notes[0], "run_finished not delivered after 2 attempt(s)") {
		t.Fatalf("notices %q", notes)
	}
}

func TestCloseGivesUpWhenTheContextEnds(t *testing.T) {
	block := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-block:
		case <-req.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(block)
	n, err := New(Options{URLs: []string{hung.URL}, Redact: redact, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n.Enqueue(Event{Kind: RunStarted, At: at})
	n.Enqueue(Event{Kind: RunFinished, At: at})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = n.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "stopped before delivering everything") {
		t.Fatalf("close with an ended context: %v", err)
	}
	n.Enqueue(Event{Kind: RunStarted, At: at}) // after Close: ignored, no panic
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Options{URLs: []string{"http://x"}}); err == nil {
		t.Fatal("a notifier without redaction was made")
	}
	for _, u := range []string{"ftp://host/T0/B0/s3cr3t", "hooks.example/T0/B0/s3cr3t", "http://"} {
		_, err := New(Options{URLs: []string{"http://ok.example/", u}, Redact: redact})
		if err == nil {
			t.Errorf("webhook %q accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "webhook 2 ") {
			t.Errorf("webhook %q refused with %q (must name it by position, never show its path)", u, err)
		}
	}
}

func TestKindNames(t *testing.T) {
	seen := map[string]bool{}
	for k := RunStarted; k <= RunFinished; k++ {
		s := k.String()
		if s == "" || strings.HasPrefix(s, "kind(") || seen[s] {
			t.Errorf("kind %d has name %q", k, s)
		}
		seen[s] = true
	}
	if Kind(99).String() != "kind(99)" {
		t.Error(Kind(99).String())
	}
}
