package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/steptest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testApp(t *testing.T, cfg Config) (*httptest.Server, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)}
	a, err := newApp(context.Background(), cfg, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { srv.Close(); a.Close() })
	return srv, clk
}

func offlineConfig() Config {
	// Port 1 on loopback: nothing listens, the database is "down".
	return Config{Addr: ":0", DBHost: "127.0.0.1", DBPort: "1", DBName: "x", DBUser: "x", sources: map[string]string{}}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	srv, _ := testApp(t, offlineConfig())
	for _, c := range []struct{ method, path string }{
		{"GET", "/health"}, {"GET", "/nope"}, {"POST", "/api/auth/login"}, {"GET", "/api/jobs"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, kv := range securityHeaders {
			if got := resp.Header.Get(kv[0]); got != kv[1] {
				t.Errorf("%s %s: header %s = %q, want %q", c.method, c.path, kv[0], got, kv[1])
			}
		}
	}
}

func TestRateLimitTiers(t *testing.T) {
	srv, clk := testApp(t, offlineConfig())
	for _, c := range []struct {
		method, path string
		limit        int
	}{
		{"POST", "/api/auth/login", 5},
		{"POST", "/api/transcribe", 10},
		{"GET", "/api/videos", 60},
		{"GET", "/api/jobs", 30},
	} {
		for i := 1; i <= c.limit+1; i++ {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusOK
			if i > c.limit {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want {
				t.Fatalf("%s request %d: status %d, want %d", c.path, i, resp.StatusCode, want)
			}
		}
	}
	// A new window opens a minute after the first request.
	clk.add(time.Minute)
	resp, err := http.Post(srv.URL+"/api/auth/login", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the window: status %d, want 200", resp.StatusCode)
	}
}

func TestConfigPrefersSecretFiles(t *testing.T) {
	env := map[string]string{"DB_PASSWORD": "from-env", "SECRET_KEY": "key-env", "SECRET_KEY_FILE": "/custom/key"}
	files := map[string]string{"/run/secrets/db_password": "from-file\n", "/custom/key": "key-file"}
	cfg, err := loadConfig(func(k string) string { return env[k] }, func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DBPassword != "from-file" || cfg.SecretKey != "key-file" {
		t.Fatalf("got password %q key %q", cfg.DBPassword, cfg.SecretKey)
	}
	if got := cfg.Sources(); got != "db_password=file secret_key=file" {
		t.Fatalf("sources %q", got)
	}
	cfg, err = loadConfig(func(k string) string { return map[string]string{"DB_PASSWORD": "p"}[k] }, func(string) ([]byte, error) { return nil, fs.ErrNotExist })
	if err != nil || cfg.DBPassword != "p" || cfg.Sources() != "db_password=env secret_key=unset" {
		t.Fatalf("env fallback: %v %q %q", err, cfg.DBPassword, cfg.Sources())
	}
	_, err = loadConfig(func(k string) string { return map[string]string{"DB_PASSWORD_FILE": "/x"}[k] }, func(string) ([]byte, error) { return nil, errors.New("denied") })
	if err == nil || !strings.Contains(err.Error(), "DB_PASSWORD_FILE=/x") {
		t.Fatalf("unreadable secret file: %v", err)
	}
}

func TestConfigEndpointShowsSourcesNotValues(t *testing.T) {
	cfg := offlineConfig()
	cfg.DBPassword = "hunter2-secret"
	cfg.sources["db_password"] = "env"
	srv, _ := testApp(t, cfg)
	resp, err := http.Get(srv.URL + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "hunter2") || !strings.Contains(string(body), `"db_password":"env"`) {
		t.Fatalf("/config = %s", body)
	}
}

func TestHealthAndDataAgainstPostgres(t *testing.T) {
	dsn := steptest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	cfg := Config{Addr: ":0", DBHost: u.Hostname(), DBPort: u.Port(), DBName: strings.TrimPrefix(u.Path, "/"), DBUser: u.User.Username(), DBPassword: pw, sources: map[string]string{}}
	srv, _ := testApp(t, cfg)
	resp, err := http.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/health against %s:%s = %d", cfg.DBHost, cfg.DBPort, resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/api/data?note=x", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/data = %d", resp.StatusCode)
	}
	// And with the database down, /health says so.
	down, _ := testApp(t, offlineConfig())
	resp, err = http.Get(down.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/health with no database = %d, want 503", resp.StatusCode)
	}
}
