// Package docker holds the Docker action family: find containers, assert on
// their inspect data, wait for health, exec, restart/stop/start, match logs
// (all through the Docker Engine API), and the compose actions: apply a
// compose file with the host's compose CLI, edit it structurally while
// keeping its comments, and restore it.
//
// The engine is the value of a docker target (default name "docker"): a
// DOCKER_HOST-style endpoint such as unix:///var/run/docker.sock or
// tcp://10.0.0.5:2376. An unset target means the client's default: the
// DOCKER_HOST environment variable, else the local socket. The client
// negotiates the API version with the engine (1.41 and newer).
package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps"
)

// DefaultTarget is the target name docker actions use when they name none.
const DefaultTarget = "docker"

// Compose labels that tie a container to its project and service.
const (
	labelProject = "com.docker.compose.project"
	labelService = "com.docker.compose.service"
	labelOneOff  = "com.docker.compose.oneoff"
)

// Register adds the docker and compose action types to a registry.
func Register(r *steps.Registry) {
	r.Register("docker.find", func() steps.Action { return new(Find) })
	r.Register("docker.assert", func() steps.Action { return new(Assert) })
	r.Register("docker.wait", func() steps.Action { return new(Wait) })
	r.Register("docker.exec", func() steps.Action { return new(Exec) })
	r.Register("docker.restart", func() steps.Action { return &Lifecycle{op: opRestart} })
	r.Register("docker.stop", func() steps.Action { return &Lifecycle{op: opStop} })
	r.Register("docker.start", func() steps.Action { return &Lifecycle{op: opStart} })
	r.Register("docker.logs", func() steps.Action { return new(Logs) })
	r.Register("compose.apply", func() steps.Action { return new(Apply) })
	r.Register("compose.edit", func() steps.Action { return new(Edit) })
	r.Register("compose.restore", func() steps.Action { return new(Restore) })
}

