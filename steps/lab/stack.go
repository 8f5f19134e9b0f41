package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps/docker"
)

// Compose labels that tie containers, volumes and networks to a project.
const (
	labelProject = "com.docker.compose.project"
	labelService = "com.docker.compose.service"
	labelOneOff  = "com.docker.compose.oneoff"
	labelWorkDir = "com.docker.compose.project.working_dir"
)

// UpResult says what `lab up` did.
type UpResult struct {
	Took      time.Duration
	Built     []string // keys of the images built (the others were reused)
	Created   bool     // the workspace was created (else reused)
	Workspace string
	Profile   string
	Services  []ServiceState
	// Store is the shared-run store's container; StoreDSN its DSN (the
	// profile's store=) without the password.
	Store    []ServiceState
	StoreDSN string
}

// Up makes the lab exist and run: images built where missing, the
// workspace and profile created where missing, the stack brought up with
// compose and waited for until every container is healthy (or, without a
// healthcheck, running). Running it again changes nothing that is there.
func (l *Lab) Up(ctx context.Context) (*UpResult, error) {
	release, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer release()
	return l.up(ctx)
}

func (l *Lab) up(ctx context.Context) (*UpResult, error) {
	start := l.opt.Now()
	if err := l.ping(ctx); err != nil {
		return nil, err
	}
	created, prof, err := l.ensureWorkspace()
	if err != nil {
		return nil, err
	}
	if err := l.checkConflicts(ctx); err != nil {
		return nil, err
	}
	if err := l.checkStorePort(ctx); err != nil {
		return nil, err
	}
	built, err := l.ensureImages(ctx)
	if err != nil {
		return nil, err
	}
	if err := l.compose(ctx, "up -d", "up", "-d", "--remove-orphans"); err != nil {
		return nil, err
	}
	// The store starts while the stack does; both are waited for.
	if err := l.upStore(ctx, prof); err != nil {
		return nil, err
	}
	var services, store []ServiceState
	err = l.timed("waiting for the stack to be healthy", 5*time.Second, func() error {
		services, err = l.waitHealthy(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = l.timed("waiting for the shared-run store to accept connections", 5*time.Second, func() error {
		store, err = l.waitStore(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &UpResult{
		Took: l.opt.Now().Sub(start), Built: built, Created: created,
		Workspace: l.Workspace(), Profile: l.ProfilePath(), Services: services,
		Store: store, StoreDSN: SafeDSN(prof.Store),
	}, nil
}

// Down stops and removes the stack's containers, networks and volumes
// (the database's data with them); images, workspace and profile stay.
// It returns what it removed by the Engine API after compose (leftovers:
// the compose file was gone or named fewer services).
func (l *Lab) Down(ctx context.Context) ([]string, error) {
	release, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer release()
	return l.down(ctx)
}

func (l *Lab) down(ctx context.Context) ([]string, error) {
	if err := l.ping(ctx); err != nil {
		return nil, err
	}
	cs, err := l.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labelProject+"="+l.opt.Project)})
	if err != nil {
		return nil, l.engineErr(err, "list the containers of project %s", l.opt.Project)
	}
	if err := l.checkOwner(cs.Items); err != nil {
		return nil, err
	}
	if exists(l.composePath()) {
		if err := l.compose(ctx, "down -v", "down", "-v", "--remove-orphans"); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// A compose file a failed edit left invalid must not keep the
			// lab up: what compose could not remove, the sweep does.
			first, _, _ := strings.Cut(err.Error(), "\n")
			l.say("%s\nremoving the project's containers through the Engine API instead", first)
		}
	} else {
		l.say("no compose file at %s: removing the project's containers through the Engine API", l.composePath())
	}
	removed, err := l.sweep(ctx)
	if err != nil {
		return removed, err
	}
	more, err := l.downStore(ctx)
	return append(removed, more...), err
}

// Reset takes the stack down, deletes the workspace, its origin and the
// profile, and brings up a fresh lab (new secrets, before state).
func (l *Lab) Reset(ctx context.Context) (*UpResult, error) {
	release, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer release()
	if _, err := l.down(ctx); err != nil {
		return nil, err
	}
	for _, p := range append([]string{l.Workspace(), l.origin(), l.ProfilePath(), filepath.Join(l.dir, StoreDir)}, l.opt.ProfileCopies...) {
		if err := os.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("reset: remove %s: %w", p, err)
		}
	}
	l.say("removed the workspace, its origin, the profile and the store's password")
	return l.up(ctx)
}

// compose runs the host's compose CLI on the workspace's compose file.
func (l *Lab) compose(ctx context.Context, what string, args ...string) error {
	return l.composeFile(ctx, l.composePath(), l.opt.Project, what, args...)
}

// composeFile runs the host's compose CLI on a compose file and project.
func (l *Lab) composeFile(ctx context.Context, file, project, what string, args ...string) error {
	argv, version, err := docker.DetectCompose(ctx, l.opt.Docker)
	if err != nil {
		return err
	}
	full := append([]string{"--ansi", "never", "-f", file, "-p", project}, args...)
	cli := strings.Join(argv, " ")
	l.say("%s %s (%s)", cli, strings.Join(full, " "), version)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], full...)...)
	cmd.Dir = filepath.Dir(file)
	cmd.Env = os.Environ()
	if l.opt.Docker != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+l.opt.Docker)
	}
	// Its own process group: a cancelled lab command stops compose and
	// whatever compose started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	out := newTail(15)
	w := lineWriter(func(line string) {
		out.add(line)
		l.say("  %s", line)
	})
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	w.flush()
	if err != nil {
		msg := fmt.Sprintf("compose %s (project %s, file %s) with %s", what, project, file, cli)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		}
		hint := ""
		if s := out.String(); strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use") {
			hint = "\na port of the stack is taken: the lab needs " + portList() + "; `runbook lab status` shows who holds them"
		}
		return fmt.Errorf("%s: %w\n%s%s", msg, err, out, hint)
	}
	return nil
}

