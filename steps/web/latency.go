package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// Bounds of a latency probe: enough samples for a stable P99, never a load
// test against a shared staging stack.
const (
	maxProbeRequests    = 10000
	maxProbeConcurrency = 64
	defaultProbeN       = 200
	defaultProbeC       = 4
)

// LatencyProbe is the `latency.probe` action: a bounded number of requests
// at a fixed concurrency against one URL, or against two (a baseline and the
// probed URL, e.g. plain HTTP and HTTPS), reporting P50/P95/P99 and the
// difference between them, judged against thresholds.
//
//   - latency.probe:
//     url: https://localhost:8443/health
//     baseline: {url: "http://localhost:8001/health"}
//     ca_file: certs/ca.crt
//     requests: 200
//     concurrency: 4
//     p95_max: 100ms
//     overhead_max: 5ms      # probed minus baseline ...
//     overhead_on: p50       # ... at this percentile (p50, p95 or p99)
//
// The probe is a closed loop written here rather than vegeta: vegeta attacks
// at a fixed rate (open loop) and sizes its report from a histogram, whereas
// the question asked here is "N requests, C at a time, what are the exact
// percentiles", which a bounded worker loop over kept-alive connections
// answers directly, with no extra module. Both URLs are requested by the same
// workers, interleaved, so a hiccup of the machine hits both alike.
type LatencyProbe struct {
	Endpoint   `yaml:",inline"`
	TLSOptions `yaml:",inline"`
	Baseline   *Endpoint `yaml:"baseline"`

	Method      string `yaml:"method"`
	Requests    int    `yaml:"requests"`
	Concurrency int    `yaml:"concurrency"`
	Warmup      *int   `yaml:"warmup"`
	P50Max      string `yaml:"p50_max"`
	P95Max      string `yaml:"p95_max"`
	P99Max      string `yaml:"p99_max"`
	OverheadMax string `yaml:"overhead_max"`
	OverheadOn  string `yaml:"overhead_on"`
	Timeout     string `yaml:"timeout"`

	ready                         bool
	p50Max, p95Max, p99Max, ohMax time.Duration
	timeout                       time.Duration
	warmup                        int
}

