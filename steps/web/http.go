package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// HTTPCheck is the `http.check` action: one request, then expectations on
// the response. Every expectation is checked and every failure reported.
//
//   - http.check:
//     target: app_url          # or url: https://${target.host}/health
//     path: /health
//     status: 200              # default: any 2xx (any 3xx with redirect)
//     headers_present: [X-Request-ID]
//     headers_absent: [X-Powered-By]
//     headers_equal: {X-Frame-Options: DENY}
//     body_match: '"status":\s*"ok"'
//     security_headers: true
//     ca_file: certs/ca.crt
type HTTPCheck struct {
	Endpoint   `yaml:",inline"`
	TLSOptions `yaml:",inline"`

	Method string            `yaml:"method"`
	Header map[string]string `yaml:"header"` // request headers
	Body   string            `yaml:"body"`   // request body

	Status         int    `yaml:"status"`
	Redirect       string `yaml:"redirect"`        // Location must equal this
	RedirectPrefix string `yaml:"redirect_prefix"` // Location must start with this
	Follow         bool   `yaml:"follow"`          // follow redirects (default: no)

	HeadersPresent  []string          `yaml:"headers_present"`
	HeadersAbsent   []string          `yaml:"headers_absent"`
	HeadersEqual    map[string]string `yaml:"headers_equal"`
	BodyMatch       string            `yaml:"body_match"`
	SecurityHeaders bool              `yaml:"security_headers"`
	Timeout         string            `yaml:"timeout"`
	// Within makes the check wait for a service that is still starting:
	// while the request fails or the status is not the expected one, it
	// is retried with backoff for up to this long; then the full check
	// runs once. Default: one attempt.
	Within string `yaml:"within"`

	ready   bool
	timeout time.Duration
	within  time.Duration
	bodyRE  *regexp.Regexp
}

// Validate implements runbooks.Validator.
func (c *HTTPCheck) Validate() error {
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
	if c.Status != 0 && (c.Status < 100 || c.Status > 599) {
		return fmt.Errorf("status %d is not an HTTP status code", c.Status)
	}
	if c.Redirect != "" && c.RedirectPrefix != "" {
		return errors.New("give redirect (exact Location) or redirect_prefix, not both")
	}
	if c.Follow && (c.Redirect != "" || c.RedirectPrefix != "") {
		return errors.New("follow: true and a redirect expectation contradict each other: a followed redirect has no Location to check")
	}
	for _, h := range c.HeadersAbsent {
		for _, p := range c.HeadersPresent {
			if strings.EqualFold(h, p) {
				return fmt.Errorf("header %s is both in headers_present and headers_absent", h)
			}
		}
	}
	d, err := parseTimeout("timeout", c.Timeout, defaultTimeout)
	if err != nil {
		return err
	}
	c.timeout = d
	if c.within, err = parseTimeout("within", c.Within, 0); err != nil {
		return err
	}
	if c.BodyMatch != "" {
		re, err := regexp.Compile(c.BodyMatch)
		if err != nil {
			return fmt.Errorf("body_match: %v", err)
		}
		c.bodyRE = re
	}
	c.ready = true
	return nil
}

