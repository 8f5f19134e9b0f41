package web_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/steptest"
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
		case len(f) == 6 && f[0] == "requests" && f[2] == "P50" && f[5] == "max":
			header = true
		case len(f) == 7 && f[0] == "baseline" && f[1] == "60" && f[2] == "0" && strings.HasSuffix(f[3], "µs"):
			rowHTTP = true
		case len(f) == 7 && f[0] == "probed" && f[1] == "60" && f[2] == "0" && strings.HasSuffix(f[3], "µs"):
			rowHTTPS = true
		}
	}
	if !header || !rowHTTP || !rowHTTPS {
		t.Errorf("table incomplete (header %v, baseline %v, probed %v):\n%s", header, rowHTTP, rowHTTPS, out)
	}
	// The URLs follow, each named by its role; no line is wider than an
	// output pane at 120 columns (about 68 cells).
	for _, want := range []string{"baseline  " + plain.URL + "/health", "probed    " + secure.URL + "/health"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "µs") && len([]rune(l)) > 68 {
			t.Errorf("a figures line is %d cells wide: %q", len([]rune(l)), l)
		}
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

// delayServer answers every request after a delay drawn from a known
// distribution — uniform in [base−jitter, base+jitter] from a fixed seed —
// and records how long each handler really took (the sleep as the
// scheduler kept it): the truth a client's figures are checked against.
type delayServer struct {
	*httptest.Server
	mu    sync.Mutex
	rng   *rand.Rand
	taken []time.Duration
}

func newDelayServer(base, jitter time.Duration) *delayServer {
	s := &delayServer{rng: rand.New(rand.NewPCG(1, 2))}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.mu.Lock()
		d := base - jitter + time.Duration(s.rng.Int64N(int64(2*jitter)+1))
		s.mu.Unlock()
		time.Sleep(d)
		took := time.Since(start)
		s.mu.Lock()
		s.taken = append(s.taken, took)
		s.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	return s
}

// truth returns the nearest-rank P50 and P95 of the handler times since
// the last call, and forgets them.
func (s *delayServer) truth() (p50, p95 time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.taken
	s.taken = nil
	return nearestRank(t, 50), nearestRank(t, 95)
}

func nearestRank(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[max(0, int(math.Ceil(p/100*float64(len(s))))-1)]
}

// probeFigures reads P50 and P95 of the probe's table, as the operator
// sees them.
func probeFigures(tb testing.TB, out string) (p50, p95 time.Duration) {
	tb.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 7 && f[0] == "probed" && strings.HasSuffix(f[3], "µs") {
			a, err1 := strconv.Atoi(strings.TrimSuffix(f[3], "µs"))
			b, err2 := strconv.Atoi(strings.TrimSuffix(f[4], "µs"))
			if err1 != nil || err2 != nil {
				tb.Fatalf("table row %q", l)
			}
			return time.Duration(a) * time.Microsecond, time.Duration(b) * time.Microsecond
		}
	}
	tb.Fatalf("no table row in the probe's output:\n%s", out)
	return 0, 0
}

// heyFigures runs hey with the same request count and concurrency and
// takes its per-request times from its CSV output (full precision; its
// summary prints 0.1 ms).
func heyFigures(tb testing.TB, hey, url string, n, c int) (p50, p95 time.Duration) {
	tb.Helper()
	out, err := exec.Command(hey, "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-o", "csv", url).Output()
	if err != nil {
		tb.Fatalf("hey: %v", err)
	}
	var d []time.Duration
	for _, l := range strings.Split(string(out), "\n")[1:] {
		f := strings.Split(l, ",")
		if len(f) < 7 {
			continue
		}
		secs, err := strconv.ParseFloat(f[0], 64)
		if err != nil || f[6] != "200" {
			tb.Fatalf("hey row %q", l)
		}
		d = append(d, time.Duration(secs*float64(time.Second)))
	}
	if len(d) != n {
		tb.Fatalf("hey reported %d requests, want %d", len(d), n)
	}
	return nearestRank(d, 50), nearestRank(d, 95)
}

