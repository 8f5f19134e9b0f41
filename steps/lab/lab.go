// Package lab builds, runs and tears down the rehearsal lab: a disposable
// local copy of the staging stack in its "before" state, on the local Docker
// engine and without any registry. It is not an action family: it is the
// stack a rehearsal runs against.
//
// The names (images, compose project, ports, files) are fixed by the lab
// contract, assets/lab/CONTRACT.md, which the embedded runbook is wired
// against. In short:
//
//   - images, built locally and reused when present: the Debian base
//     (debootstrap + the Engine API's image import), PostgreSQL 15 with
//     pgaudit and pgcrypto, nginx (built, not yet in the stack) and the
//     stand-in application (a static cmd/labapp in a FROM scratch image);
//   - a lab directory holding workspace/ (a git repository in the "before"
//     state, whose origin is the bare repository origin.git beside it) and
//     profile.env (0600: the targets, database password included);
//   - the stack, brought up with the host's compose CLI from the
//     workspace's compose file, and waited for through the Engine API.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps/docker"
)

// Names fixed by the lab contract.
const (
	DefaultProject = "rblab"
	DefaultDir     = ".runbook-lab"
	ComposeFile    = "docker-compose.staging.yml"
	ProfileFile    = "profile.env"
	WorkspaceDir   = "workspace"
	OriginDir      = "origin.git"

	BaseImage     = "runbook-lab/base:bookworm"
	PostgresImage = "runbook-lab/postgres:15"
	NginxImage    = "runbook-lab/nginx:latest"
	AppImage      = "runbook-lab/app:latest"

	// DefaultMirror is the Debian mirror debootstrap fetches the base from.
	DefaultMirror = "http://deb.debian.org/debian"
	// Suite is the Debian release of every lab image.
	Suite = "bookworm"
)

