package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps"
)

// Exec is the `docker.exec` action: it runs a program (an argv, no shell)
// inside each selected container through the Engine API, streams its
// output a line at a time (secrets masked), and checks the exit code and,
// optionally, that an output line matches a pattern.
//
//	verify:
//	  - docker.exec:
//	      container: lab-db-1
//	      argv: [pg_isready, -U, postgres]
//	      user: postgres
//	      env: {PGCONNECT_TIMEOUT: "5"}
//	      expect_exit: 0
//	      expect_output: 'accepting connections'
//	      timeout: 30s       # default 5m
type Exec struct {
	Selector     `yaml:",inline"`
	Argv         []string          `yaml:"argv"`
	User         string            `yaml:"user"`
	Workdir      string            `yaml:"workdir"`
	Env          map[string]string `yaml:"env"`
	ExpectExit   int               `yaml:"expect_exit"`
	ExpectOutput string            `yaml:"expect_output"`
	Timeout      string            `yaml:"timeout"`

	timeout time.Duration
	re      *regexp.Regexp
}

// Validate implements runbooks.Validator.
func (e *Exec) Validate() error {
	if err := e.Selector.validate(); err != nil {
		return err
	}
	if len(e.Argv) == 0 || strings.TrimSpace(e.Argv[0]) == "" {
		return errors.New("argv is required: the program and its arguments, as a list")
	}
	if e.ExpectExit < 0 || e.ExpectExit > 255 {
		return fmt.Errorf("expect_exit %d is not an exit code (0-255)", e.ExpectExit)
	}
	var err error
	if e.timeout, err = parseTimeout("timeout", e.Timeout, 5*time.Minute); err != nil {
		return err
	}
	if e.ExpectOutput != "" {
		if e.re, err = regexp.Compile(e.ExpectOutput); err != nil {
			return fmt.Errorf("expect_output: %v", err)
		}
	}
	for k := range e.Env {
		if k == "" || strings.ContainsAny(k, "= ") {
			return fmt.Errorf("env: %q is not a variable name", k)
		}
	}
	return nil
}

// Describe implements steps.Action. Environment values are not shown,
// only their names.
func (e *Exec) Describe(env *steps.Env) string {
	parts := make([]string, len(e.Argv))
	for i, a := range e.Argv {
		parts[i] = quoteArg(env.ShowExpand(a))
	}
	s := "exec " + strings.Join(parts, " ") + " in " + e.describe(env) + " (POST /containers/{id}/exec)"
	if e.User != "" {
		s += " as " + e.User
	}
	if len(e.Env) > 0 {
		keys := make([]string, 0, len(e.Env))
		for k := range e.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s += " with env " + strings.Join(keys, ", ")
	}
	s += fmt.Sprintf(", expect exit %d", e.ExpectExit)
	if e.ExpectOutput != "" {
		s += fmt.Sprintf(" and output matching /%s/", e.ExpectOutput)
	}
	return s
}

func quoteArg(a string) string {
	if a == "" || strings.ContainsAny(a, " \t'\"$\\|&;<>()*?") {
		return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return a
}

// Run implements steps.Action.
func (e *Exec) Run(ctx context.Context, env *steps.Env) error {
	if err := e.Validate(); err != nil {
		return err
	}
	argv := make([]string, len(e.Argv))
	for i, a := range e.Argv {
		v, err := env.Expand(a)
		if err != nil {
			return err
		}
		argv[i] = v
	}
	var envList []string
	for k, v := range e.Env {
		x, err := env.Expand(v)
		if err != nil {
			return err
		}
		envList = append(envList, k+"="+x)
	}
	sort.Strings(envList)
	c, err := open(env, e.Target)
	if err != nil {
		return err
	}
	defer c.close()
	boxes, _, err := c.selection(ctx, env, &e.Selector, true)
	if err != nil {
		return err
	}
	for _, b := range boxes {
		prefix := ""
		if len(boxes) > 1 {
			prefix = b.Name + ": "
		}
		if err := e.runIn(ctx, env, c, b, argv, envList, prefix); err != nil {
			return err
		}
	}
	return nil
}

func (e *Exec) runIn(ctx context.Context, env *steps.Env, c *conn, b box, argv, envList []string, prefix string) error {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	prog := argv[0]
	cr, err := c.api.ExecCreate(ctx, b.ID, client.ExecCreateOptions{
		User: e.User, WorkingDir: e.Workdir, Env: envList, Cmd: argv,
		AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return c.wrap(err, "exec %s in container %s", prog, b)
	}
	at, err := c.api.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{})
	if err != nil {
		return c.wrap(err, "start %s in container %s", prog, b)
	}
	defer at.Close()
	// A cancelled context must end a blocked read of the stream.
	stop := context.AfterFunc(ctx, func() { at.Close() })
	defer stop()
	matched, lastLine := false, ""
	tap := &steps.LineTap{Fn: func(line string) {
		if e.re != nil && !matched && e.re.MatchString(line) {
			matched = true
		}
		shown := env.Redact.String(line)
		if strings.TrimSpace(shown) != "" {
			lastLine = shown
		}
		env.Printf("%s%s", prefix, shown)
	}}
	_, cerr := stdcopy.StdCopy(tap, tap, at.Reader)
	tap.Flush()
	if ctx.Err() != nil {
		return fmt.Errorf("exec %s in container %s: %w after %s (the process may still be running in the container)", prog, b, ctx.Err(), e.timeout)
	}
	if cerr != nil && !errors.Is(cerr, io.EOF) {
		return c.wrap(cerr, "read output of %s in container %s", prog, b)
	}
	code, err := e.exitCode(ctx, c, cr.ID)
	if err != nil {
		return c.wrap(err, "exit code of %s in container %s", prog, b)
	}
	if code != e.ExpectExit {
		msg := fmt.Sprintf("exec %s in container %s: exit %d, expected %d", prog, b, code, e.ExpectExit)
		if lastLine != "" {
			msg += ": " + lastLine
		}
		return errors.New(msg)
	}
	if e.re != nil && !matched {
		return fmt.Errorf("exec %s in container %s: expected an output line matching /%s/, found none", prog, b, e.ExpectOutput)
	}
	return nil
}

// exitCode reads the exec's exit code. The output stream closes when the
// process ends, but the engine may take a moment to record the code.
func (e *Exec) exitCode(ctx context.Context, c *conn, id string) (int, error) {
	for i := 0; ; i++ {
		r, err := c.api.ExecInspect(ctx, id, client.ExecInspectOptions{})
		if err != nil {
			return 0, err
		}
		if !r.Running {
			return r.ExitCode, nil
		}
		if i == 50 {
			return 0, errors.New("the process closed its output but is still running")
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