// BenchmarkLatencyProbeAccuracy: is the probe right? Against a loopback
// server whose delay is 10 ms ± 2 ms (uniform), in every round the probe
// (400 requests, concurrency 4, no warm-up) and hey (the same) run in
// alternating order; each client's P50 and P95 are compared with the
// server's own handler times of that run, and the probe's with hey's.
// Goal: within 5% of the truth and of hey. Without hey on PATH the probe
// is compared with the truth only, and the output says so.
func BenchmarkLatencyProbeAccuracy(b *testing.B) {
	const n, c = 400, 4
	srv := newDelayServer(10*time.Millisecond, 2*time.Millisecond)
	defer srv.Close()
	hey, heyErr := exec.LookPath("hey")
	zero := 0
	// Per round, the larger of the P50 and P95 deviations.
	var offTruth, offHey, heyOffTruth []float64
	dev := func(a, b time.Duration) float64 { return math.Abs(float64(a)/float64(b) - 1) }
	var last [6]time.Duration // probe, hey, truth: P50, P95 of the last round
	i := 0
	for b.Loop() {
		for k := range 2 {
			if (i+k)%2 == 0 {
				env := &steps.Env{Targets: steps.Targets{}, Redact: steps.NewRedactor(), Out: &steptest.Buffer{}}
				p := &web.LatencyProbe{Endpoint: web.Endpoint{URL: srv.URL}, Requests: n, Concurrency: c, Warmup: &zero}
				if err := p.Run(b.Context(), env); err != nil {
					b.Fatal(err)
				}
				p50, p95 := probeFigures(b, env.Out.(*steptest.Buffer).String())
				t50, t95 := srv.truth()
				offTruth = append(offTruth, max(dev(p50, t50), dev(p95, t95)))
				last[0], last[1], last[4], last[5] = p50, p95, t50, t95
			} else if heyErr == nil {
				h50, h95 := heyFigures(b, hey, srv.URL, n, c)
				t50, t95 := srv.truth()
				heyOffTruth = append(heyOffTruth, max(dev(h50, t50), dev(h95, t95)))
				last[2], last[3] = h50, h95
			}
		}
		if heyErr == nil {
			offHey = append(offHey, max(dev(last[0], last[2]), dev(last[1], last[3])))
		}
		i++
	}
	// The median round is the accuracy; the worst round shows how much a
	// loaded machine (whose scheduler delays client and server alike)
	// moves it.
	med := func(x []float64) float64 { y := slices.Clone(x); slices.Sort(y); return y[len(y)/2] }
	verdict := func(x float64) string {
		if x <= 0.05 {
			return "meets"
		}
		return "MISSES"
	}
	µs := func(d time.Duration) int64 { return d.Microseconds() }
	b.ReportMetric(med(offTruth)*100, "%-off-truth")
	b.Logf("latency probe vs the server's truth (10 ms ± 2 ms): P50/P95 off by %.2f%% in the median round, %.2f%% in the worst of %d (goal ≤ 5%%, %s); last round P50 %d µs vs %d µs, P95 %d µs vs %d µs",
		med(offTruth)*100, slices.Max(offTruth)*100, i, verdict(med(offTruth)), µs(last[0]), µs(last[4]), µs(last[1]), µs(last[5]))
	if heyErr != nil {
		b.Logf("hey is not on PATH (Debian: apt-get install hey): the probe was compared with the truth only")
		return
	}
	b.ReportMetric(med(offHey)*100, "%-off-hey")
	b.Logf("latency probe vs hey on the same server: P50/P95 off by %.2f%% in the median round, %.2f%% in the worst (goal ≤ 5%%, %s); last round hey P50 %d µs, P95 %d µs (hey's CSV has 0.1 ms resolution); hey itself off the truth by %.2f%% in the median round",
		med(offHey)*100, slices.Max(offHey)*100, verdict(med(offHey)), µs(last[2]), µs(last[3]), med(heyOffTruth)*100)
}
