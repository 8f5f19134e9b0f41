package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SecurityHeaders are the eight headers the staging API sends on every
// response. Server is masked: it names no product or version.
var securityHeaders = [][2]string{
	{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
	{"X-Frame-Options", "DENY"},
	{"X-Content-Type-Options", "nosniff"},
	{"X-XSS-Protection", "1; mode=block"},
	{"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
	{"Referrer-Policy", "strict-origin-when-cross-origin"},
	{"Permissions-Policy", "geolocation=(), microphone=(), camera=()"},
	{"Server", "api"},
}

// tier is a rate-limit class of endpoints.
type tier struct {
	Name   string
	Limit  int
	Window time.Duration
}

var (
	tierAuth          = tier{"auth", 5, time.Minute}
	tierTranscription = tier{"transcription", 10, time.Minute}
	tierData          = tier{"data", 60, time.Minute}
	tierJobs          = tier{"jobs", 30, time.Minute}
)

type app struct {
	cfg   Config
	now   func() time.Time
	pool  *pgxpool.Pool
	mu    sync.Mutex
	usage map[string]*window // tier + client → current window
}

type window struct {
	start time.Time
	count int
}

func newApp(ctx context.Context, cfg Config, now func() time.Time) (*app, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DSN())
	if err != nil {
		return nil, fmt.Errorf("database configuration: %w", err)
	}
	pcfg.MaxConns = 4
	// The pool connects lazily: the app starts even while the database is
	// still coming up, and /health says so.
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	return &app{cfg: cfg, now: now, pool: pool, usage: map[string]*window{}}, nil
}

func (a *app) Close() { a.pool.Close() }

func (a *app) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("GET /config", a.config)
	mux.Handle("POST /api/auth/login", a.limit(tierAuth, a.ok("login")))
	mux.Handle("POST /api/auth/register", a.limit(tierAuth, a.ok("register")))
	mux.Handle("POST /api/transcribe", a.limit(tierTranscription, a.ok("transcription queued")))
	mux.Handle("GET /api/transcribe/status", a.limit(tierTranscription, a.ok("idle")))
	mux.Handle("GET /api/data", a.limit(tierData, http.HandlerFunc(a.data)))
	mux.Handle("POST /api/data", a.limit(tierData, http.HandlerFunc(a.addData)))
	mux.Handle("GET /api/videos", a.limit(tierData, a.ok("[]")))
	mux.Handle("GET /api/jobs", a.limit(tierJobs, a.ok("[]")))
	mux.Handle("POST /api/jobs", a.limit(tierJobs, a.ok("job queued")))
	return headers(mux)
}

func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, kv := range securityHeaders {
			h.Set(kv[0], kv[1])
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (a *app) ok(msg string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"result": msg})
	})
}

// limit allows t.Limit requests per client in a window that opens with the
// client's first request; beyond that, 429 with Retry-After.
func (a *app) limit(t tier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := t.Name + "|" + clientIP(r)
		now := a.now()
		a.mu.Lock()
		win := a.usage[key]
		if win == nil || now.Sub(win.start) >= t.Window {
			win = &window{start: now}
			a.usage[key] = win
		}
		win.count++
		over, retry := win.count > t.Limit, win.start.Add(t.Window).Sub(now)
		a.mu.Unlock()
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(t.Limit))
		if over {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds()+0.999)))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": fmt.Sprintf("rate limit: %d per %s for %s", t.Limit, t.Window, t.Name)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the peer address, or X-Real-IP when a proxy (nginx) set it.
func clientIP(r *http.Request) string {
	if ip := r.Header.Get("X-Real-IP"); ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *app) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.pool.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "degraded", "db": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "db": "ok"})
}

// config reports where each secret came from, never its value.
func (a *app) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.cfg.sources)
}

const schema = `CREATE TABLE IF NOT EXISTS lab_items (id bigserial PRIMARY KEY, note text NOT NULL, created timestamptz NOT NULL DEFAULT now())`

func (a *app) data(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if _, err := a.pool.Exec(ctx, schema); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	var n int64
	var crypto bool
	err := a.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM lab_items), EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto')`).Scan(&n, &crypto)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": n, "pgcrypto": crypto})
}

func (a *app) addData(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if _, err := a.pool.Exec(ctx, schema); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	var id int64
	if err := a.pool.QueryRow(ctx, `INSERT INTO lab_items (note) VALUES ($1) RETURNING id`, r.URL.Query().Get("note")).Scan(&id); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database unavailable"})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"id": id})
}