// lineWriter calls fn with each complete line written to it.
type lineWriterT struct {
	fn  func(string)
	buf []byte
}

func lineWriter(fn func(string)) *lineWriterT { return &lineWriterT{fn: fn} }

func (w *lineWriterT) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			return len(p), nil
		}
		if ln := strings.TrimSpace(string(w.buf[:i])); ln != "" {
			w.fn(ln)
		}
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriterT) flush() {
	if ln := strings.TrimSpace(string(w.buf)); ln != "" {
		w.fn(ln)
	}
	w.buf = nil
}

// port is a host port the stack publishes.
type port struct {
	name string
	bind string // the host address compose binds
	n    int
}

// stackPorts are the ports the "before" stack publishes (the wiring's
// ports marked before).
func stackPorts() []port {
	w, err := LoadWiring()
	if err != nil {
		return nil // the wiring is embedded and checked by tests
	}
	var ps []port
	for _, p := range w.Ports {
		if p.Before {
			ps = append(ps, port{p.Name, p.Bind, p.Port})
		}
	}
	return ps
}

// portList names every port of the wiring for messages: "8001 (app),
// 55433 (db), and once a step adds them 8080 (http), 8443 (https)".
func portList() string {
	w, err := LoadWiring()
	if err != nil {
		return err.Error()
	}
	var before, later []string
	for _, p := range w.Ports {
		x := fmt.Sprintf("%d (%s)", p.Port, p.Name)
		if p.Before {
			before = append(before, x)
		} else {
			later = append(later, x)
		}
	}
	s := strings.Join(before, ", ")
	if len(later) > 0 {
		s += ", and once a step adds them " + strings.Join(later, ", ")
	}
	return s
}