// engineAPI is the part of the Docker Engine API the actions use; the
// real one is *client.Client.
type engineAPI interface {
	ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerStart(ctx context.Context, id string, opts client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerStop(ctx context.Context, id string, opts client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerRestart(ctx context.Context, id string, opts client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	ContainerLogs(ctx context.Context, id string, opts client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ExecCreate(ctx context.Context, id string, opts client.ExecCreateOptions) (client.ExecCreateResult, error)
	ExecAttach(ctx context.Context, execID string, opts client.ExecAttachOptions) (client.ExecAttachResult, error)
	ExecInspect(ctx context.Context, execID string, opts client.ExecInspectOptions) (client.ExecInspectResult, error)
	Close() error
}

// Dial opens a client for a DOCKER_HOST-style endpoint; "" means the
// client's default (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH from
// the environment, else the local socket). It does no I/O: the API version
// is negotiated on the first request.
func Dial(endpoint string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv}
	if endpoint != "" {
		opts = append(opts, client.WithHost(endpoint))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker endpoint %q: %w (expected e.g. unix:///var/run/docker.sock or tcp://host:2376)", endpoint, err)
	}
	return c, nil
}

// conn is an open engine plus what error messages need to say about it.
type conn struct {
	api    engineAPI
	host   string // the endpoint tried
	target string // the target name, for "how to point elsewhere"
}

// open dials the engine of the named target.
func open(env *steps.Env, target string) (*conn, error) {
	if target == "" {
		target = DefaultTarget
	}
	endpoint := env.Targets[target]
	c, err := Dial(endpoint)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", target, err)
	}
	return &conn{api: c, host: c.DaemonHost(), target: target}, nil
}

func (c *conn) close() { _ = c.api.Close() }

// wrap says what was being done, on which engine, and — when no engine
// answered — how to point runbook at another one.
func (c *conn) wrap(err error, format string, args ...any) error {
	doing := fmt.Sprintf(format, args...)
	if unreachable(err) {
		return fmt.Errorf("%s via %s: %w: is dockerd running there? point runbook at another engine with DOCKER_HOST or the %q target", doing, c.host, err, c.target)
	}
	return fmt.Errorf("%s via %s: %w", doing, c.host, err)
}

func unreachable(err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns)
}

// Selector picks the containers an action works on: one container by name
// (or ID), or every container of a compose service, found by the labels
// compose puts on them. One-off containers (`compose run`) are left out.
type Selector struct {
	// Target is the docker target to talk to (default "docker").
	Target string `yaml:"target"`
	// Container is a container name or ID.
	Container string `yaml:"container"`
	// Project and Service select by compose labels. Project may be left
	// out when the service name alone is unambiguous on the engine.
	Project string `yaml:"project"`
	Service string `yaml:"service"`
}

func (s *Selector) validate() error {
	switch {
	case s.Container != "" && (s.Project != "" || s.Service != ""):
		return errors.New("name either container or project/service, not both")
	case s.Container == "" && s.Service == "" && s.Project != "":
		return errors.New("project needs a service: name the compose service too")
	case s.Container == "" && s.Service == "":
		return errors.New("container (a name) or service (with project) is required")
	}
	return nil
}

// describe is the selection for the plan view.
func (s *Selector) describe(env *steps.Env) string {
	var what string
	if s.Container != "" {
		what = "container " + env.ShowExpand(s.Container)
	} else {
		what = "service " + env.ShowExpand(s.Service)
		if s.Project != "" {
			what = "service " + env.ShowExpand(s.Project) + "/" + env.ShowExpand(s.Service)
		}
	}
	if s.Target != "" && s.Target != DefaultTarget {
		what += " on " + s.Target
	}
	return what
}

// expanded returns the selector with ${target.NAME} replaced.
func (s *Selector) expanded(env *steps.Env) (Selector, error) {
	out := *s
	for _, p := range []*string{&out.Container, &out.Project, &out.Service} {
		v, err := env.Expand(*p)
		if err != nil {
			return out, err
		}
		*p = v
	}
	return out, nil
}

// box is one selected container.
type box struct {
	ID   string
	Name string
}

func (b box) String() string {
	id := b.ID
	if len(id) > 12 {
		id = id[:12]
	}
	if b.Name == "" {
		return id
	}
	return b.Name + " (" + id + ")"
}

func containerName(n string) string { return strings.TrimPrefix(n, "/") }

// selection finds the containers a selector names. With atLeastOne, an
// empty result is an error that says what was looked for.
func (c *conn) selection(ctx context.Context, env *steps.Env, s *Selector, atLeastOne bool) ([]box, Selector, error) {
	sel, err := s.expanded(env)
	if err != nil {
		return nil, sel, err
	}
	if sel.Container != "" {
		r, err := c.api.ContainerInspect(ctx, sel.Container, client.ContainerInspectOptions{})
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				if !atLeastOne {
					return nil, sel, nil
				}
				return nil, sel, fmt.Errorf("container %s not found on %s: check the name (compose names containers PROJECT-SERVICE-1 or PROJECT_SERVICE_1) or select by project and service", sel.Container, c.host)
			}
			return nil, sel, c.wrap(err, "inspect container %s", sel.Container)
		}
		return []box{{ID: r.Container.ID, Name: containerName(r.Container.Name)}}, sel, nil
	}
	f := client.Filters{}
	f.Add("label", labelService+"="+sel.Service)
	if sel.Project != "" {
		f.Add("label", labelProject+"="+sel.Project)
	}
	list, err := c.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, sel, c.wrap(err, "list containers of %s", sel.describeLabels())
	}
	var out []box
	projects := map[string]bool{}
	for _, it := range list.Items {
		if strings.EqualFold(it.Labels[labelOneOff], "true") {
			continue
		}
		name := ""
		if len(it.Names) > 0 {
			name = containerName(it.Names[0])
		}
		out = append(out, box{ID: it.ID, Name: name})
		projects[it.Labels[labelProject]] = true
	}
	if sel.Project == "" && len(projects) > 1 {
		names := make([]string, 0, len(projects))
		for p := range projects {
			names = append(names, p)
		}
		sort.Strings(names)
		return nil, sel, fmt.Errorf("service %s exists in several compose projects (%s) on %s: name the project", sel.Service, strings.Join(names, ", "), c.host)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 && atLeastOne {
		return nil, sel, fmt.Errorf("no container of %s on %s: is the project up? (compose.apply starts it)", sel.describeLabels(), c.host)
	}
	return out, sel, nil
}

func (s Selector) describeLabels() string {
	if s.Project == "" {
		return "compose service " + s.Service
	}
	return "compose service " + s.Project + "/" + s.Service
}

// inspect returns a container's inspect data.
func (c *conn) inspect(ctx context.Context, b box) (container.InspectResponse, error) {
	r, err := c.api.ContainerInspect(ctx, b.ID, client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, c.wrap(err, "inspect container %s", b)
	}
	return r.Container, nil
}

// health is the container's health status, "none" without a health check.
func health(in container.InspectResponse) string {
	if in.State == nil || in.State.Health == nil || in.State.Health.Status == "" {
		return "none"
	}
	return string(in.State.Health.Status)
}

func state(in container.InspectResponse) string {
	if in.State == nil {
		return "unknown"
	}
	return string(in.State.Status)
}

// lastCheck says how the last health check ended, its output redacted and
// cut to one line.
func lastCheck(env *steps.Env, in container.InspectResponse) string {
	if in.State == nil || in.State.Health == nil || len(in.State.Health.Log) == 0 {
		return ""
	}
	l := in.State.Health.Log[len(in.State.Health.Log)-1]
	out := strings.TrimSpace(env.Redact.String(l.Output))
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		out = out[:i] + " ..."
	}
	if len(out) > 200 {
		out = out[:200] + "..."
	}
	if out == "" {
		return fmt.Sprintf("last check exit %d", l.ExitCode)
	}
	return fmt.Sprintf("last check exit %d: %s", l.ExitCode, out)
}

// parseTimeout reads an optional duration parameter.
func parseTimeout(name, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive duration (e.g. 30s, 2m)", name, s)
	}
	return d, nil
}
