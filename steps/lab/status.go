package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Status is what `lab status` reports: images, containers and their
// health, whether the stack's ports answer, the workspace's HEAD, and where
// the profile is.
type Status struct {
	Dir     string `json:"dir"`
	Project string `json:"project"`
	Engine  string `json:"engine"`
	// EngineError is set when the engine did not answer; images and
	// containers are then unknown.
	EngineError string         `json:"engine_error,omitempty"`
	Images      []ImageState   `json:"images"`
	Services    []ServiceState `json:"services"`
	Ports       []PortState    `json:"ports"`
	Workspace   WorkspaceState `json:"workspace"`
	Profile     string         `json:"profile"`
	HasProfile  bool           `json:"has_profile"`
	// Store is the shared-run store beside the stack: its container, its
	// address and whether it answers, its DSN without the password.
	Store StoreState `json:"store"`
}

// StoreState is the lab's shared-run store.
type StoreState struct {
	Project   string         `json:"project"`
	Services  []ServiceState `json:"services"`
	Addr      string         `json:"addr"`
	Answering bool           `json:"answering"`
	DSN       string         `json:"dsn,omitempty"` // password masked
}

// PortState is one host port of the stack.
type PortState struct {
	Name      string `json:"name"`
	Addr      string `json:"addr"`
	Answering bool   `json:"answering"`
	// Needed: the "before" stack publishes it (the others come with nginx).
	Needed bool `json:"needed"`
}

// WorkspaceState is the workspace repository's state.
type WorkspaceState struct {
	Path    string `json:"path"`
	Exists  bool   `json:"exists"`
	Head    string `json:"head,omitempty"`    // short hash
	Subject string `json:"subject,omitempty"` // of HEAD's message
	Commits int    `json:"commits,omitempty"` // on HEAD's branch
	Changed int    `json:"changed"`           // files with uncommitted changes
	Error   string `json:"error,omitempty"`
}

// Up says whether the lab is up: every container ready (healthy, or
// running without a healthcheck), at least one container, and the
// ports of the "before" stack answering.
func (s *Status) Up() bool {
	if s.EngineError != "" || len(s.Services) == 0 {
		return false
	}
	for _, c := range s.Services {
		if !c.Ready() {
			return false
		}
	}
	for _, p := range s.Ports {
		if p.Needed && !p.Answering {
			return false
		}
	}
	if len(s.Store.Services) == 0 || !s.Store.Answering {
		return false
	}
	for _, c := range s.Store.Services {
		if !c.Ready() {
			return false
		}
	}
	return true
}

// Status reports on the lab without changing anything.
func (l *Lab) Status(ctx context.Context) (*Status, error) {
	s := &Status{Dir: l.dir, Project: l.opt.Project, Engine: l.host, Profile: l.ProfilePath(), HasProfile: exists(l.ProfilePath())}
	if err := l.ping(ctx); err != nil {
		s.EngineError = err.Error()
	} else {
		for _, im := range images() {
			st, err := l.inspectImage(ctx, im)
			if err != nil {
				return nil, err
			}
			s.Images = append(s.Images, st)
		}
		ss, err := l.services(ctx)
		if err != nil {
			return nil, err
		}
		s.Services = ss
		if s.Store.Services, err = l.projectServices(ctx, l.StoreProject()); err != nil {
			return nil, err
		}
	}
	w, err := LoadWiring()
	if err != nil {
		return nil, err
	}
	for _, p := range w.Ports {
		addr := net.JoinHostPort(probeHost(p.Bind), strconv.Itoa(p.Port))
		s.Ports = append(s.Ports, PortState{Name: p.Name, Addr: addr, Answering: answers(ctx, addr), Needed: p.Before})
	}
	s.Store.Project = l.StoreProject()
	s.Store.Addr = net.JoinHostPort(w.Store.Bind, strconv.Itoa(w.Store.Port))
	s.Store.Answering = answers(ctx, s.Store.Addr)
	if data, err := os.ReadFile(l.ProfilePath()); err == nil {
		if p, err := ParseProfile(data); err == nil && p.Store != "" {
			s.Store.DSN = SafeDSN(p.Store)
		}
	}
	s.Workspace = workspaceState(l.Workspace())
	return s, nil
}

// probeHost is where a port published on bind answers from this host.
func probeHost(bind string) string {
	if bind == "0.0.0.0" || bind == "::" || bind == "" {
		return "localhost"
	}
	return bind
}

