// Command labapp is the rehearsal lab's stand-in for the staging API: the
// eight security headers on every response, tiered rate limits, a health
// endpoint, a database-backed endpoint, and configuration read from secret
// files when they are provided and from environment variables otherwise.
//
// It is deliberately small and dependency-light (std lib + pgx) so it builds
// as a static binary for a FROM scratch image.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		// Used as the container's HEALTHCHECK: a scratch image has no curl.
		os.Exit(healthcheck(os.Getenv("LABAPP_ADDR")))
	}
	cfg, err := loadConfig(os.Getenv, os.ReadFile)
	if err != nil {
		log.Fatalf("labapp: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := newApp(ctx, cfg, time.Now)
	if err != nil {
		log.Fatalf("labapp: %v", err)
	}
	defer app.Close()
	srv := &http.Server{Addr: cfg.Addr, Handler: app.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Printf("labapp listening on %s (config: %s)", cfg.Addr, cfg.Sources())
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("labapp: %v", err)
	}
}

func healthcheck(addr string) int {
	if addr == "" {
		addr = ":8000"
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://127.0.0.1" + portOf(addr) + "/health")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "health:", resp.Status)
		return 1
	}
	return 0
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i:]
		}
	}
	return ":" + addr
}