// checkConflicts refuses to start when the compose project already runs
// from another lab directory (compose would take its containers over), or
// when a port of the stack is held by anything but this project's own
// containers; either way it names the holder.
func (l *Lab) checkConflicts(ctx context.Context) error {
	res, err := l.api.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return l.engineErr(err, "list containers")
	}
	if err := l.checkOwner(res.Items); err != nil {
		return err
	}
	for _, p := range l.ports {
		if c := publisher(res.Items, p.n); c != nil {
			if c.Labels[labelProject] == l.opt.Project {
				continue // ours: up again is a no-op
			}
			name := containerName(c.Names)
			if proj := c.Labels[labelProject]; proj != "" {
				return fmt.Errorf("port %d (%s) is published by container %s of compose project %q: stop it first (another lab? `runbook lab down --project %s`); the lab's ports are fixed", p.n, p.name, name, proj, proj)
			}
			return fmt.Errorf("port %d (%s) is published by container %s: stop it first (`docker stop %s`); the lab's ports are fixed", p.n, p.name, name, name)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(p.bind, strconv.Itoa(p.n)))
		if err != nil {
			return fmt.Errorf("port %d (%s) is taken by a process on this host (listen on %s:%d: %w): stop it first; the lab's ports are fixed", p.n, p.name, p.bind, p.n, errors.Unwrap(err))
		}
		ln.Close()
	}
	return nil
}

// ForeignProjectError says that the lab's compose project runs from
// another lab's workspace: compose would take that lab's containers over
// (up) or remove them (down).
type ForeignProjectError struct {
	Project   string
	Container string
	From      string // the other workspace
	Workspace string // this lab's
}

func (e *ForeignProjectError) Error() string {
	return fmt.Sprintf("compose project %q has container %s, started from %s, not from this lab's workspace %s: that is another lab (`runbook lab down --dir %s` takes it down), or name another project with --project",
		e.Project, e.Container, e.From, e.Workspace, filepath.Dir(e.From))
}

// checkOwner refuses containers of the project that compose started from
// another workspace.
func (l *Lab) checkOwner(cs []container.Summary) error {
	for _, c := range cs {
		if c.Labels[labelProject] != l.opt.Project {
			continue
		}
		if wd := c.Labels[labelWorkDir]; wd != "" && !sameDir(wd, l.Workspace()) {
			return &ForeignProjectError{Project: l.opt.Project, Container: containerName(c.Names), From: wd, Workspace: l.Workspace()}
		}
	}
	return nil
}

// sameDir says whether two paths name one directory, symbolic links
// resolved where they can be.
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// publisher is the container that publishes host port n, if any.
func publisher(cs []container.Summary, n int) *container.Summary {
	for i := range cs {
		for _, p := range cs[i].Ports {
			if int(p.PublicPort) == n {
				return &cs[i]
			}
		}
	}
	return nil
}

func containerName(names []string) string {
	if len(names) == 0 {
		return "?"
	}
	return strings.TrimPrefix(names[0], "/")
}

// ServiceState is one container of the stack.
type ServiceState struct {
	Service   string `json:"service"`
	Container string `json:"container"`
	State     string `json:"state"`            // running, exited, ...
	Health    string `json:"health,omitempty"` // healthy, starting, unhealthy; "" without a healthcheck
	ExitCode  int    `json:"exit_code,omitempty"`
	// Problem is the last healthcheck output of an unhealthy container.
	Problem string `json:"problem,omitempty"`
	id      string
}

// Ready: healthy, or running without a healthcheck.
func (s ServiceState) Ready() bool {
	return s.State == "running" && (s.Health == "" || s.Health == string(container.Healthy))
}

// services inspects every container of the project (one-off containers
// left out), sorted by service.
func (l *Lab) services(ctx context.Context) ([]ServiceState, error) {
	return l.projectServices(ctx, l.opt.Project)
}

