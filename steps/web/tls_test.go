package web_test

import (
	"crypto/tls"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/web"
)

// t0 is the fake "now" of the TLS tests; certificates are issued around it.
var t0 = time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)

func TestTLSCheckPass(t *testing.T) {
	ca := newTestCA(t, t0.Add(-48*time.Hour))
	cert := ca.issue(t, []string{"localhost", "127.0.0.1"}, t0.Add(-time.Hour), t0.Add(90*24*time.Hour+time.Hour))
	srv := tlsServer(t, app(appHeaders, 200), cert, tls.VersionTLS12, 0)
	env, out := newEnv(t, steps.Targets{"app_url": srv.URL})
	env.Clock = steps.NewFakeClock(t0)
	c := &web.TLSCheck{
		TLSOptions: web.TLSOptions{CAFile: ca.file(t, env.Workspace), ServerName: "localhost"},
		MinVersion: "1.2", SANs: []string{"localhost", "127.0.0.1"}, MinDays: 30,
	}
	if err := run(t, c, env); err != nil {
		t.Fatalf("tls.check: %v\n%s", err, out)
	}
	addr := hostPort(srv.URL)
	for _, want := range []string{
		addr + ": TLS 1.3, TLS_",
		"  SANs: localhost, 127.0.0.1",
		"  valid 2025-10-24 to 2026-01-22 (90 days left)",
		"  ok   negotiated TLS 1.3",
		"  ok   TLS 1.1 and older refused",
		"  ok   chain verified against " + env.Workspace + "/test-ca.crt",
		"  ok   SAN 127.0.0.1",
		"  ok   90 days to expiry (≥ 30)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTLSCheckFailures(t *testing.T) {
	ca := newTestCA(t, t0.Add(-48*time.Hour))
	cert := ca.issue(t, []string{"localhost"}, t0.Add(-time.Hour), t0.Add(10*24*time.Hour+time.Hour))
	// A server that still speaks TLS 1.0 and 1.1.
	srv := tlsServer(t, app(appHeaders, 200), cert, tls.VersionTLS10, tls.VersionTLS11)
	env, _ := newEnv(t, steps.Targets{"app_url": srv.URL})
	env.Clock = steps.NewFakeClock(t0)
	c := &web.TLSCheck{
		TLSOptions: web.TLSOptions{CAFile: ca.file(t, env.Workspace), ServerName: "localhost"},
		MinVersion: "1.2", SANs: []string{"localhost", "nginx"}, MinDays: 30,
	}
	err := run(t, c, env)
	addr := hostPort(srv.URL)
	want := "TLS " + addr + ": 4 of the expectations failed: " +
		"protocol: expected TLS 1.2 or newer, found TLS 1.1; " +
		"protocol: expected TLS 1.1 to be refused, but the server accepted it; " +
		"SANs: expected nginx, found localhost; " +
		"expiry: expected at least 30 days left, found 10 (expires 2025-11-03)"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}

func TestTLSCheckUntrusted(t *testing.T) {
	ca := newTestCA(t, t0.Add(-48*time.Hour))
	other := newTestCA(t, t0.Add(-48*time.Hour))
	cert := ca.issue(t, []string{"localhost"}, t0.Add(-time.Hour), t0.Add(365*24*time.Hour))
	srv := tlsServer(t, app(appHeaders, 200), cert, 0, 0)
	env, _ := newEnv(t, steps.Targets{"app_url": srv.URL})
	env.Clock = steps.NewFakeClock(t0)
	caFile := other.file(t, env.Workspace)
	err := run(t, &web.TLSCheck{TLSOptions: web.TLSOptions{CAFile: caFile}}, env)
	host := strings.Split(hostPort(srv.URL), ":")[0]
	want := fmt.Sprintf("TLS %s: 2 of the expectations failed: chain: expected a chain to %s, found: x509: certificate signed by unknown authority (possibly because of \"x509: ECDSA verification failure\" while trying to verify candidate authority certificate \"test CA\"); name: expected the certificate to cover %s, found SANs localhost",
		hostPort(srv.URL), caFile, host)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}

func TestTLSCheckUnreachable(t *testing.T) {
	addr := closedAddr(t)
	env, _ := newEnv(t, nil)
	err := run(t, &web.TLSCheck{Address: addr}, env)
	want := fmt.Sprintf("TLS handshake with %s: dial tcp %s: connect: connection refused: is the TLS endpoint up (listen ... ssl) at that address?", addr, addr)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	// Plain HTTP where TLS is expected.
	srv := httptest.NewServer(app(appHeaders, 200))
	defer srv.Close()
	err = run(t, &web.TLSCheck{Address: hostPort(srv.URL)}, env)
	if err == nil || !strings.Contains(err.Error(), "tls: first record does not look like a TLS handshake") {
		t.Fatalf("error: %v", err)
	}
	env.Targets["app_url"] = srv.URL
	err = run(t, &web.TLSCheck{}, env)
	if err == nil || err.Error() != srv.URL+" is not an https URL: a TLS check needs the TLS endpoint" {
		t.Fatalf("error: %v", err)
	}
}

func TestTLSCheckDescribe(t *testing.T) {
	env, _ := newEnv(t, steps.Targets{"app_url": "https://localhost:8443"})
	c := &web.TLSCheck{TLSOptions: web.TLSOptions{CAFile: "certs/ca.crt"}, MinVersion: "1.2", SANs: []string{"localhost"}, MinDays: 30}
	want := "TLS to https://localhost:8443, expect handshake; TLS ≥ 1.2 (older refused); chain verified against certs/ca.crt; SANs include localhost; ≥ 30 days to expiry"
	if got := c.Describe(env); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
	if err := (&web.TLSCheck{MinVersion: "1.1"}).Validate(); err == nil || err.Error() != `min_version "1.1": expected "1.2" or "1.3"` {
		t.Errorf("Validate: %v", err)
	}
}
