package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/web"
)

func TestLatencyProbeHTTPvsHTTPS(t *testing.T) {
	var hits atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("ok"))
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure := httptest.NewTLSServer(h)
	defer secure.Close()
	env, out := newEnv(t, steps.Targets{"http_url": plain.URL, "https_url": secure.URL})
	p := &web.LatencyProbe{
		Endpoint:    web.Endpoint{Target: "https_url", Path: "/health"},
		Baseline:    &web.Endpoint{Target: "http_url", Path: "/health"},
		TLSOptions:  web.TLSOptions{CAFile: writeCAFile(t, env.Workspace, secure.Certificate())},
		Requests:    60,
		Concurrency: 3,
		// Generous: a loopback round trip is far below these; the point is
		// that the judgement runs and passes.
		P95Max: "1s", OverheadMax: "500ms",
	}
	if err := run(t, p, env); err != nil {
		t.Fatalf("latency.probe: %v\n%s", err, out)
	}
	// 1 first request + 3 warm-up + 60 probed, per URL.
	if got := hits.Load(); got != 2*(1+3+60) {
		t.Errorf("server saw %d requests, want %d", got, 2*(1+3+60))
	}
	lines := strings.Split(out.String(), "\n")
	var header, rowHTTP, rowHTTPS bool
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 7 && f[0] == "requests" && f[2] == "P50" && f[6] == "URL":
			header = true
		case len(f) == 7 && f[0] == "60" && f[1] == "0" && f[6] == plain.URL+"/health":
			rowHTTP = true
		case len(f) == 7 && f[0] == "60" && f[1] == "0" && f[6] == secure.URL+"/health":
			rowHTTPS = true
		}
	}
	if !header || !rowHTTP || !rowHTTPS {
		t.Errorf("table incomplete (header %v, http %v, https %v):\n%s", header, rowHTTP, rowHTTPS, out)
	}
	for _, want := range []string{"ok   P95 ", "< 1s", "ok   overhead (P50, probed − baseline): "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestLatencyProbeThresholds(t *testing.T) {
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer fast.Close()
	// The slow service takes 20 ms per request: that is its behaviour
	// under test, not a wait of the test.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(20 * time.Millisecond) }))
	defer slow.Close()
	env, out := newEnv(t, nil)
	zero := 0
	p := &web.LatencyProbe{
		Endpoint: web.Endpoint{URL: slow.URL}, Baseline: &web.Endpoint{URL: fast.URL},
		Requests: 10, Concurrency: 5, Warmup: &zero, P95Max: "10ms", OverheadMax: "5ms",
	}
	err := run(t, p, env)
	if err == nil {
		t.Fatalf("a 20 ms service passed P95 < 10ms:\n%s", out)
	}
	for _, want := range []string{
		"latency probe: " + slow.URL + ": expected P95 < 10ms, found ",
		"; overhead (P50): expected < 5ms, found ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if !strings.Contains(out.String(), "FAIL P95 ") {
		t.Errorf("output:\n%s", out)
	}
}

func TestLatencyProbeErrors(t *testing.T) {
	var n atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer flaky.Close()
	env, _ := newEnv(t, nil)
	zero := 0
	err := run(t, &web.LatencyProbe{Endpoint: web.Endpoint{URL: flaky.URL}, Requests: 20, Concurrency: 1, Warmup: &zero}, env)
	want := fmt.Sprintf("latency probe: %s: 10 of 20 requests failed (first: answered 502 Bad Gateway)", flaky.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}

	addr := closedAddr(t)
	env, _ = newEnv(t, steps.Targets{"app_url": "http://" + addr})
	err = run(t, &web.LatencyProbe{Endpoint: web.Endpoint{Path: "/health"}}, env)
	want = fmt.Sprintf("GET http://%s/health: dial tcp %s: connect: connection refused: is the service up and listening there? (check the value of target app_url)", addr, addr)
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}

func TestLatencyProbeValidateDescribe(t *testing.T) {
	if err := (&web.LatencyProbe{OverheadMax: "5ms"}).Validate(); err == nil || err.Error() != "overhead_max needs a baseline to compare against" {
		t.Errorf("Validate: %v", err)
	}
	if err := (&web.LatencyProbe{Concurrency: 100}).Validate(); err == nil || err.Error() != "concurrency 100 must be between 1 and 64" {
		t.Errorf("Validate: %v", err)
	}
	env, _ := newEnv(t, steps.Targets{"app_url": "https://localhost:8443"})
	p := &web.LatencyProbe{Endpoint: web.Endpoint{Path: "/health"}, Baseline: &web.Endpoint{URL: "http://localhost:8001/health"}, P95Max: "100ms", OverheadMax: "5ms"}
	want := "200 × GET https://localhost:8443/health at concurrency 4, and 200 × http://localhost:8001/health as baseline; expect P95 < 100ms, overhead (P50) < 5ms"
	if got := p.Describe(env); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
}

func BenchmarkLatencyProbe200(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	env := &steps.Env{Targets: steps.Targets{}, Redact: steps.NewRedactor()}
	p := &web.LatencyProbe{Endpoint: web.Endpoint{URL: srv.URL}, Requests: 200, Concurrency: 4}
	if err := p.Validate(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := p.Run(b.Context(), env); err != nil {
			b.Fatal(err)
		}
	}
}