func (l *Lab) projectServices(ctx context.Context, project string) ([]ServiceState, error) {
	res, err := l.api.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", labelProject+"="+project),
	})
	if err != nil {
		return nil, l.engineErr(err, "list the containers of project %s", project)
	}
	var out []ServiceState
	for _, c := range res.Items {
		if c.Labels[labelOneOff] == "True" {
			continue
		}
		s := ServiceState{Service: c.Labels[labelService], Container: containerName(c.Names), id: c.ID}
		r, err := l.api.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				continue // removed meanwhile
			}
			return nil, l.engineErr(err, "inspect container %s", s.Container)
		}
		if st := r.Container.State; st != nil {
			s.State, s.ExitCode = string(st.Status), st.ExitCode
			if h := st.Health; h != nil {
				s.Health = string(h.Status)
				if h.Status == container.Unhealthy && len(h.Log) > 0 {
					s.Problem = strings.TrimSpace(h.Log[len(h.Log)-1].Output)
				}
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, nil
}

// waitHealthy polls the project's containers until each is ready; a
// container that exits or turns unhealthy ends the wait with its logs.
func (l *Lab) waitHealthy(ctx context.Context) ([]ServiceState, error) {
	return l.waitProjectHealthy(ctx, l.opt.Project)
}

func (l *Lab) waitProjectHealthy(ctx context.Context, project string) ([]ServiceState, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opt.Timeout)
	defer cancel()
	tick := time.NewTicker(l.poll)
	defer tick.Stop()
	var last []ServiceState
	for {
		ss, err := l.projectServices(ctx, project)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if err == nil {
			last = ss
			ready := len(ss) > 0
			for _, s := range ss {
				switch {
				case s.State == "exited" || s.State == "dead":
					return ss, fmt.Errorf("service %s (container %s) stopped with exit code %d:\n%s", s.Service, s.Container, s.ExitCode, l.logTail(ctx, s.id, 15))
				case s.Health == string(container.Unhealthy):
					return ss, fmt.Errorf("service %s (container %s) is unhealthy: %s\n%s", s.Service, s.Container, s.Problem, l.logTail(ctx, s.id, 15))
				case !s.Ready():
					ready = false
				}
			}
			if ready {
				return ss, nil
			}
		}
		select {
		case <-ctx.Done():
			var pending []string
			for _, s := range last {
				if !s.Ready() {
					pending = append(pending, fmt.Sprintf("%s (%s %s)", s.Service, s.State, s.Health))
				}
			}
			return last, fmt.Errorf("the stack of project %s was not healthy within %s: waiting for %s; see `docker logs` of those containers", project, l.opt.Timeout, listOr(pending, "its containers to appear"))
		case <-tick.C:
		}
	}
}

// logTail is the last n lines of a container's logs, indented, for an
// error message ("" when they cannot be read).
func (l *Lab) logTail(ctx context.Context, id string, n int) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rc, err := l.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out bytes.Buffer
	raw, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return ""
	}
	// Without a TTY the stream is multiplexed; fall back to raw bytes.
	if _, err := stdcopy.StdCopy(&out, &out, bytes.NewReader(raw)); err != nil {
		out.Reset()
		out.Write(raw)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	for i := range lines {
		lines[i] = "  | " + lines[i]
	}
	return "last log lines:\n" + strings.Join(lines, "\n")
}

// sweep removes whatever of the project is left on the engine:
// containers, then volumes and networks labelled with the project.
func (l *Lab) sweep(ctx context.Context) ([]string, error) {
	return l.sweepProject(ctx, l.opt.Project)
}

func (l *Lab) sweepProject(ctx context.Context, project string) ([]string, error) {
	var removed []string
	f := make(client.Filters).Add("label", labelProject+"="+project)
	cs, err := l.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return removed, l.engineErr(err, "list the containers of project %s", project)
	}
	for _, c := range cs.Items {
		name := containerName(c.Names)
		if _, err := l.api.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return removed, l.engineErr(err, "remove container %s", name)
		}
		removed = append(removed, "container "+name)
	}
	vs, err := l.api.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return removed, l.engineErr(err, "list the volumes of project %s", project)
	}
	for _, v := range vs.Items {
		if _, err := l.api.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return removed, l.engineErr(err, "remove volume %s", v.Name)
		}
		removed = append(removed, "volume "+v.Name)
	}
	ns, err := l.api.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, l.engineErr(err, "list the networks of project %s", project)
	}
	for _, n := range ns.Items {
		if _, err := l.api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return removed, l.engineErr(err, "remove network %s", n.Name)
		}
		removed = append(removed, "network "+n.Name)
	}
	return removed, nil
}