// Validate implements runbooks.Validator.
func (p *LatencyProbe) Validate() error {
	if err := p.Endpoint.validate(); err != nil {
		return err
	}
	if p.Baseline != nil {
		if err := p.Baseline.validate(); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	if err := p.TLSOptions.validate(); err != nil {
		return err
	}
	if p.Method == "" {
		p.Method = http.MethodGet
	}
	p.Method = strings.ToUpper(p.Method)
	if p.Requests == 0 {
		p.Requests = defaultProbeN
	}
	if p.Requests < 1 || p.Requests > maxProbeRequests {
		return fmt.Errorf("requests %d must be between 1 and %d", p.Requests, maxProbeRequests)
	}
	if p.Concurrency == 0 {
		p.Concurrency = defaultProbeC
	}
	if p.Concurrency < 1 || p.Concurrency > maxProbeConcurrency {
		return fmt.Errorf("concurrency %d must be between 1 and %d", p.Concurrency, maxProbeConcurrency)
	}
	p.warmup = p.Concurrency
	if p.Warmup != nil {
		if *p.Warmup < 0 || *p.Warmup > maxProbeRequests {
			return fmt.Errorf("warmup %d must be between 0 and %d", *p.Warmup, maxProbeRequests)
		}
		p.warmup = *p.Warmup
	}
	var err error
	for _, x := range []struct {
		name string
		s    string
		d    *time.Duration
	}{{"p50_max", p.P50Max, &p.p50Max}, {"p95_max", p.P95Max, &p.p95Max}, {"p99_max", p.P99Max, &p.p99Max}, {"overhead_max", p.OverheadMax, &p.ohMax}} {
		if *x.d, err = parseTimeout(x.name, x.s, 0); err != nil {
			return err
		}
	}
	if p.OverheadMax != "" && p.Baseline == nil {
		return errors.New("overhead_max needs a baseline to compare against")
	}
	switch p.OverheadOn {
	case "":
		p.OverheadOn = "p50"
	case "p50", "p95", "p99":
	default:
		return fmt.Errorf("overhead_on %q: expected p50, p95 or p99", p.OverheadOn)
	}
	if p.timeout, err = parseTimeout("timeout", p.Timeout, defaultTimeout); err != nil {
		return err
	}
	p.ready = true
	return nil
}

// Describe implements steps.Action.
func (p *LatencyProbe) Describe(env *steps.Env) string {
	n, c := p.Requests, p.Concurrency
	if n == 0 {
		n = defaultProbeN
	}
	if c == 0 {
		c = defaultProbeC
	}
	method := p.Method
	if method == "" {
		method = http.MethodGet
	}
	s := fmt.Sprintf("%d × %s %s at concurrency %d", n, method, p.Endpoint.show(env), c)
	if p.Baseline != nil {
		s += fmt.Sprintf(", and %d × %s as baseline", n, p.Baseline.show(env))
	}
	var lim []string
	for _, x := range [][2]string{{"P50", p.P50Max}, {"P95", p.P95Max}, {"P99", p.P99Max}} {
		if x[1] != "" {
			lim = append(lim, x[0]+" < "+x[1])
		}
	}
	if p.OverheadMax != "" {
		on := p.OverheadOn
		if on == "" {
			on = "p50"
		}
		lim = append(lim, fmt.Sprintf("overhead (%s) < %s", strings.ToUpper(on), p.OverheadMax))
	}
	if len(lim) > 0 {
		s += "; expect " + strings.Join(lim, ", ")
	}
	return s + p.TLSOptions.describe()
}

// Stats are the latency figures of one URL.
type Stats struct {
	URL           string
	N, Errors     int
	FirstError    string
	P50, P95, P99 time.Duration
	Max           time.Duration
	samples       []time.Duration
}

// us prints a latency in whole microseconds: a loopback round trip is a
// few hundred, so milliseconds with one decimal cannot be compared with
// what hey or wrk report for the same endpoint.
func us(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }

// percentile is the nearest-rank percentile of sorted samples: the
// smallest sample with at least p% of the samples at or below it, always
// one that was measured (no interpolation).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s *Stats) finish() {
	slices.Sort(s.samples)
	s.P50 = percentile(s.samples, 50)
	s.P95 = percentile(s.samples, 95)
	s.P99 = percentile(s.samples, 99)
	if len(s.samples) > 0 {
		s.Max = s.samples[len(s.samples)-1]
	}
}

func (s *Stats) at(p string) time.Duration {
	switch p {
	case "p95":
		return s.P95
	case "p99":
		return s.P99
	}
	return s.P50
}

// Run implements steps.Action.
func (p *LatencyProbe) Run(ctx context.Context, env *steps.Env) error {
	if !p.ready {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	var urls []*url.URL
	var targets []string
	if p.Baseline != nil {
		u, err := p.Baseline.resolve(env)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		urls = append(urls, u)
		targets = append(targets, targetOf(*p.Baseline))
	}
	u, tc, err := resolveWithTLS(env, p.Endpoint, p.TLSOptions)
	if err != nil {
		return err
	}
	urls = append(urls, u)
	targets = append(targets, targetOf(p.Endpoint))
	client := newClient(tc, p.timeout, false, p.Concurrency*len(urls))
	defer client.CloseIdleConnections()

	// A failing first request means the endpoint is down: say so plainly
	// rather than as N identical errors.
	for i, x := range urls {
		if _, err := p.once(ctx, client, x); err != nil {
			var se statusError
			if errors.As(err, &se) {
				return fmt.Errorf("%s %s: %s: a latency probe needs a URL that answers 2xx", p.Method, env.Redact.String(x.String()), se)
			}
			return requestError(env, p.Method, x, targets[i], err)
		}
	}
	env.Printf("warm-up: %d requests per URL", p.warmup)
	p.load(ctx, client, urls, p.warmup, nil)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	env.Printf("probe: %d requests per URL at concurrency %d", p.Requests, p.Concurrency)
	stats := make([]*Stats, len(urls))
	for i, x := range urls {
		stats[i] = &Stats{URL: env.Redact.String(x.String()), samples: make([]time.Duration, 0, p.Requests)}
	}
	p.load(ctx, client, urls, p.Requests, stats)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, s := range stats {
		s.finish()
	}
	p.table(env, stats)
	return p.judge(env, stats)
}

func targetOf(e Endpoint) string {
	if e.URL != "" {
		return ""
	}
	return e.targetName()
}

type statusError struct{ status string }

func (e statusError) Error() string { return "answered " + e.status }

// once sends one request and reads the whole response.
func (p *LatencyProbe) once(ctx context.Context, client *http.Client, u *url.URL) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, p.Method, u.String(), nil)
	if err != nil {
		return 0, err
	}
	// Latency is measured on the monotonic wall clock, not env.Clock: a
	// fake clock cannot time a network round trip.
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, statusError{resp.Status}
	}
	return d, nil
}

