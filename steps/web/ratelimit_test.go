package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/web"
)

// limiter is a sliding-log rate limiter like the application's: at most
// limit requests in any window; the others get 429.
type limiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	log    []time.Time
	hits   int
}

func (l *limiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hits++
	now := time.Now()
	keep := l.log[:0]
	for _, t := range l.log {
		if now.Sub(t) < l.window {
			keep = append(keep, t)
		}
	}
	l.log = keep
	if len(l.log) >= l.limit {
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	l.log = append(l.log, now)
	w.WriteHeader(http.StatusUnauthorized) // a login probe with wrong credentials
}

func TestRateLimitCheckPass(t *testing.T) {
	lim := &limiter{limit: 5, window: time.Minute}
	srv := httptest.NewServer(lim)
	defer srv.Close()
	env, out := newEnv(t, steps.Targets{"app_url": srv.URL})
	c := &web.RateLimitCheck{Endpoint: web.Endpoint{Path: "/api/auth/login"}, Method: "post", Body: `{"username":"probe"}`, Limit: 5, Window: "1m"}
	if err := run(t, c, env); err != nil {
		t.Fatalf("ratelimit.check: %v\n%s", err, out)
	}
	want := "request 1/6: 401 Unauthorized\nrequest 2/6: 401 Unauthorized\nrequest 3/6: 401 Unauthorized\nrequest 4/6: 401 Unauthorized\nrequest 5/6: 401 Unauthorized\n" +
		"request 6/6: 429 Too Many Requests\nrequests 1–5 passed, 6–6 got 429: the limit of 5 per 1m holds\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if lim.hits != 6 {
		t.Errorf("server saw %d requests, want 6", lim.hits)
	}
}

func TestRateLimitCheckLimitTooHigh(t *testing.T) {
	srv := httptest.NewServer(&limiter{limit: 10, window: time.Minute})
	defer srv.Close()
	env, _ := newEnv(t, steps.Targets{"app_url": srv.URL})
	err := run(t, &web.RateLimitCheck{Endpoint: web.Endpoint{Path: "/api/data"}, Limit: 5, Window: "1m"}, env)
	want := fmt.Sprintf("GET %s/api/data: request 6 of 6: expected 429 after the limit of 5 per 1m, found 401 Unauthorized", srv.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}

func TestRateLimitCheckLimitTooLow(t *testing.T) {
	srv := httptest.NewServer(&limiter{limit: 3, window: time.Hour})
	defer srv.Close()
	env, out := newEnv(t, steps.Targets{"app_url": srv.URL})
	// A short window, so the one wait for the limiter is short.
	err := run(t, &web.RateLimitCheck{Endpoint: web.Endpoint{Path: "/api/jobs"}, Limit: 5, Window: "50ms"}, env)
	want := fmt.Sprintf("GET %s/api/jobs: request 1 got 429 before the limit of 5 per 50ms was reached, even after waiting for the limiter to reset: the limit is lower than 5, or other clients share it", srv.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	if !strings.Contains(out.String(), "request 4 got 429 before the limit: the limiter still counts earlier requests; waiting 50ms and starting over") {
		t.Errorf("output:\n%s", out)
	}
}

// Run twice in a row (do, then verify), the second check finds the
// limiter still counting the first one's requests, waits one window and
// passes.
func TestRateLimitCheckTwiceInOneWindow(t *testing.T) {
	lim := &limiter{limit: 5, window: 300 * time.Millisecond}
	srv := httptest.NewServer(lim)
	defer srv.Close()
	env, out := newEnv(t, steps.Targets{"app_url": srv.URL})
	c := &web.RateLimitCheck{Endpoint: web.Endpoint{Path: "/login"}, Limit: 5, Window: "300ms"}
	for i := range 2 {
		if err := run(t, c, env); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
	}
	if !strings.Contains(out.String(), "request 1 got 429 before the limit") {
		t.Errorf("second run did not meet the busy limiter:\n%s", out)
	}
}

func TestRateLimitCheckValidate(t *testing.T) {
	for _, tc := range []struct {
		c    web.RateLimitCheck
		want string
	}{
		{web.RateLimitCheck{Window: "1m"}, "limit is required: the number of requests the tier allows per window (e.g. 5)"},
		{web.RateLimitCheck{Limit: 5}, "window is required: the tier's period (e.g. 1m)"},
		{web.RateLimitCheck{Limit: 5, Window: "1m", Requests: 5}, "requests 5 must exceed limit 5, or the limit is never reached"},
		{web.RateLimitCheck{Limit: 5, Window: "1m", Requests: 5000}, "requests 5000 is more than 1000: a rate-limit check is a probe, not a load test"},
	} {
		err := tc.c.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %s", tc.c, err, tc.want)
		}
	}
	env, _ := newEnv(t, steps.Targets{"app_url": "http://127.0.0.1:8001"})
	c := &web.RateLimitCheck{Endpoint: web.Endpoint{Path: "/api/auth/login"}, Method: "POST", Limit: 5, Window: "1m"}
	want := "6 × POST http://127.0.0.1:8001/api/auth/login, expect requests 1–5 not 429 and 6–6 429 (limit 5 per 1m)"
	if got := c.Describe(env); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
}
