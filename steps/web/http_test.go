package web_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/web"
)

func run(t *testing.T, a interface {
	Validate() error
	Run(context.Context, *steps.Env) error
}, env *steps.Env) error {
	t.Helper()
	if err := a.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return a.Run(context.Background(), env)
}

func TestHTTPCheckSecurityHeadersOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(app(appHeaders, 200))
	defer srv.Close()
	env, out := newEnv(t, steps.Targets{"app_url": srv.URL})
	c := &web.HTTPCheck{
		Endpoint:        web.Endpoint{Path: "/health"},
		TLSOptions:      web.TLSOptions{CAFile: writeCAFile(t, env.Workspace, srv.Certificate())},
		SecurityHeaders: true,
		BodyMatch:       `"status":\s*"ok"`,
		HeadersEqual:    map[string]string{"Content-Type": "application/json"},
		HeadersAbsent:   []string{"X-Powered-By"},
	}
	if err := run(t, c, env); err != nil {
		t.Fatalf("check failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"GET " + srv.URL + "/health → 200 OK (HTTP/1.1 over TLS 1.3",
		"  ok   header Strict-Transport-Security: max-age=31536000; includeSubDomains",
		"  ok   header Server: api",
		"  ok   body matches /\"status\":\\s*\"ok\"/",
		"  ok   header X-Powered-By absent",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestHTTPCheckSecurityHeadersFail(t *testing.T) {
	h := map[string]string{}
	for k, v := range appHeaders {
		h[k] = v
	}
	delete(h, "X-Frame-Options")
	h["Server"] = "uvicorn"
	h["X-Content-Type-Options"] = "sniff"
	srv := httptest.NewServer(app(h, 503))
	defer srv.Close()
	env, out := newEnv(t, steps.Targets{"app_url": srv.URL})
	err := run(t, &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}, SecurityHeaders: true}, env)
	want := "GET " + srv.URL + "/health: 4 of the expectations failed: " +
		"status: expected 2xx, found 503; " +
		"header X-Frame-Options: expected DENY or SAMEORIGIN, found absent; " +
		`header X-Content-Type-Options: expected nosniff, found "sniff"; ` +
		`header Server: expected present and masked (no product name or version), found "uvicorn", which reveals "uvicorn"`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	if !strings.Contains(out.String(), "  FAIL header X-Frame-Options: expected DENY or SAMEORIGIN, found absent") {
		t.Errorf("output does not show the failure:\n%s", out)
	}
}

func TestServerMasked(t *testing.T) {
	h := map[string]string{}
	for k, v := range appHeaders {
		h[k] = v
	}
	for _, tc := range []struct {
		server string
		ok     bool
	}{
		{"api", true},
		{"FacelessAPI", true},
		{"nginx", false},
		{"nginx/1.25.3", false},
		{"Apache/2.4.57 (Debian)", false},
		{"gunicorn", false},
		{"Python/3.11 aiohttp", false},
		{"myserver 2.1", false},
		{"", false},
	} {
		h["Server"] = tc.server
		srv := httptest.NewServer(app(h, 200))
		env, _ := newEnv(t, steps.Targets{"app_url": srv.URL})
		err := run(t, &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}, SecurityHeaders: true}, env)
		srv.Close()
		if (err == nil) != tc.ok {
			t.Errorf("Server %q: masked=%v, error %v", tc.server, tc.ok, err)
		}
	}
}

func TestHTTPCheckRedirect(t *testing.T) {
	srv := httptest.NewServer(app(appHeaders, 200))
	defer srv.Close()
	env, out := newEnv(t, steps.Targets{"http_url": srv.URL})
	ok := &web.HTTPCheck{Endpoint: web.Endpoint{Target: "http_url", Path: "/redirect"}, Status: 301, Redirect: "https://localhost:8443/redirect"}
	if err := run(t, ok, env); err != nil {
		t.Fatalf("redirect check: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "  ok   Location https://localhost:8443/redirect") {
		t.Errorf("output:\n%s", out)
	}
	bad := &web.HTTPCheck{Endpoint: web.Endpoint{Target: "http_url", Path: "/redirect"}, RedirectPrefix: "https://localhost/"}
	err := run(t, bad, env)
	want := fmt.Sprintf(`GET %s/redirect: 1 of the expectations failed: Location: expected a value starting with "https://localhost/", found "https://localhost:8443/redirect"`, srv.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	// Not following is the default: a plain check of /redirect sees 301.
	plain := &web.HTTPCheck{Endpoint: web.Endpoint{Target: "http_url", Path: "/redirect"}}
	err = run(t, plain, env)
	if err == nil || !strings.Contains(err.Error(), "status: expected 2xx, found 301") {
		t.Fatalf("error: %v", err)
	}
}

func TestHTTPCheckUnreachable(t *testing.T) {
	addr := closedAddr(t)
	env, _ := newEnv(t, steps.Targets{"app_url": "http://" + addr})
	err := run(t, &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}}, env)
	want := fmt.Sprintf("GET http://%s/health: dial tcp %s: connect: connection refused: is the service up and listening there? (check the value of target app_url)", addr, addr)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	env, _ = newEnv(t, nil)
	err = run(t, &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}}, env)
	want = "target app_url has no value: give it one with a flag, the profile or its environment variable"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}

