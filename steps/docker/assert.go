package docker

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/runbook-dev/runbook/steps"
)

// Assert is the `docker.assert` action: checks on a container's inspect
// data. Every listed check must hold for every selected container; a
// failure says what was expected and what was found. Environment values
// are never read out, only whether a key is set.
//
//	verify:
//	  - docker.assert:
//	      container: lab-app-1
//	      running: true
//	      health: healthy                 # healthy, unhealthy, starting or none
//	      image: lab-app:1
//	      ports: ["8443:443", "8000"]     # [ip:]host:container[/proto], or a container port published anywhere
//	      ports_absent: ["8001:8000"]     # not published (on that host port)
//	      mounts: ["./certs:/etc/nginx/certs:ro", /run/secrets/db_password]
//	      env_present: [DB_PASSWORD_FILE]
//	      env_absent: [DB_PASSWORD]
//	      max_restarts: 0
type Assert struct {
	Selector    `yaml:",inline"`
	Running     *bool    `yaml:"running"`
	Health      string   `yaml:"health"`
	Image       string   `yaml:"image"`
	Ports       []string `yaml:"ports"`
	PortsAbsent []string `yaml:"ports_absent"`
	Mounts      []string `yaml:"mounts"`
	EnvPresent  []string `yaml:"env_present"`
	EnvAbsent   []string `yaml:"env_absent"`
	MaxRestarts *int     `yaml:"max_restarts"`
	// Within bounds the wait for a container still starting (default 1m);
	// given explicitly, every failing check is retried for that long.
	Within string `yaml:"within"`
}

var healthStates = []string{"healthy", "unhealthy", "starting", "none"}

// Validate implements runbooks.Validator.
func (a *Assert) Validate() error {
	if err := a.Selector.validate(); err != nil {
		return err
	}
	if a.Running == nil && a.Health == "" && a.Image == "" && len(a.Ports) == 0 && len(a.PortsAbsent) == 0 &&
		len(a.Mounts) == 0 && len(a.EnvPresent) == 0 && len(a.EnvAbsent) == 0 && a.MaxRestarts == nil {
		return errors.New("nothing to check: give at least one of running, health, image, ports, ports_absent, mounts, env_present, env_absent, max_restarts")
	}
	if a.Health != "" && !contains(healthStates, a.Health) {
		return fmt.Errorf("health %q is not one of %s", a.Health, strings.Join(healthStates, ", "))
	}
	for _, p := range a.Ports {
		if _, err := parsePortSpec(p); err != nil {
			return fmt.Errorf("ports: %w", err)
		}
	}
	for _, p := range a.PortsAbsent {
		if _, err := parsePortSpec(p); err != nil {
			return fmt.Errorf("ports_absent: %w", err)
		}
	}
	for _, m := range a.Mounts {
		if _, err := parseMountSpec(m); err != nil {
			return fmt.Errorf("mounts: %w", err)
		}
	}
	for _, k := range append(append([]string(nil), a.EnvPresent...), a.EnvAbsent...) {
		if k == "" || strings.ContainsAny(k, "= ") {
			return fmt.Errorf("environment key %q is not a variable name (give the name only, never a value)", k)
		}
	}
	if a.MaxRestarts != nil && *a.MaxRestarts < 0 {
		return fmt.Errorf("max_restarts %d is negative", *a.MaxRestarts)
	}
	if _, err := parseTimeout("within", a.Within, defaultAssertWithin); err != nil {
		return err
	}
	return nil
}

// Describe implements steps.Action.
func (a *Assert) Describe(env *steps.Env) string {
	d := "inspect " + a.describe(env) + " (GET /containers/{id}/json) and check " + env.ShowExpand(strings.Join(a.checks(), ", "))
	if a.Within != "" {
		return d + "; retried for up to " + a.Within + " while it does not hold"
	}
	return d
}

