package web_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/web"
)

// A redirect expectation may name the HTTPS target, so the check follows
// the runbook's targets instead of a host written into it.
func TestHTTPCheckRedirectFromTarget(t *testing.T) {
	srv := httptest.NewServer(app(appHeaders, 200))
	defer srv.Close()
	env, out := newEnv(t, steps.Targets{"http_url": srv.URL, "https_url": "https://localhost:8443"})
	ok := &web.HTTPCheck{Endpoint: web.Endpoint{Target: "http_url", Path: "/redirect"}, Status: 301, Redirect: "${target.https_url}/redirect"}
	if err := run(t, ok, env); err != nil {
		t.Fatalf("redirect check: %v\n%s", err, out)
	}
	prefix := &web.HTTPCheck{Endpoint: web.Endpoint{Target: "http_url", Path: "/redirect"}, RedirectPrefix: "${target.https_url}/"}
	if err := run(t, prefix, env); err != nil {
		t.Fatalf("redirect_prefix check: %v\n%s", err, out)
	}

	env.Targets["https_url"] = "https://other.example"
	err := run(t, ok, env)
	if err == nil || !strings.Contains(err.Error(), `Location: expected "https://other.example/redirect", found "https://localhost:8443/redirect"`) {
		t.Errorf("error with another https_url: %v", err)
	}
	delete(env.Targets, "https_url")
	err = run(t, ok, env)
	if err == nil || !strings.Contains(err.Error(), `redirect: unknown target "https_url"`) {
		t.Errorf("error with no https_url: %v", err)
	}
}
