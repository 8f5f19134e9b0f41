package notify

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkEnqueue is what a notification costs the run: the caller's
// Enqueue, against a webhook that answers at once and one that hangs
// (its queue full, every Enqueue dropping the oldest).
func BenchmarkEnqueue(b *testing.B) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	block := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(block)
	ev := Event{Kind: StepOverBudget, Runbook: "Phase 1", Run: "r", Step: "item2/nginx", Detail: "12m of 10m", At: time.Now()}
	for _, c := range []struct {
		name string
		url  string
	}{{"answering", ok.URL}, {"hanging", hung.URL}} {
		b.Run(c.name, func(b *testing.B) {
			n, err := New(Options{URLs: []string{c.url}, Redact: func(s string) string { return s }, Timeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			lat := make([]time.Duration, 0, 1<<20)
			for b.Loop() {
				t0 := time.Now()
				n.Enqueue(ev)
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns/enqueue")
			b.StopTimer()
			n.stop() // do not wait for the hanging webhook
		})
	}
}
