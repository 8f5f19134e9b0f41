package web_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/web"
)

// A service that is still starting: nothing listens at first, then it
// answers 503 a few times, then 200. With within: the check waits for it.
func TestHTTPCheckWithinWaitsForAStartingService(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // refused until the server starts below
	var hits atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	})}
	go func() {
		time.Sleep(300 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		srv.Serve(l)
	}()
	defer srv.Close()
	env, out := newEnv(t, steps.Targets{"app_url": "http://" + addr})
	c := &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}, Status: 200, BodyMatch: "ok", Within: "20s"}
	if err := run(t, c, env); err != nil {
		t.Fatalf("check failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"waiting for GET http://" + addr + "/health to answer 200: GET http://" + addr + "/health: dial tcp " + addr + ": connect: connection refused",
		"waiting for GET http://" + addr + "/health to answer 200: status 503 Service Unavailable",
		"answers 200 OK after",
		"  ok   status 200",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if d := c.Describe(env); !strings.HasSuffix(d, "(retrying while it is not, for up to 20s)") {
		t.Errorf("describe: %s", d)
	}
}

func TestHTTPCheckWithinTimesOutSayingWhatItSaw(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusBadGateway)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	env, _ := newEnv(t, steps.Targets{"app_url": "http://" + l.Addr().String()})
	c := &web.HTTPCheck{Endpoint: web.Endpoint{Path: "/health"}, Within: "1s"}
	err = run(t, c, env)
	want := "GET http://" + l.Addr().String() + "/health: expected status 2xx within 1s, last seen: status 502 Bad Gateway"
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}

	// Cancelled while waiting: it stops at once, saying why.
	c.Within = "10m"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	began := time.Now()
	err = c.Run(ctx, env)
	if err == nil || !strings.Contains(err.Error(), "context canceled") || time.Since(began) > 5*time.Second {
		t.Fatalf("cancelled wait: %v after %s", err, time.Since(began))
	}
}