// Options say which lab to work on and how.
type Options struct {
	// Dir is the lab directory (default DefaultDir, relative to the
	// working directory).
	Dir string
	// Project is the compose project name (default DefaultProject).
	Project string
	// Docker is the engine endpoint, DOCKER_HOST style; "" means the
	// client's default (DOCKER_HOST, else the local socket).
	Docker string
	// Source is the root of the runbook source tree, which the app image
	// is built from; "" looks upward from the working directory.
	Source string
	// Mirror is the Debian mirror for debootstrap (default DefaultMirror).
	Mirror string
	// Rebuild names images to build even when present: keys of Images
	// ("base", "postgres", "nginx", "app"); "all" means every one.
	Rebuild []string
	// Timeout bounds the wait for the stack to become healthy (default 3m).
	Timeout time.Duration
	// ProfileCopies are further paths profile.env is written to (the
	// CLI's profile "lab" in its state directory).
	ProfileCopies []string
	// Progress receives progress lines; nil discards them. It may be
	// called from more than one goroutine, never concurrently.
	Progress func(line string)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Lab is one lab directory and compose project on one engine.
type Lab struct {
	opt  Options
	dir  string
	api  engine
	host string
	// ports are the host ports checked before compose up (stackPorts;
	// tests put free ones here).
	ports []port
	// poll is how often waits look again (tests make it short).
	poll time.Duration

	mu sync.Mutex // serialises Progress
}

// engine is the part of the Docker Engine API the lab uses; the real one
// is *client.Client.
type engine interface {
	Ping(ctx context.Context, opts client.PingOptions) (client.PingResult, error)
	ServerVersion(ctx context.Context, opts client.ServerVersionOptions) (client.ServerVersionResult, error)
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageImport(ctx context.Context, src client.ImageImportSource, ref string, opts client.ImageImportOptions) (client.ImageImportResult, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, opts client.ImageBuildOptions) (client.ImageBuildResult, error)
	ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerLogs(ctx context.Context, id string, opts client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ContainerRemove(ctx context.Context, id string, opts client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	VolumeList(ctx context.Context, opts client.VolumeListOptions) (client.VolumeListResult, error)
	VolumeRemove(ctx context.Context, id string, opts client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)
	NetworkList(ctx context.Context, opts client.NetworkListOptions) (client.NetworkListResult, error)
	NetworkRemove(ctx context.Context, id string, opts client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
	Close() error
}

// Open prepares a lab: it resolves the lab directory and dials the
// engine (no I/O yet: the engine is first asked by each operation).
func Open(opt Options) (*Lab, error) {
	if opt.Dir == "" {
		opt.Dir = DefaultDir
	}
	if opt.Project == "" {
		opt.Project = DefaultProject
	}
	if opt.Mirror == "" {
		opt.Mirror = DefaultMirror
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 3 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	for _, r := range opt.Rebuild {
		if _, ok := imageByKey(r); !ok && r != "all" {
			return nil, fmt.Errorf("rebuild %q: not a lab image (want all, %s)", r, imageKeys())
		}
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab directory %s: %w", opt.Dir, err)
	}
	c, err := docker.Dial(opt.Docker)
	if err != nil {
		return nil, err
	}
	return &Lab{opt: opt, dir: dir, api: c, host: c.DaemonHost(), ports: stackPorts(), poll: 500 * time.Millisecond}, nil
}

// Close releases the engine client.
func (l *Lab) Close() error { return l.api.Close() }

// Dir is the lab directory (absolute).
func (l *Lab) Dir() string { return l.dir }

// Workspace is the workspace repository's path.
func (l *Lab) Workspace() string { return filepath.Join(l.dir, WorkspaceDir) }

// ProfilePath is profile.env's path.
func (l *Lab) ProfilePath() string { return filepath.Join(l.dir, ProfileFile) }

// Project is the compose project name.
func (l *Lab) Project() string { return l.opt.Project }

func (l *Lab) origin() string { return filepath.Join(l.dir, OriginDir) }

func (l *Lab) composePath() string { return filepath.Join(l.Workspace(), ComposeFile) }

func (l *Lab) say(format string, args ...any) {
	if l.opt.Progress == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opt.Progress(fmt.Sprintf(format, args...))
}

// timed runs fn while a ticker says every tick that what is still going
// on ("building postgres image… 40s"), then says how long it took.
func (l *Lab) timed(what string, tick time.Duration, fn func() error) error {
	start := l.opt.Now()
	l.say("%s…", what)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				l.say("%s… %s", what, roundSecond(l.opt.Now().Sub(start)))
			}
		}
	}()
	err := fn()
	close(done)
	wg.Wait()
	if err == nil {
		l.say("%s: done in %s", what, roundSecond(l.opt.Now().Sub(start)))
	}
	return err
}

func roundSecond(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// ping checks that an engine answers, saying what to do when none does.
func (l *Lab) ping(ctx context.Context) error {
	if _, err := l.api.Ping(ctx, client.PingOptions{}); err != nil {
		return l.engineErr(err, "reach the Docker engine")
	}
	return nil
}

// engineErr wraps an Engine API error with what was being done, where,
// and — when no engine answered — how to point the lab at one.
func (l *Lab) engineErr(err error, format string, args ...any) error {
	doing := fmt.Sprintf(format, args...)
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%s via %s: %w: is dockerd running? point runbook at another engine with DOCKER_HOST or --docker", doing, l.host, err)
	}
	return fmt.Errorf("%s via %s: %w", doing, l.host, err)
}

// lock holds the lab directory for one lab command at a time. The flock
// goes with the process, so a killed `lab up` leaves nothing to clean.
func (l *Lab) lock() (release func(), err error) {
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create lab directory: %w", err)
	}
	path := filepath.Join(l.dir, "lab.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lab lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another runbook lab command (pid %s) is working on %s: wait for it to finish", trimNL(string(holder)), l.dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// MachineLock waits for, and takes, a machine-wide lock for programs that
// run a lab with the contract's fixed ports (integration tests): two labs
// cannot run on one machine at once. The lock goes with the process.
func MachineLock(ctx context.Context) (release func(), err error) {
	return lockFile(ctx, filepath.Join(os.TempDir(), "runbook-lab-test.lock"))
}

// lockFile waits for an exclusive flock on path.
func lockFile(ctx context.Context, path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for the machine's lab lock %s: %w", path, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

func trimNL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "unknown"
	}
	return s
}
