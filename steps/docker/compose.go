package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// Apply is the `compose.apply` action: `up -d` for the named services of a
// compose project, run with the compose CLI the host has — the `docker
// compose` plugin (v2) when present, else `docker-compose` (v1, 1.28 or
// newer). This is the one docker action that runs a program; everything
// else talks to the Engine API. The CLI gets the docker target's endpoint
// as DOCKER_HOST, so it acts on the same engine as the other actions.
//
//	do:
//	  - compose.apply:
//	      file: lab/docker-compose.yml   # relative to the workspace
//	      project: lab                   # default: the compose file's directory name
//	      services: [nginx, app]         # default: every service
//	      force_recreate: false
//	      remove_orphans: false          # also remove containers of services no longer in the file
//	      timeout: 5m                    # default 5m
type Apply struct {
	Target        string   `yaml:"target"`
	File          string   `yaml:"file"`
	Project       string   `yaml:"project"`
	Services      []string `yaml:"services"`
	ForceRecreate bool     `yaml:"force_recreate"`
	RemoveOrphans bool     `yaml:"remove_orphans"`
	Timeout       string   `yaml:"timeout"`

	timeout time.Duration
	// cli overrides detection (tests); nil detects.
	cli *composeCLI
}

// Validate implements runbooks.Validator.
func (a *Apply) Validate() error {
	if strings.TrimSpace(a.File) == "" {
		return errors.New("file is required: the compose file, relative to the workspace")
	}
	for _, s := range a.Services {
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "-") {
			return fmt.Errorf("services: %q is not a service name", s)
		}
	}
	// A project from a target (${target.project}) is checked when it is
	// known, in Run.
	if err := checkProject(a.Project); err != nil && !strings.Contains(a.Project, "${") {
		return err
	}
	var err error
	a.timeout, err = parseTimeout("timeout", a.Timeout, 5*time.Minute)
	return err
}

// Describe implements steps.Action.
func (a *Apply) Describe(env *steps.Env) string {
	services := make([]string, len(a.Services))
	for i, x := range a.Services {
		services[i] = env.ShowExpand(x)
	}
	args := a.upArgs(env.ShowExpand(a.File), env.ShowExpand(a.Project), services)
	s := "docker compose (or docker-compose) " + strings.Join(args, " ")
	if a.Target != "" && a.Target != DefaultTarget {
		s += " on " + a.Target
	}
	return s
}

func checkProject(p string) error {
	if p != "" && normalizeProjectName(p) != p {
		return fmt.Errorf("project %q: compose project names are lowercase letters, digits, '-' and '_'", p)
	}
	return nil
}

// upArgs are cliArgs with the flags only this action has.
func (a *Apply) upArgs(file, project string, services []string) []string {
	args := cliArgs(file, project, services, a.ForceRecreate)
	if a.RemoveOrphans {
		n := len(args) - len(services)
		args = append(args[:n:n], append([]string{"--remove-orphans"}, services...)...)
	}
	return args
}

// cliArgs are the compose CLI's arguments after the program name.
func cliArgs(file, project string, services []string, forceRecreate bool) []string {
	args := []string{"--ansi", "never", "-f", file}
	if project != "" {
		args = append(args, "-p", project)
	}
	args = append(args, "up", "-d")
	if forceRecreate {
		args = append(args, "--force-recreate")
	}
	return append(args, services...)
}