// Describe implements steps.Action.
func (c *HTTPCheck) Describe(env *steps.Env) string {
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	var exp []string
	switch {
	case c.Status != 0:
		exp = append(exp, fmt.Sprintf("status %d", c.Status))
	case c.Redirect != "" || c.RedirectPrefix != "":
		exp = append(exp, "status 3xx")
	default:
		exp = append(exp, "status 2xx")
	}
	if c.Redirect != "" {
		exp = append(exp, "Location = "+env.ShowExpand(c.Redirect))
	}
	if c.RedirectPrefix != "" {
		exp = append(exp, "Location starts with "+env.ShowExpand(c.RedirectPrefix))
	}
	if c.SecurityHeaders {
		var names []string
		for _, h := range securityHeaders {
			if h.name != "Server" {
				names = append(names, h.name)
			}
		}
		exp = append(exp, "security headers "+strings.Join(names, ", ")+", Server masked")
	}
	if len(c.HeadersPresent) > 0 {
		exp = append(exp, "headers present "+strings.Join(c.HeadersPresent, ", "))
	}
	if len(c.HeadersAbsent) > 0 {
		exp = append(exp, "headers absent "+strings.Join(c.HeadersAbsent, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(c.HeadersEqual)) {
		exp = append(exp, k+": "+env.Redact.String(c.HeadersEqual[k]))
	}
	if c.BodyMatch != "" {
		exp = append(exp, "body matching /"+c.BodyMatch+"/")
	}
	s := fmt.Sprintf("%s %s, expect %s", method, c.Endpoint.show(env), strings.Join(exp, "; "))
	if c.Within != "" {
		s += " (retrying while it is not, for up to " + c.Within + ")"
	}
	if c.Follow {
		s += " (following redirects)"
	}
	return s + c.TLSOptions.describe()
}

// Run implements steps.Action.
func (c *HTTPCheck) Run(ctx context.Context, env *steps.Env) error {
	if !c.ready {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	u, tc, err := resolveWithTLS(env, c.Endpoint, c.TLSOptions)
	if err != nil {
		return err
	}
	client := newClient(tc, c.timeout, c.Follow, 1)
	defer client.CloseIdleConnections()
	target := ""
	if c.URL == "" {
		target = c.targetName()
	}
	if c.within > 0 {
		if err := c.await(ctx, env, client, u, target); err != nil {
			return err
		}
	}
	req, err := c.request(ctx, env, u)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return requestError(env, c.Method, u, target, err)
	}
	defer resp.Body.Close()
	// Bounded: a check reads at most 1 MiB of body.
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read response body: %w", c.Method, env.Redact.String(u.String()), err)
	}
	env.Printf("%s %s → %s (%s, %s)", c.Method, env.Redact.String(u.String()), resp.Status, protoOf(resp), ms(time.Since(start)))

	var fails []string
	check := func(ok bool, okLine, failLine string) {
		if ok {
			env.Printf("  ok   %s", env.Redact.String(okLine))
			return
		}
		env.Printf("  FAIL %s", env.Redact.String(failLine))
		fails = append(fails, failLine)
	}
	c.checkStatus(resp, check)
	if err := c.checkRedirect(env, resp, check); err != nil {
		return err
	}
	for _, h := range c.HeadersPresent {
		v := resp.Header.Values(h)
		check(len(v) > 0, fmt.Sprintf("header %s present: %s", h, strings.Join(v, ", ")),
			fmt.Sprintf("header %s: expected present, found absent", h))
	}
	for _, h := range c.HeadersAbsent {
		v := resp.Header.Values(h)
		check(len(v) == 0, fmt.Sprintf("header %s absent", h),
			fmt.Sprintf("header %s: expected absent, found %q", h, strings.Join(v, ", ")))
	}
	for _, h := range slices.Sorted(maps.Keys(c.HeadersEqual)) {
		want, err := env.Expand(c.HeadersEqual[h])
		if err != nil {
			return err
		}
		got, present := headerValue(resp.Header, h)
		found := "absent"
		if present {
			found = strconv.Quote(got)
		}
		check(present && got == want, fmt.Sprintf("header %s = %q", h, got),
			fmt.Sprintf("header %s: expected %q, found %s", h, want, found))
	}
	if c.SecurityHeaders {
		for _, sh := range securityHeaders {
			v, present := headerValue(resp.Header, sh.name)
			problem := sh.judge(v, present)
			check(problem == "", fmt.Sprintf("header %s: %s", sh.name, v),
				fmt.Sprintf("header %s: expected %s, found %s", sh.name, sh.want, problem))
		}
	}
	if c.bodyRE != nil {
		check(c.bodyRE.Match(respBody), fmt.Sprintf("body matches /%s/", c.BodyMatch),
			fmt.Sprintf("body: expected a match for /%s/, found none in %d bytes", c.BodyMatch, len(respBody)))
	}
	if len(fails) > 0 {
		return fmt.Errorf("%s %s: %d of the expectations failed: %s", c.Method, env.Redact.String(u.String()), len(fails), env.Redact.String(strings.Join(fails, "; ")))
	}
	return nil
}

// request builds the check's request.
func (c *HTTPCheck) request(ctx context.Context, env *steps.Env, u *url.URL) (*http.Request, error) {
	var body io.Reader
	if c.Body != "" {
		b, err := env.Expand(c.Body)
		if err != nil {
			return nil, err
		}
		body = strings.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", c.Method, env.Redact.String(u.String()), err)
	}
	for k, v := range c.Header {
		x, err := env.Expand(v)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(k, "Host") {
			req.Host = x
			continue
		}
		req.Header.Set(k, x)
	}
	return req, nil
}

// statusOK says whether a status meets the check's status expectation,
// and what it expects.
func (c *HTTPCheck) statusOK(got int) (bool, string) {
	switch {
	case c.Status != 0:
		return got == c.Status, strconv.Itoa(c.Status)
	case c.Redirect != "" || c.RedirectPrefix != "":
		return got >= 300 && got < 400, "a redirect (3xx)"
	}
	return got >= 200 && got < 300, "2xx"
}

// await retries the request with backoff until it is answered with the
// expected status or within runs out; each change of what it sees is
// printed, and the timeout error says what it saw last.
func (c *HTTPCheck) await(ctx context.Context, env *steps.Env, client *http.Client, u *url.URL, target string) error {
	start := time.Now()
	deadline := start.Add(c.within)
	delay := 100 * time.Millisecond
	last, want := "", ""
	for {
		req, err := c.request(ctx, env, u)
		if err != nil {
			return err
		}
		seen := ""
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s %s: %w", c.Method, env.Redact.String(u.String()), ctx.Err())
			}
			seen = requestError(env, c.Method, u, target, err).Error()
			_, want = c.statusOK(0)
		} else {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			var ok bool
			if ok, want = c.statusOK(resp.StatusCode); ok {
				if last != "" {
					env.Printf("%s %s answers %s after %s", c.Method, env.Redact.String(u.String()), resp.Status, time.Since(start).Round(100*time.Millisecond))
				}
				return nil
			}
			seen = "status " + resp.Status
		}
		if seen != last {
			env.Printf("waiting for %s %s to answer %s: %s (%s of %s)", c.Method, env.Redact.String(u.String()), want, env.Redact.String(seen), time.Since(start).Round(time.Second), c.within)
			last = seen
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s %s: expected status %s within %s, last seen: %s", c.Method, env.Redact.String(u.String()), want, c.within, env.Redact.String(seen))
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s: stopped waiting for status %s: %w (last seen: %s)", c.Method, env.Redact.String(u.String()), want, ctx.Err(), env.Redact.String(seen))
		case <-t.C:
		}
		delay = min(delay*2, 2*time.Second)
	}
}

