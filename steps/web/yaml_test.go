package web_test

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/web"
)

const runbookHead = `id: web-test
title: Web checks
schedule: {date: "2025-10-24", timezone: UTC}
targets:
  app_url: {kind: url, default: "https://localhost:8443"}
  http_url: {kind: url, default: "http://localhost:8001"}
phases:
  - id: item2
    title: TLS
    slot: "08:00-11:00"
    steps:
      - id: test-https
        title: Test HTTPS and redirects
        budget: 20m
        guide: item2.md#test
        verify:
`

func registry() *steps.Registry {
	r := steps.NewRegistry()
	web.Register(r)
	return r
}

func TestYAMLDecode(t *testing.T) {
	src := runbookHead + `          - http.check:
              path: /health
              ca_file: certs/ca.crt
              security_headers: true
              headers_equal: {X-Frame-Options: DENY}
          - http.check: {target: http_url, path: /, status: 301, redirect_prefix: "https://"}
          - tls.check: {ca_file: certs/ca.crt, min_version: "1.2", sans: [localhost], min_days: 30}
          - ratelimit.check: {path: /api/auth/login, method: POST, limit: 5, window: 1m}
          - latency.probe:
              path: /health
              baseline: {target: http_url, path: /health}
              ca_file: certs/ca.crt
              requests: 100
              p95_max: 100ms
              overhead_max: 5ms
`
	rb, err := runbooks.Parse([]byte(src), "web.yaml", nil, runbooks.LoadOptions{Actions: registry()})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	v := rb.Phases[0].Steps[0].Verify
	if len(v) != 5 {
		t.Fatalf("%d actions, want 5", len(v))
	}
	hc := v[0].Params.(*web.HTTPCheck)
	if hc.Path != "/health" || hc.CAFile != "certs/ca.crt" || !hc.SecurityHeaders || hc.HeadersEqual["X-Frame-Options"] != "DENY" || hc.Method != "GET" {
		t.Errorf("http.check decoded as %+v", hc)
	}
	lp := v[4].Params.(*web.LatencyProbe)
	if lp.Baseline == nil || lp.Baseline.Target != "http_url" || lp.Requests != 100 || lp.P95Max != "100ms" {
		t.Errorf("latency.probe decoded as %+v", lp)
	}
	env := &steps.Env{Targets: steps.Targets{"app_url": "https://localhost:8443", "http_url": "http://localhost:8001"}, Redact: steps.NewRedactor()}
	if got, want := v[1].Params.(steps.Action).Describe(env), `GET http://localhost:8001/, expect status 301; Location starts with https://`; got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
}

func TestYAMLErrors(t *testing.T) {
	for _, tc := range []struct {
		action, want string
	}{
		{"- http.check: {path: /health, expect_status: 200}", `web.yaml:17:41: http.check: unknown field "expect_status"`},
		{"- ratelimit.check: {path: /login, limit: 5}", `web.yaml:17:13: ratelimit.check: window is required: the tier's period (e.g. 1m)`},
		{"- tls.check: {min_version: 1.1}", `web.yaml:17:13: tls.check: min_version "1.1": expected "1.2" or "1.3"`},
		{"- latency.probe: {requests: many}", `web.yaml:17:39: latency.probe: cannot unmarshal string into Go struct field LatencyProbe.Requests of type int`},
	} {
		src := runbookHead + "          " + tc.action + "\n"
		_, err := runbooks.Parse([]byte(src), "web.yaml", nil, runbooks.LoadOptions{Actions: registry()})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.action, err, tc.want)
		}
	}
}
