package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// maxRateRequests bounds a rate-limit check: it is a probe, not a load test.
const maxRateRequests = 1000

// RateLimitCheck is the `ratelimit.check` action: requests sent one after
// another to one path; the first `limit` must not be refused with 429, the
// ones after it must be.
//
//   - ratelimit.check:
//     target: app_url
//     path: /api/auth/login
//     method: POST
//     header: {Content-Type: application/json}
//     body: '{"username": "probe", "password": "wrong"}'
//     limit: 5          # the tier: 5 requests ...
//     window: 1m        # ... per minute
//     requests: 6       # default limit+1
//
// A limiter still counting earlier requests (a check run twice within one
// window) answers 429 too early; the check then waits once for the
// Retry-After the service gives, or one window, and starts over.
type RateLimitCheck struct {
	Endpoint   `yaml:",inline"`
	TLSOptions `yaml:",inline"`

	Method   string            `yaml:"method"`
	Header   map[string]string `yaml:"header"`
	Body     string            `yaml:"body"`
	Limit    int               `yaml:"limit"`
	Window   string            `yaml:"window"`
	Requests int               `yaml:"requests"`
	Timeout  string            `yaml:"timeout"`

	ready   bool
	window  time.Duration
	timeout time.Duration
}

// Validate implements runbooks.Validator.
func (c *RateLimitCheck) Validate() error {
	if err := c.Endpoint.validate(); err != nil {
		return err
	}
	if err := c.TLSOptions.validate(); err != nil {
		return err
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	c.Method = strings.ToUpper(c.Method)
	if c.Limit <= 0 {
		return errors.New("limit is required: the number of requests the tier allows per window (e.g. 5)")
	}
	if c.Window == "" {
		return errors.New("window is required: the tier's period (e.g. 1m)")
	}
	w, err := parseTimeout("window", c.Window, 0)
	if err != nil {
		return err
	}
	c.window = w
	if c.Requests == 0 {
		c.Requests = c.Limit + 1
	}
	if c.Requests <= c.Limit {
		return fmt.Errorf("requests %d must exceed limit %d, or the limit is never reached", c.Requests, c.Limit)
	}
	if c.Requests > maxRateRequests {
		return fmt.Errorf("requests %d is more than %d: a rate-limit check is a probe, not a load test", c.Requests, maxRateRequests)
	}
	if c.timeout, err = parseTimeout("timeout", c.Timeout, defaultTimeout); err != nil {
		return err
	}
	c.ready = true
	return nil
}

// Describe implements steps.Action.
func (c *RateLimitCheck) Describe(env *steps.Env) string {
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	n := c.Requests
	if n == 0 {
		n = c.Limit + 1
	}
	return fmt.Sprintf("%d × %s %s, expect requests 1–%d not 429 and %d–%d 429 (limit %d per %s)%s",
		n, method, c.Endpoint.show(env), c.Limit, c.Limit+1, n, c.Limit, c.Window, c.TLSOptions.describe())
}

// Run implements steps.Action.
func (c *RateLimitCheck) Run(ctx context.Context, env *steps.Env) error {
	if !c.ready {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	u, tc, err := resolveWithTLS(env, c.Endpoint, c.TLSOptions)
	if err != nil {
		return err
	}
	client := newClient(tc, c.timeout, false, 1)
	defer client.CloseIdleConnections()
	body, err := env.Expand(c.Body)
	if err != nil {
		return err
	}
	header := http.Header{}
	for k, v := range c.Header {
		x, err := env.Expand(v)
		if err != nil {
			return err
		}
		header.Set(k, x)
	}
	target := ""
	if c.URL == "" {
		target = c.targetName()
	}
	shown := env.Redact.String(u.String())
	for attempt := 0; ; attempt++ {
		early, wait, err := c.round(ctx, env, client, u, header, body, target)
		if err != nil {
			return err
		}
		if early == 0 {
			return nil
		}
		if attempt > 0 {
			return fmt.Errorf("%s %s: request %d got 429 before the limit of %d per %s was reached, even after waiting for the limiter to reset: the limit is lower than %d, or other clients share it",
				c.Method, shown, early, c.Limit, c.Window, c.Limit)
		}
		env.Printf("request %d got 429 before the limit: the limiter still counts earlier requests; waiting %s and starting over", early, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s: waiting for the limiter to reset: %w", c.Method, shown, ctx.Err())
		case <-t.C:
		}
	}
}

// round sends the requests once. It returns early > 0 (the request number)
// when a request within the limit got 429, with how long to wait before
// trying again.
func (c *RateLimitCheck) round(ctx context.Context, env *steps.Env, client *http.Client, u *url.URL, header http.Header, body, target string) (early int, wait time.Duration, err error) {
	shown := env.Redact.String(u.String())
	start := time.Now()
	for i := 1; i <= c.Requests; i++ {
		var rb io.Reader
		if body != "" {
			rb = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, c.Method, u.String(), rb)
		if err != nil {
			return 0, 0, fmt.Errorf("build request %s %s: %w", c.Method, shown, err)
		}
		req.Header = header.Clone()
		if h := header.Get("Host"); h != "" {
			req.Host = h
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, fmt.Errorf("request %d of %d: %w", i, c.Requests, requestError(env, c.Method, u, target, err))
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		ra := resp.Header.Get("Retry-After")
		line := fmt.Sprintf("request %d/%d: %s", i, c.Requests, resp.Status)
		if ra != "" {
			line += " (Retry-After: " + ra + ")"
		}
		env.Printf("%s", line)
		limited := resp.StatusCode == http.StatusTooManyRequests
		switch {
		case i <= c.Limit && limited:
			wait = c.window
			if secs, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && secs >= 0 && time.Duration(secs)*time.Second < c.window {
				// One second more than asked: Retry-After is rounded down.
				wait = time.Duration(secs)*time.Second + time.Second
			}
			return i, wait, nil
		case i > c.Limit && !limited:
			took := time.Since(start)
			msg := fmt.Sprintf("%s %s: request %d of %d: expected 429 after the limit of %d per %s, found %s", c.Method, shown, i, c.Requests, c.Limit, c.Window, resp.Status)
			if took > c.window {
				msg += fmt.Sprintf(" (inconclusive: the requests took %s, longer than the window, so the limiter may have reset; run it closer to the service)", took.Round(time.Millisecond))
			}
			return 0, 0, errors.New(msg)
		}
	}
	env.Printf("requests 1–%d passed, %d–%d got 429: the limit of %d per %s holds", c.Limit, c.Limit+1, c.Requests, c.Limit, c.Window)
	return 0, 0, nil
}