type checkFunc func(ok bool, okLine, failLine string)

func (c *HTTPCheck) checkStatus(resp *http.Response, check checkFunc) {
	got := resp.StatusCode
	switch {
	case c.Status != 0:
		check(got == c.Status, fmt.Sprintf("status %d", got), fmt.Sprintf("status: expected %d, found %d", c.Status, got))
	case c.Redirect != "" || c.RedirectPrefix != "":
		check(got >= 300 && got < 400, fmt.Sprintf("status %d (redirect)", got), fmt.Sprintf("status: expected a redirect (3xx), found %d", got))
	default:
		check(got >= 200 && got < 300, fmt.Sprintf("status %d", got), fmt.Sprintf("status: expected 2xx, found %d", got))
	}
}

// checkRedirect compares Location with redirect or redirect_prefix, either
// of which may name a target ("${target.https_url}/health").
func (c *HTTPCheck) checkRedirect(env *steps.Env, resp *http.Response, check checkFunc) error {
	if c.Redirect == "" && c.RedirectPrefix == "" {
		return nil
	}
	want, err := env.Expand(c.Redirect)
	if err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	prefix, err := env.Expand(c.RedirectPrefix)
	if err != nil {
		return fmt.Errorf("redirect_prefix: %w", err)
	}
	loc, present := headerValue(resp.Header, "Location")
	found := "no Location header"
	if present {
		found = strconv.Quote(loc)
	}
	if want != "" {
		check(present && loc == want, "Location "+loc, fmt.Sprintf("Location: expected %q, found %s", want, found))
		return nil
	}
	check(present && strings.HasPrefix(loc, prefix), "Location "+loc,
		fmt.Sprintf("Location: expected a value starting with %q, found %s", prefix, found))
	return nil
}