func (a *Assert) checks() []string {
	var c []string
	if a.Running != nil {
		if *a.Running {
			c = append(c, "running")
		} else {
			c = append(c, "not running")
		}
	}
	if a.Health != "" {
		c = append(c, "health "+a.Health)
	}
	if a.Image != "" {
		c = append(c, "image "+a.Image) // as written; Describe expands it
	}
	if len(a.Ports) > 0 {
		c = append(c, "ports "+strings.Join(a.Ports, " "))
	}
	if len(a.PortsAbsent) > 0 {
		c = append(c, "no ports "+strings.Join(a.PortsAbsent, " "))
	}
	if len(a.Mounts) > 0 {
		c = append(c, "mounts "+strings.Join(a.Mounts, " "))
	}
	if len(a.EnvPresent) > 0 {
		c = append(c, "env set "+strings.Join(a.EnvPresent, " "))
	}
	if len(a.EnvAbsent) > 0 {
		c = append(c, "env unset "+strings.Join(a.EnvAbsent, " "))
	}
	if a.MaxRestarts != nil {
		c = append(c, fmt.Sprintf("restarts <= %d", *a.MaxRestarts))
	}
	return c
}

// defaultAssertWithin is how long docker.assert waits for a container
// that is still starting (health "starting", restarting, created) before
// it judges it.
const defaultAssertWithin = time.Minute

// Run implements steps.Action. A container in a passing state — health
// "starting", restarting, just created — is looked at again with backoff
// until it settles or `within` (default 1m) runs out, so a verify right
// after a restart does not fail on the first "starting". With an explicit
// `within`, every failing check is retried that long.
func (a *Assert) Run(ctx context.Context, env *steps.Env) error {
	if err := a.Validate(); err != nil {
		return err
	}
	within, err := parseTimeout("within", a.Within, defaultAssertWithin)
	if err != nil {
		return err
	}
	c, err := open(env, a.Target)
	if err != nil {
		return err
	}
	defer c.close()
	start := time.Now()
	delay := 200 * time.Millisecond
	last := ""
	for {
		lines, fails, settling, err := a.once(ctx, env, c)
		if err != nil {
			return err
		}
		if len(fails) == 0 {
			for _, l := range lines {
				env.Printf("%s", l)
			}
			return nil
		}
		left := within - time.Since(start)
		if (settling || a.Within != "") && left > 0 {
			if now := strings.Join(fails, "; "); now != last {
				env.Printf("waiting (%s of %s): %s", time.Since(start).Round(time.Second), within, now)
				last = now
			}
			t := time.NewTimer(min(delay, left))
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("stopped waiting for %s: %w; last seen: %s", a.describe(env), ctx.Err(), strings.Join(fails, "; "))
			case <-t.C:
			}
			delay = min(delay*2, 3*time.Second)
			continue
		}
		for _, l := range lines {
			env.Printf("%s", l)
		}
		msg := strings.Join(fails, "\n")
		if last != "" {
			msg += fmt.Sprintf("\n(still so after waiting %s)", time.Since(start).Round(time.Second))
		}
		return errors.New(msg)
	}
}

// once inspects the selected containers and checks them. settling says
// every failure may still pass by itself (a container still starting).
func (a *Assert) once(ctx context.Context, env *steps.Env, c *conn) (lines, fails []string, settling bool, err error) {
	boxes, _, err := c.selection(ctx, env, &a.Selector, true)
	if err != nil {
		return nil, nil, false, err
	}
	settling = true
	for _, b := range boxes {
		in, err := c.inspect(ctx, b)
		if err != nil {
			return nil, nil, false, err
		}
		bad := a.check(env, in)
		if len(bad) == 0 {
			lines = append(lines, fmt.Sprintf("%s: ok: %s", b, strings.Join(a.checks(), ", ")))
			continue
		}
		for _, f := range bad {
			lines = append(lines, fmt.Sprintf("%s: %s", b, f))
		}
		fails = append(fails, fmt.Sprintf("container %s: %s", b, strings.Join(bad, "; ")))
		settling = settling && a.settling(in, len(bad))
	}
	return lines, fails, settling, nil
}

