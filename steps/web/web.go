// Package web holds the actions that check a web service from the outside:
// HTTP responses (status, redirects, headers, body), the TLS handshake and
// certificate, rate-limit tiers and latency percentiles. They only read: a
// web check changes nothing, so it has no undo.
package web

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// DefaultTarget is the target a web action talks to when it names none.
const DefaultTarget = "app_url"

// defaultTimeout bounds one request when the action sets no timeout.
const defaultTimeout = 10 * time.Second

// Register adds the web actions to a registry.
func Register(r *steps.Registry) {
	r.Register("http.check", func() steps.Action { return new(HTTPCheck) })
	r.Register("tls.check", func() steps.Action { return new(TLSCheck) })
	r.Register("ratelimit.check", func() steps.Action { return new(RateLimitCheck) })
	r.Register("latency.probe", func() steps.Action { return new(LatencyProbe) })
}

// Endpoint names the URL an action requests: either url (which may use
// ${target.NAME}) or a target's value with path appended.
type Endpoint struct {
	Target string `yaml:"target"`
	URL    string `yaml:"url"`
	Path   string `yaml:"path"`
}

func (e Endpoint) validate() error {
	if e.URL != "" && e.Target != "" {
		return errors.New("give either url or target (with path), not both")
	}
	if e.URL != "" && e.Path != "" {
		return errors.New("path goes with target; put it in url instead")
	}
	if e.Path != "" && !strings.HasPrefix(e.Path, "/") {
		return fmt.Errorf("path %q must start with /", e.Path)
	}
	if e.URL != "" && !strings.Contains(e.URL, "${") {
		if _, err := parseHTTPURL(e.URL); err != nil {
			return err
		}
	}
	return nil
}

func (e Endpoint) targetName() string {
	if e.Target == "" {
		return DefaultTarget
	}
	return e.Target
}

// resolve returns the concrete URL.
func (e Endpoint) resolve(env *steps.Env) (*url.URL, error) {
	raw := e.URL
	if raw != "" {
		v, err := env.Expand(raw)
		if err != nil {
			return nil, err
		}
		raw = v
	} else {
		name := e.targetName()
		base, ok := env.Targets[name]
		if !ok || base == "" {
			return nil, fmt.Errorf("target %s has no value: give it one with a flag, the profile or its environment variable", name)
		}
		raw = joinPath(base, e.Path)
	}
	u, err := parseHTTPURL(raw)
	if err != nil {
		return nil, errors.New(env.Redact.String(err.Error()))
	}
	return u, nil
}

// show is the endpoint for the plan view, secrets masked.
func (e Endpoint) show(env *steps.Env) string {
	if e.URL != "" {
		return env.ShowExpand(e.URL)
	}
	name := e.targetName()
	if base, ok := env.Targets[name]; ok && base != "" {
		return env.Redact.String(joinPath(base, e.Path))
	}
	return "${target." + name + "}" + e.Path
}

func joinPath(base, p string) string {
	if p == "" {
		return base
	}
	return strings.TrimRight(base, "/") + p
}

func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q must start with http:// or https://", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	return u, nil
}

// TLSOptions say how an action trusts a server's certificate.
type TLSOptions struct {
	// CAFile is a PEM bundle (workspace-relative or absolute) trusted in
	// place of the system roots: the self-signed CA of a staging stack.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name the certificate is checked against (and
	// sent as SNI), for a server reached by IP.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate. Only when set explicitly,
	// and every plan view says so.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (o TLSOptions) validate() error {
	if o.InsecureSkipVerify && o.CAFile != "" {
		return errors.New("ca_file and insecure_skip_verify contradict each other: keep ca_file")
	}
	return nil
}

// describe is the trust part of a plan line.
func (o TLSOptions) describe() string {
	switch {
	case o.InsecureSkipVerify:
		return " — INSECURE: certificate NOT verified (insecure_skip_verify)"
	case o.CAFile != "":
		return ", trusting CA " + o.CAFile
	}
	return ""
}

// config builds the client TLS configuration.
// resolveWithTLS is where a check goes and how it speaks TLS there.
func resolveWithTLS(env *steps.Env, e Endpoint, o TLSOptions) (*url.URL, *tls.Config, error) {
	u, err := e.resolve(env)
	if err != nil {
		return nil, nil, err
	}
	tc, err := o.config(env)
	if err != nil {
		return nil, nil, err
	}
	return u, tc, nil
}

func (o TLSOptions) config(env *steps.Env) (*tls.Config, error) {
	c := &tls.Config{ServerName: o.ServerName, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // only when the runbook says so, and the plan view shouts it
	if o.CAFile != "" {
		pool, err := loadPool(env, o.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	return c, nil
}

func loadPool(env *steps.Env, file string) (*x509.CertPool, error) {
	p := resolveFile(env, file)
	pemBytes, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w: generate it first (cert.generate) or fix the path", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// resolveFile makes a workspace-relative path absolute.
func resolveFile(env *steps.Env, p string) string {
	if filepath.IsAbs(p) || env.Workspace == "" {
		return p
	}
	return filepath.Join(env.Workspace, p)
}

// newClient is an HTTP client that does not follow redirects unless asked,
// uses no proxy (checks mean the endpoint itself) and keeps connections
// alive for repeated requests.
func newClient(tc *tls.Config, timeout time.Duration, follow bool, conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: timeout,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	c := &http.Client{Transport: tr, Timeout: timeout}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// parseTimeout reads an optional positive duration parameter.
func parseTimeout(name, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive duration (e.g. 10s, 1m)", name, s)
	}
	return d, nil
}

// requestError turns a transport failure into a message that names the URL
// tried and what to do.
func requestError(env *steps.Env, method string, u *url.URL, target string, err error) error {
	hint := "is the service up and listening there?"
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		hint = "the service did not answer in time: is it overloaded or firewalled?"
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		hint = "the certificate is not trusted: give the CA with ca_file"
	}
	if target != "" {
		hint += " (check the value of target " + target + ")"
	}
	return fmt.Errorf("%s %s: %s: %s", method, env.Redact.String(u.String()), env.Redact.String(rootCause(err)), hint)
}

// rootCause strips the repeated method and URL that url.Error adds.
func rootCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// ms prints a duration in milliseconds with enough precision for a table.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