// Run implements steps.Action.
func (a *Apply) Run(ctx context.Context, env *steps.Env) error {
	if err := a.Validate(); err != nil {
		return err
	}
	abs, _, err := workspacePath(env, a.File)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("compose apply: compose file %s: %w", a.File, err)
	}
	project, err := env.Expand(a.Project)
	if err != nil {
		return err
	}
	if err := checkProject(project); err != nil {
		return err
	}
	services := make([]string, len(a.Services))
	for i, s := range a.Services {
		if services[i], err = env.Expand(s); err != nil {
			return err
		}
	}
	target := a.Target
	if target == "" {
		target = DefaultTarget
	}
	endpoint := env.Targets[target]
	cli := a.cli
	if cli == nil {
		if cli, err = detectCompose(ctx, endpoint); err != nil {
			return err
		}
	}
	args := a.upArgs(abs, project, services)
	what := "up -d"
	if len(services) > 0 {
		what += " " + strings.Join(services, " ")
	}
	if project != "" {
		what += " in project " + project
	}
	engine := endpoint
	if engine == "" {
		engine = "the default engine (DOCKER_HOST, else the local socket)"
	}
	what += " via " + engine
	env.Printf("%s %s", cli, strings.Join(args, " "))

	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	argv := append(append([]string(nil), cli.argv...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = filepath.Dir(abs)
	cmd.Env = composeEnv(endpoint)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	last := ""
	tap := &steps.LineTap{Fn: func(line string) {
		shown := env.Redact.String(strings.TrimRight(line, "\r"))
		if strings.TrimSpace(shown) != "" {
			last = shown
		}
		env.Printf("%s", shown)
	}}
	cmd.Stdout, cmd.Stderr = tap, tap
	err = cmd.Run()
	tap.Flush()
	if err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("compose %s with %s (file %s): %w after %s", what, cli, a.File, ctx.Err(), a.timeout)
		case errors.As(err, &ee):
			msg := fmt.Sprintf("compose %s with %s (file %s): exit %d", what, cli, a.File, ee.ExitCode())
			if last != "" {
				msg += ": " + last
			}
			return errors.New(msg)
		default:
			return fmt.Errorf("compose %s with %s: %w", what, cli, err)
		}
	}
	return nil
}

// composeCLI is the compose program found on the host.
type composeCLI struct {
	argv    []string // "docker", "compose" or "docker-compose"
	version string
}

func (c *composeCLI) String() string {
	s := strings.Join(c.argv, " ")
	if c.version != "" {
		s += " " + c.version
	}
	return s
}

// detectCompose finds `docker compose` (v2) or `docker-compose` (v1).
func detectCompose(ctx context.Context, endpoint string) (*composeCLI, error) {
	var tried []string
	for _, argv := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := exec.LookPath(argv[0]); err != nil {
			tried = append(tried, strings.Join(argv, " ")+": "+argv[0]+" not on PATH")
			continue
		}
		vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := exec.CommandContext(vctx, argv[0], append(argv[1:], "version", "--short")...)
		cmd.Env = composeEnv(endpoint)
		out, err := cmd.Output()
		cancel()
		if err != nil {
			tried = append(tried, strings.Join(argv, " ")+" version: "+err.Error())
			continue
		}
		return &composeCLI{argv: argv, version: strings.TrimSpace(string(out))}, nil
	}
	return nil, fmt.Errorf("no compose CLI found (%s): install the docker compose plugin or docker-compose", strings.Join(tried, "; "))
}

func composeEnv(endpoint string) []string {
	env := os.Environ()
	if endpoint != "" {
		env = append(env, "DOCKER_HOST="+endpoint)
	}
	return env
}

// workspacePath resolves a file parameter: ${target.NAME} expanded,
// relative to the workspace. rel is the path to report to the checkpoint
// (relative to the workspace) or "" when the file lies outside it.
func workspacePath(env *steps.Env, file string) (abs, rel string, err error) {
	f, err := env.Expand(file)
	if err != nil {
		return "", "", err
	}
	if !filepath.IsAbs(f) && env.Workspace != "" {
		f = filepath.Join(env.Workspace, f)
	}
	if abs, err = filepath.Abs(f); err != nil {
		return "", "", err
	}
	if env.Workspace != "" {
		ws, err := filepath.Abs(env.Workspace)
		if err == nil {
			if r, err := filepath.Rel(ws, abs); err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				rel = filepath.ToSlash(r)
			}
		}
	}
	return abs, rel, nil
}