// settling reports whether a container's only failures are ones that its
// start explains: health expected and still "starting", or running
// expected and the container restarting or just created.
func (a *Assert) settling(in container.InspectResponse, nbad int) bool {
	n := 0
	if a.Health != "" && a.Health != "starting" && health(in) == "starting" {
		n++
	}
	if a.Running != nil && *a.Running && in.State != nil && !in.State.Running &&
		(in.State.Restarting || in.State.Status == container.StateCreated || in.State.Status == container.StateRestarting) {
		n++
	}
	return n > 0 && n == nbad
}

// check returns one message per failed check.
func (a *Assert) check(env *steps.Env, in container.InspectResponse) []string {
	var bad []string
	if a.Running != nil {
		running := in.State != nil && in.State.Running
		if running != *a.Running {
			want := "running"
			if !*a.Running {
				want = "not running"
			}
			bad = append(bad, fmt.Sprintf("state: expected %s, found %s", want, describeState(in)))
		}
	}
	if a.Health != "" {
		if h := health(in); h != a.Health {
			msg := fmt.Sprintf("health: expected %s, found %s", a.Health, h)
			if lc := lastCheck(env, in); lc != "" {
				msg += " (" + lc + ")"
			}
			bad = append(bad, msg)
		}
	}
	if a.Image != "" {
		img := ""
		if in.Config != nil {
			img = in.Config.Image
		}
		want, err := env.Expand(a.Image) // image: app:${target.app_version}
		if err != nil {
			bad = append(bad, "image: "+err.Error())
		} else if img != want {
			bad = append(bad, fmt.Sprintf("image: expected %s, found %s", env.Redact.String(want), img))
		}
	}
	published := publishedPorts(in)
	for _, p := range a.Ports {
		spec, _ := parsePortSpec(p)
		if !spec.matchAny(published) {
			bad = append(bad, fmt.Sprintf("port %s: expected published, found %s", p, describePorts(published)))
		}
	}
	for _, p := range a.PortsAbsent {
		spec, _ := parsePortSpec(p)
		if spec.matchAny(published) {
			bad = append(bad, fmt.Sprintf("port %s: expected not published, found %s", p, describePorts(published)))
		}
	}
	for _, m := range a.Mounts {
		spec, _ := parseMountSpec(m)
		if !spec.matchAny(in.Mounts) {
			bad = append(bad, fmt.Sprintf("mount %s: expected, found %s", m, describeMounts(in.Mounts)))
		}
	}
	keys := envKeys(in)
	for _, k := range a.EnvPresent {
		if !keys[k] {
			bad = append(bad, fmt.Sprintf("environment variable %s: expected set, found unset", k))
		}
	}
	for _, k := range a.EnvAbsent {
		if keys[k] {
			bad = append(bad, fmt.Sprintf("environment variable %s: expected unset, found set (value not shown)", k))
		}
	}
	if a.MaxRestarts != nil && in.RestartCount > *a.MaxRestarts {
		bad = append(bad, fmt.Sprintf("restart count: expected at most %d, found %d", *a.MaxRestarts, in.RestartCount))
	}
	return bad
}

func describeState(in container.InspectResponse) string {
	if in.State == nil {
		return "unknown"
	}
	s := string(in.State.Status)
	if !in.State.Running && in.State.Status == container.StateExited {
		s += fmt.Sprintf(" (exit %d)", in.State.ExitCode)
	}
	return s
}