func headerValue(h http.Header, name string) (string, bool) {
	v := h.Values(name)
	if len(v) == 0 {
		return "", false
	}
	return strings.Join(v, ", "), true
}

func protoOf(resp *http.Response) string {
	if resp.TLS == nil {
		return resp.Proto
	}
	return resp.Proto + " over " + tlsVersionName(resp.TLS.Version)
}

// securityHeader is one of the eight headers of the ready-made check: what
// it must look like and how to judge a response's value. judge returns ""
// when the value is acceptable, else what was found.
type securityHeader struct {
	name  string
	want  string
	judge func(v string, present bool) string
}

// serverRevealsRE matches a Server value that gives away the product or its
// version. A "masked" Server header is present and non-empty (so it can be
// told apart from a header that was merely dropped by a proxy) and matches
// none of: a version number (digits with dots, or a slash before a digit as
// in "nginx/1.25"), or the name of a common web server, application server
// or language runtime.
var serverRevealsRE = regexp.MustCompile(`(?i)\d+\.\d+|/\s*v?\d|\b(?:nginx|openresty|apache|httpd|caddy|envoy|traefik|haproxy|lighttpd|microsoft-iis|iis|kestrel|jetty|tomcat|undertow|uvicorn|gunicorn|hypercorn|daphne|werkzeug|waitress|python|cpython|fastapi|starlette|express|node(?:\.js)?|php|ruby|puma|unicorn|golang|go-http-server)\b`)

// maskedServer judges a Server header value.
func maskedServer(v string, present bool) string {
	switch {
	case !present:
		return "absent"
	case strings.TrimSpace(v) == "":
		return "an empty value"
	case serverRevealsRE.MatchString(v):
		return fmt.Sprintf("%q, which reveals %q", v, serverRevealsRE.FindString(v))
	}
	return ""
}

func nonEmpty(v string, present bool) string {
	switch {
	case !present:
		return "absent"
	case strings.TrimSpace(v) == "":
		return "an empty value"
	}
	return ""
}

var hstsMaxAgeRE = regexp.MustCompile(`(?i)(?:^|;)\s*max-age\s*=\s*"?(\d+)"?`)

var securityHeaders = []securityHeader{
	{"Strict-Transport-Security", "max-age > 0", func(v string, present bool) string {
		if p := nonEmpty(v, present); p != "" {
			return p
		}
		m := hstsMaxAgeRE.FindStringSubmatch(v)
		if m == nil {
			return strconv.Quote(v) + " (no max-age)"
		}
		if n, err := strconv.ParseInt(m[1], 10, 64); err != nil || n <= 0 {
			return strconv.Quote(v)
		}
		return ""
	}},
	{"X-Frame-Options", "DENY or SAMEORIGIN", func(v string, present bool) string {
		if p := nonEmpty(v, present); p != "" {
			return p
		}
		if !strings.EqualFold(strings.TrimSpace(v), "DENY") && !strings.EqualFold(strings.TrimSpace(v), "SAMEORIGIN") {
			return strconv.Quote(v)
		}
		return ""
	}},
	{"X-Content-Type-Options", "nosniff", func(v string, present bool) string {
		if p := nonEmpty(v, present); p != "" {
			return p
		}
		if !strings.EqualFold(strings.TrimSpace(v), "nosniff") {
			return strconv.Quote(v)
		}
		return ""
	}},
	{"X-XSS-Protection", "a value", nonEmpty},
	{"Content-Security-Policy", "a policy", nonEmpty},
	{"Referrer-Policy", "a policy", nonEmpty},
	{"Permissions-Policy", "a policy", nonEmpty},
	{"Server", "present and masked (no product name or version)", maskedServer},
}
