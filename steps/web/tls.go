package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// TLSCheck is the `tls.check` action: a TLS handshake with a server, then
// expectations on the protocol and the certificate it presented.
//
//   - tls.check:
//     target: app_url          # https URL target; or address: host:port, or url:
//     ca_file: certs/ca.crt    # chain verified against this CA (default: system roots)
//     server_name: localhost
//     min_version: "1.2"       # negotiated ≥ 1.2, and a 1.1 handshake is refused
//     sans: [localhost, 127.0.0.1]
//     min_days: 30             # days before the certificate expires
type TLSCheck struct {
	Target     string `yaml:"target"`
	URL        string `yaml:"url"`
	Address    string `yaml:"address"`
	TLSOptions `yaml:",inline"`

	MinVersion string   `yaml:"min_version"`
	SANs       []string `yaml:"sans"`
	MinDays    int      `yaml:"min_days"`
	Timeout    string   `yaml:"timeout"`

	ready   bool
	minVer  uint16
	timeout time.Duration
}

var tlsVersions = map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

func tlsVersionName(v uint16) string {
	for k, x := range tlsVersions {
		if x == v {
			return "TLS " + k
		}
	}
	return fmt.Sprintf("TLS 0x%04x", v)
}

// Validate implements runbooks.Validator.
func (c *TLSCheck) Validate() error {
	n := 0
	for _, s := range []string{c.Target, c.URL, c.Address} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("give one of target, url or address")
	}
	if err := c.TLSOptions.validate(); err != nil {
		return err
	}
	if c.MinVersion != "" {
		v, ok := tlsVersions[c.MinVersion]
		if !ok || v < tls.VersionTLS12 {
			return fmt.Errorf("min_version %q: expected \"1.2\" or \"1.3\"", c.MinVersion)
		}
		c.minVer = v
	}
	if c.MinDays < 0 {
		return fmt.Errorf("min_days %d must not be negative", c.MinDays)
	}
	d, err := parseTimeout("timeout", c.Timeout, defaultTimeout)
	if err != nil {
		return err
	}
	c.timeout = d
	c.ready = true
	return nil
}

// address returns host:port and the host name to check the certificate
// against.
func (c *TLSCheck) address(env *steps.Env) (addr, host string, err error) {
	raw := c.Address
	if raw != "" {
		raw, err = env.Expand(raw)
		if err != nil {
			return "", "", err
		}
	} else {
		u, err := Endpoint{Target: c.Target, URL: c.URL}.resolve(env)
		if err != nil {
			return "", "", err
		}
		if u.Scheme != "https" {
			return "", "", fmt.Errorf("%s is not an https URL: a TLS check needs the TLS endpoint", env.Redact.String(u.String()))
		}
		raw = u.Host
		if u.Port() == "" {
			raw = net.JoinHostPort(u.Hostname(), "443")
		}
	}
	h, _, err := net.SplitHostPort(raw)
	if err != nil {
		h = raw
		raw = net.JoinHostPort(raw, "443")
	}
	return raw, h, nil
}

func (c *TLSCheck) showAddress(env *steps.Env) string {
	if c.Address != "" {
		return env.ShowExpand(c.Address)
	}
	return Endpoint{Target: c.Target, URL: c.URL}.show(env)
}

// Describe implements steps.Action.
func (c *TLSCheck) Describe(env *steps.Env) string {
	var exp []string
	exp = append(exp, "handshake")
	if c.MinVersion != "" {
		exp = append(exp, "TLS ≥ "+c.MinVersion+" (older refused)")
	}
	if !c.InsecureSkipVerify {
		if c.CAFile != "" {
			exp = append(exp, "chain verified against "+c.CAFile)
		} else {
			exp = append(exp, "chain verified against the system roots")
		}
	}
	if len(c.SANs) > 0 {
		exp = append(exp, "SANs include "+strings.Join(c.SANs, ", "))
	}
	if c.MinDays > 0 {
		exp = append(exp, fmt.Sprintf("≥ %d days to expiry", c.MinDays))
	}
	s := "TLS to " + c.showAddress(env)
	if c.ServerName != "" {
		s += " (server name " + c.ServerName + ")"
	}
	s += ", expect " + strings.Join(exp, "; ")
	if c.InsecureSkipVerify {
		s += " — INSECURE: chain NOT verified (insecure_skip_verify)"
	}
	return s
}