// load sends n requests to each URL with p.Concurrency workers, interleaving
// the URLs, and records into stats (nil: discard, for the warm-up).
func (p *LatencyProbe) load(ctx context.Context, client *http.Client, urls []*url.URL, n int, stats []*Stats) {
	jobs := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range p.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				k := j % len(urls)
				d, err := p.once(ctx, client, urls[k])
				if stats == nil || ctx.Err() != nil {
					continue
				}
				mu.Lock()
				s := stats[k]
				s.N++
				if err != nil {
					s.Errors++
					if s.FirstError == "" {
						s.FirstError = rootCause(err)
					}
				} else {
					s.samples = append(s.samples, d)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for j := range n * len(urls) {
		select {
		case jobs <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}

// table prints the figures, a row per URL named by its role (baseline,
// probed), then the URLs: a URL at the end of its row made the rows
// wider than an output pane, and each wrapped.
func (p *LatencyProbe) table(env *steps.Env, stats []*Stats) {
	role := func(i int) string {
		if i == len(stats)-1 {
			return "probed"
		}
		return "baseline"
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\trequests\terrors\tP50\tP95\tP99\tmax\t")
	for i, s := range stats {
		fmt.Fprintf(tw, "%-8s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", role(i), s.N, s.Errors, us(s.P50), us(s.P95), us(s.P99), us(s.Max))
	}
	_ = tw.Flush()
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		env.Printf("%s", strings.TrimRight(line, " "))
	}
	for i, s := range stats {
		env.Printf("%-8s  %s", role(i), s.URL)
	}
}

func (p *LatencyProbe) judge(env *steps.Env, stats []*Stats) error {
	var fails []string
	for _, s := range stats {
		if s.Errors > 0 {
			fails = append(fails, fmt.Sprintf("%s: %d of %d requests failed (first: %s)", s.URL, s.Errors, s.N, env.Redact.String(s.FirstError)))
		}
	}
	probed := stats[len(stats)-1]
	for _, x := range []struct {
		name      string
		got, want time.Duration
	}{{"P50", probed.P50, p.p50Max}, {"P95", probed.P95, p.p95Max}, {"P99", probed.P99, p.p99Max}} {
		if x.want == 0 {
			continue
		}
		if x.got >= x.want {
			fails = append(fails, fmt.Sprintf("%s: expected %s < %s, found %s", probed.URL, x.name, x.want, us(x.got)))
			env.Printf("FAIL %s %s ≥ %s", x.name, us(x.got), x.want)
		} else {
			env.Printf("ok   %s %s < %s", x.name, us(x.got), x.want)
		}
	}
	if len(stats) == 2 {
		on := strings.ToUpper(p.OverheadOn)
		oh := probed.at(p.OverheadOn) - stats[0].at(p.OverheadOn)
		line := fmt.Sprintf("overhead (%s, probed − baseline): %+dµs", on, oh.Microseconds())
		switch {
		case p.ohMax == 0:
			env.Printf("%s", line)
		case oh >= p.ohMax:
			env.Printf("FAIL %s ≥ %s", line, p.ohMax)
			fails = append(fails, fmt.Sprintf("overhead (%s): expected < %s, found %s", on, p.ohMax, us(oh)))
		default:
			env.Printf("ok   %s < %s", line, p.ohMax)
		}
	}
	if len(fails) > 0 {
		return fmt.Errorf("latency probe: %s", strings.Join(fails, "; "))
	}
	return nil
}