// envKeys is the set of environment variable names set in the container.
// Values are dropped here so nothing further down can print them.
func envKeys(in container.InspectResponse) map[string]bool {
	keys := map[string]bool{}
	if in.Config == nil {
		return keys
	}
	for _, kv := range in.Config.Env {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	return keys
}

// binding is one published port.
type binding struct {
	hostIP    string
	hostPort  string
	container string // "443/tcp"
}

func (b binding) String() string {
	h := b.hostPort
	if b.hostIP != "" {
		h = b.hostIP + ":" + h
	}
	return h + "->" + b.container
}

func publishedPorts(in container.InspectResponse) []binding {
	var out []binding
	if in.NetworkSettings == nil {
		return out
	}
	for p, bs := range in.NetworkSettings.Ports {
		for _, b := range bs {
			ip := ""
			if b.HostIP.IsValid() {
				ip = b.HostIP.String()
			}
			out = append(out, binding{hostIP: ip, hostPort: b.HostPort, container: p.String()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func describePorts(bs []binding) string {
	if len(bs) == 0 {
		return "no published ports"
	}
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, ", ")
}

// portSpec is "[ip:]host:container[/proto]" or "container[/proto]".
type portSpec struct {
	ip, host, container string
}

func parsePortSpec(s string) (portSpec, error) {
	var p portSpec
	rest, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return p, fmt.Errorf("%q: protocol must be tcp, udp or sctp", s)
	}
	parts := strings.Split(rest, ":")
	if i := strings.LastIndex(rest, "]:"); strings.HasPrefix(rest, "[") && i > 0 {
		// [::1]:8443:443
		parts = append([]string{rest[1:i]}, strings.Split(rest[i+2:], ":")...)
	}
	switch len(parts) {
	case 1:
		p.container = parts[0]
	case 2:
		p.host, p.container = parts[0], parts[1]
	case 3:
		p.ip, p.host, p.container = parts[0], parts[1], parts[2]
	default:
		return p, fmt.Errorf("%q is not [ip:]host:container[/proto] or container[/proto]", s)
	}
	if p.container == "" {
		return p, fmt.Errorf("%q names no container port", s)
	}
	for _, n := range []string{p.host, p.container} {
		if n == "" {
			continue
		}
		if v, err := strconv.Atoi(n); err != nil || v < 1 || v > 65535 {
			return p, fmt.Errorf("%q: %q is not a port number", s, n)
		}
	}
	p.container += "/" + proto
	return p, nil
}

func (p portSpec) matchAny(bs []binding) bool {
	for _, b := range bs {
		if b.container != p.container {
			continue
		}
		if p.host != "" && b.hostPort != p.host {
			continue
		}
		if p.ip != "" && b.hostIP != p.ip {
			continue
		}
		return true
	}
	return false
}

// mountSpec is "dest", "source:dest" or "source:dest:ro|rw".
type mountSpec struct {
	source, dest, mode string
}

func parseMountSpec(s string) (mountSpec, error) {
	var m mountSpec
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		m.dest = parts[0]
	case 2:
		m.source, m.dest = parts[0], parts[1]
	case 3:
		m.source, m.dest, m.mode = parts[0], parts[1], parts[2]
	default:
		return m, fmt.Errorf("%q is not dest, source:dest or source:dest:ro|rw", s)
	}
	if !strings.HasPrefix(m.dest, "/") {
		return m, fmt.Errorf("%q: the mount point %q must be an absolute path in the container", s, m.dest)
	}
	if m.mode != "" && m.mode != "ro" && m.mode != "rw" {
		return m, fmt.Errorf("%q: mode must be ro or rw", s)
	}
	return m, nil
}

func (m mountSpec) matchAny(ms []container.MountPoint) bool {
	for _, mp := range ms {
		if path.Clean(mp.Destination) != path.Clean(m.dest) {
			continue
		}
		if m.source != "" && !sourceMatches(m.source, mp) {
			continue
		}
		if m.mode == "ro" && mp.RW || m.mode == "rw" && !mp.RW {
			continue
		}
		return true
	}
	return false
}

// sourceMatches compares a spec's source with a mount: a volume by name, a
// bind mount by absolute path, or — for a relative path as written in a
// compose file (./certs) — by the path's tail.
func sourceMatches(src string, mp container.MountPoint) bool {
	if src == mp.Name || path.Clean(src) == path.Clean(mp.Source) {
		return true
	}
	if !strings.HasPrefix(src, "/") && mp.Source != "" {
		tail := strings.TrimPrefix(path.Clean(src), "./")
		return strings.HasSuffix(path.Clean(mp.Source), "/"+tail)
	}
	return false
}

func describeMounts(ms []container.MountPoint) string {
	if len(ms) == 0 {
		return "no mounts"
	}
	s := make([]string, len(ms))
	for i, m := range ms {
		src := m.Source
		if m.Name != "" {
			src = m.Name
		}
		mode := "rw"
		if !m.RW {
			mode = "ro"
		}
		s[i] = src + ":" + m.Destination + ":" + mode
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