func TestHTTPCheckTrust(t *testing.T) {
	srv := httptest.NewUnstartedServer(app(appHeaders, 200))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	env, _ := newEnv(t, steps.Targets{"app_url": srv.URL})
	err := run(t, &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}}, env)
	if err == nil || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority: the certificate is not trusted: give the CA with ca_file") {
		t.Fatalf("untrusted certificate: error %v", err)
	}
	insecure := &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}, TLSOptions: web.TLSOptions{InsecureSkipVerify: true}}
	if err := run(t, insecure, env); err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}
	if d := insecure.Describe(env); !strings.Contains(d, "INSECURE: certificate NOT verified") {
		t.Errorf("Describe does not warn: %s", d)
	}
	missing := &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}, TLSOptions: web.TLSOptions{CAFile: "certs/ca.crt"}}
	err = run(t, missing, env)
	if err == nil || !strings.Contains(err.Error(), "read ca_file: open "+env.Workspace+"/certs/ca.crt: no such file or directory: generate it first (cert.generate) or fix the path") {
		t.Fatalf("missing CA file: %v", err)
	}
}

// A secret in the URL, a request header and a response header never shows
// in the output or the error.
func TestHTTPCheckSecretNeverShown(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a39281706"
	const pass = "pw-0a1b2c3d4e5f"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.WriteHeader(200)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://ops:"+pass+"@", 1)
	env, out := newEnv(t, steps.Targets{"app_url": u, "token": token}, token, pass)
	c := &web.HTTPCheck{
		Endpoint:       web.Endpoint{Path: "/x"},
		Header:         map[string]string{"Authorization": "Bearer ${target.token}"},
		HeadersEqual:   map[string]string{"X-Echo": "Bearer something-else"},
		HeadersPresent: []string{"X-Echo"},
	}
	err := run(t, c, env)
	if err == nil || !strings.Contains(err.Error(), `header X-Echo: expected "Bearer something-else", found "Bearer [redacted]"`) {
		t.Fatalf("error: %v", err)
	}
	all := out.String() + err.Error() + c.Describe(env)
	for _, s := range []string{token, pass} {
		if strings.Contains(all, s) {
			t.Fatalf("secret %q shown:\n%s", s, all)
		}
	}
}

func TestHTTPCheckValidate(t *testing.T) {
	for _, tc := range []struct {
		c    web.HTTPCheck
		want string
	}{
		{web.HTTPCheck{Endpoint: web.Endpoint{URL: "http://x", Target: "a"}}, "give either url or target (with path), not both"},
		{web.HTTPCheck{Endpoint: web.Endpoint{URL: "ftp://x"}}, `url "ftp://x" must start with http:// or https://`},
		{web.HTTPCheck{Endpoint: web.Endpoint{Path: "health"}}, `path "health" must start with /`},
		{web.HTTPCheck{Status: 999}, "status 999 is not an HTTP status code"},
		{web.HTTPCheck{Redirect: "a", RedirectPrefix: "b"}, "give redirect (exact Location) or redirect_prefix, not both"},
		{web.HTTPCheck{Follow: true, Redirect: "a"}, "follow: true and a redirect expectation contradict each other: a followed redirect has no Location to check"},
		{web.HTTPCheck{BodyMatch: "("}, "body_match: error parsing regexp: missing closing ): `(`"},
		{web.HTTPCheck{TLSOptions: web.TLSOptions{CAFile: "x", InsecureSkipVerify: true}}, "ca_file and insecure_skip_verify contradict each other: keep ca_file"},
		{web.HTTPCheck{Timeout: "soon"}, `timeout "soon" is not a positive duration (e.g. 10s, 1m)`},
	} {
		err := tc.c.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %s", tc.c, err, tc.want)
		}
	}
}

func TestHTTPCheckDescribe(t *testing.T) {
	env, _ := newEnv(t, steps.Targets{"app_url": "https://localhost:8443"})
	c := &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}, SecurityHeaders: true, TLSOptions: web.TLSOptions{CAFile: "certs/ca.crt"}}
	want := "GET https://localhost:8443/health, expect status 2xx; security headers Strict-Transport-Security, X-Frame-Options, X-Content-Type-Options, X-XSS-Protection, Content-Security-Policy, Referrer-Policy, Permissions-Policy, Server masked, trusting CA certs/ca.crt"
	if got := c.Describe(env); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
}

func BenchmarkHTTPCheckTLS(b *testing.B) {
	srv := httptest.NewTLSServer(app(appHeaders, 200))
	defer srv.Close()
	env := &steps.Env{Out: nil, Targets: steps.Targets{"app_url": srv.URL}, Redact: steps.NewRedactor(), Workspace: b.TempDir()}
	c := &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}, TLSOptions: web.TLSOptions{CAFile: writeCAFile(b, env.Workspace, srv.Certificate())}, SecurityHeaders: true}
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := c.Run(context.Background(), env); err != nil {
			b.Fatal(err)
		}
	}
}