// Run implements steps.Action.
func (c *TLSCheck) Run(ctx context.Context, env *steps.Env) error {
	if !c.ready {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	addr, host, err := c.address(env)
	if err != nil {
		return err
	}
	name := c.ServerName
	if name == "" {
		name = host
	}
	var roots *x509.CertPool
	if c.CAFile != "" {
		if roots, err = loadPool(env, c.CAFile); err != nil {
			return err
		}
	}
	// The handshake accepts any certificate so that a bad one can be
	// described; the chain is verified below, against the same rules.
	// Any version is accepted too, so an old one is reported, not refused.
	cfg := &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} //nolint:gosec // verified by hand below
	state, err := handshake(ctx, addr, cfg, c.timeout)
	if err != nil {
		return fmt.Errorf("TLS handshake with %s: %w: is the TLS endpoint up (listen ... ssl) at that address?", addr, err)
	}
	if len(state.PeerCertificates) == 0 {
		return fmt.Errorf("TLS handshake with %s: the server sent no certificate", addr)
	}
	leaf := state.PeerCertificates[0]
	now := time.Now()
	if env.Clock != nil {
		now = env.Clock.Now()
	}
	days := int(leaf.NotAfter.Sub(now).Hours() / 24)
	env.Printf("%s: %s, %s", addr, tlsVersionName(state.Version), tls.CipherSuiteName(state.CipherSuite))
	env.Printf("  certificate %s, issued by %s", leaf.Subject.String(), leaf.Issuer.String())
	env.Printf("  SANs: %s", strings.Join(sanList(leaf), ", "))
	env.Printf("  valid %s to %s (%d days left)", leaf.NotBefore.UTC().Format(time.DateOnly), leaf.NotAfter.UTC().Format(time.DateOnly), days)

	var fails []string
	check := func(ok bool, okLine, failLine string) {
		if ok {
			env.Printf("  ok   %s", okLine)
			return
		}
		env.Printf("  FAIL %s", failLine)
		fails = append(fails, failLine)
	}
	if c.minVer != 0 {
		check(state.Version >= c.minVer, "negotiated "+tlsVersionName(state.Version),
			fmt.Sprintf("protocol: expected TLS %s or newer, found %s", c.MinVersion, tlsVersionName(state.Version)))
		below := c.minVer - 1
		probe := &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: below} //nolint:gosec // probing only
		_, perr := handshake(ctx, addr, probe, c.timeout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		check(perr != nil, tlsVersionName(below)+" and older refused",
			fmt.Sprintf("protocol: expected %s to be refused, but the server accepted it", tlsVersionName(below)))
	}
	if !c.InsecureSkipVerify {
		inter := x509.NewCertPool()
		for _, ic := range state.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now})
		trust := "the system roots"
		if c.CAFile != "" {
			trust = c.CAFile
		}
		found := ""
		if verr != nil {
			found = verr.Error()
		}
		check(verr == nil, "chain verified against "+trust, fmt.Sprintf("chain: expected a chain to %s, found: %s", trust, found))
		herr := leaf.VerifyHostname(name)
		check(herr == nil, "certificate valid for "+name, fmt.Sprintf("name: expected the certificate to cover %s, found SANs %s", name, strings.Join(sanList(leaf), ", ")))
	}
	for _, s := range c.SANs {
		check(leaf.VerifyHostname(s) == nil, "SAN "+s,
			fmt.Sprintf("SANs: expected %s, found %s", s, strings.Join(sanList(leaf), ", ")))
	}
	if c.MinDays > 0 {
		check(days >= c.MinDays, fmt.Sprintf("%d days to expiry (≥ %d)", days, c.MinDays),
			fmt.Sprintf("expiry: expected at least %d days left, found %d (expires %s)", c.MinDays, days, leaf.NotAfter.UTC().Format(time.DateOnly)))
	}
	if len(fails) > 0 {
		return fmt.Errorf("TLS %s: %d of the expectations failed: %s", addr, len(fails), strings.Join(fails, "; "))
	}
	return nil
}

func handshake(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration) (tls.ConnectionState, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState(), nil
}

func sanList(c *x509.Certificate) []string {
	var out []string
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 {
		out = append(out, "(none)")
	}
	return out
}