// answers says whether something accepts TCP connections at addr.
func answers(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func workspaceState(path string) WorkspaceState {
	w := WorkspaceState{Path: path}
	repo, err := gogit.PlainOpen(path)
	if err != nil {
		if exists(path) {
			w.Exists, w.Error = true, err.Error()
		}
		return w
	}
	w.Exists = true
	head, err := repo.Head()
	if err != nil {
		w.Error = "no HEAD: " + err.Error()
		return w
	}
	w.Head = head.Hash().String()[:8]
	if c, err := repo.CommitObject(head.Hash()); err == nil {
		w.Subject, _, _ = strings.Cut(strings.TrimSpace(c.Message), "\n")
	}
	if it, err := repo.Log(&gogit.LogOptions{From: head.Hash()}); err == nil {
		_ = it.ForEach(func(*object.Commit) error { w.Commits++; return nil })
	}
	if wt, err := repo.Worktree(); err == nil {
		if st, err := wt.Status(); err == nil {
			for _, f := range st {
				if f.Worktree != gogit.Unmodified || f.Staging != gogit.Unmodified {
					w.Changed++
				}
			}
		}
	}
	return w
}

// Write prints the status for a person.
func (s *Status) Write(w io.Writer) {
	fmt.Fprintf(w, "lab %s (compose project %s, engine %s)\n", s.Dir, s.Project, s.Engine)
	if s.EngineError != "" {
		fmt.Fprintf(w, "engine: %s\n", s.EngineError)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(s.Images) > 0 {
		fmt.Fprintln(tw, "images:")
		for _, im := range s.Images {
			if !im.Present {
				fmt.Fprintf(tw, "  %s\t%s\tmissing\t(lab up builds it)\n", im.Key, im.Ref)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\tpresent\t%s, %s, built %s\n", im.Key, im.Ref, shortID(im.ID), megabytes(im.Size), im.Created.Local().Format("2006-01-02 15:04"))
		}
	}
	if s.EngineError == "" {
		if len(s.Services) == 0 {
			fmt.Fprintln(tw, "containers:\tnone (lab up starts the stack)")
		} else {
			fmt.Fprintln(tw, "containers:")
			for _, c := range s.Services {
				health := c.Health
				if health == "" {
					health = "no healthcheck"
				}
				line := fmt.Sprintf("  %s\t%s\t%s\t%s", c.Service, c.Container, c.State, health)
				if c.State == "exited" {
					line += fmt.Sprintf(" (exit %d)", c.ExitCode)
				}
				if c.Problem != "" {
					line += ": " + clip(c.Problem, 80)
				}
				fmt.Fprintln(tw, line)
			}
		}
	}
	nginx := false
	for _, c := range s.Services {
		nginx = nginx || c.Service == "nginx"
	}
	fmt.Fprintln(tw, "ports:")
	for _, p := range s.Ports {
		state := "answering"
		if !p.Answering {
			state = "closed"
			if !p.Needed && !nginx {
				state += " (nginx is not in the stack yet)"
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Name, p.Addr, state)
	}
	st := s.Store
	switch {
	case s.EngineError != "":
	case len(st.Services) == 0:
		fmt.Fprintf(tw, "store:\tnone (lab up starts it: compose project %s)\n", st.Project)
	default:
		for _, c := range st.Services {
			health := c.Health
			if health == "" {
				health = c.State
			}
			fmt.Fprintf(tw, "store:\t%s\t%s\t%s\n", c.Container, c.State, health)
		}
	}
	state := "answering"
	if !st.Answering {
		state = "closed"
	}
	fmt.Fprintf(tw, "  store\t%s\t%s\n", st.Addr, state)
	if st.DSN != "" {
		fmt.Fprintf(tw, "  store=\t%s\t(in the profile: runs with --target lab are shared)\n", st.DSN)
	}
	tw.Flush()
	ws := s.Workspace
	switch {
	case !ws.Exists:
		fmt.Fprintf(w, "workspace: %s: none (lab up creates it)\n", ws.Path)
	case ws.Error != "":
		fmt.Fprintf(w, "workspace: %s: %s\n", ws.Path, ws.Error)
	default:
		changes := "clean"
		if ws.Changed > 0 {
			changes = fmt.Sprintf("%d files changed", ws.Changed)
		}
		fmt.Fprintf(w, "workspace: %s\n  HEAD %s %q (%d commits, %s)\n", ws.Path, ws.Head, ws.Subject, ws.Commits, changes)
	}
	if s.HasProfile {
		fmt.Fprintf(w, "profile: %s\n", s.Profile)
	} else {
		fmt.Fprintf(w, "profile: %s: none (lab up writes it)\n", s.Profile)
	}
	if s.Up() {
		fmt.Fprintln(w, "the lab is up")
	} else {
		fmt.Fprintln(w, "the lab is not up: `runbook lab up` starts it")
	}
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func megabytes(n int64) string {
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}
