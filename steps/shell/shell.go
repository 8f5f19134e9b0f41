// Package shell runs a program from an argv: no shell, no interpolation but
// ${target.NAME}, a timeout, output streamed a line at a time.
package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// Exec is the `shell` action.
//
//   - shell:
//     argv: [openssl, version]
//     dir: .            # relative to the workspace
//     env: {LC_ALL: C}  # added to runbook's own environment
//     expect_exit: 0
//     expect_output: 'OpenSSL 3\.'
//     timeout: 30s
type Exec struct {
	Argv         []string          `yaml:"argv"`
	Dir          string            `yaml:"dir"`
	Env          map[string]string `yaml:"env"`
	ExpectExit   int               `yaml:"expect_exit"`
	ExpectOutput string            `yaml:"expect_output"`
	Timeout      string            `yaml:"timeout"`

	timeout time.Duration
	re      *regexp.Regexp
}

// Register adds the shell action to a registry.
func Register(r *steps.Registry) {
	r.Register("shell", func() steps.Action { return new(Exec) })
}

// Validate implements runbooks.Validator.
func (e *Exec) Validate() error {
	if len(e.Argv) == 0 || strings.TrimSpace(e.Argv[0]) == "" {
		return errors.New("argv is required: the program and its arguments, as a list")
	}
	if e.Timeout != "" {
		d, err := time.ParseDuration(e.Timeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("timeout %q is not a positive duration", e.Timeout)
		}
		e.timeout = d
	}
	if e.ExpectOutput != "" {
		re, err := regexp.Compile(e.ExpectOutput)
		if err != nil {
			return fmt.Errorf("expect_output: %v", err)
		}
		e.re = re
	}
	if e.ExpectExit < 0 || e.ExpectExit > 255 {
		return fmt.Errorf("expect_exit %d is not an exit code (0-255)", e.ExpectExit)
	}
	return nil
}

// Describe implements steps.Action.
func (e *Exec) Describe(env *steps.Env) string {
	parts := make([]string, len(e.Argv))
	for i, a := range e.Argv {
		a = env.ShowExpand(a)
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts[i] = a
	}
	s := "run " + strings.Join(parts, " ")
	if e.Dir != "" {
		s += " in " + e.Dir
	}
	if e.ExpectExit != 0 {
		s += fmt.Sprintf(", expect exit %d", e.ExpectExit)
	}
	if e.ExpectOutput != "" {
		s += fmt.Sprintf(", expect output matching /%s/", e.ExpectOutput)
	}
	return s
}

// Run implements steps.Action.
func (e *Exec) Run(ctx context.Context, env *steps.Env) error {
	if e.re == nil || (e.Timeout != "" && e.timeout == 0) {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	argv := make([]string, len(e.Argv))
	for i, a := range e.Argv {
		v, err := env.Expand(a)
		if err != nil {
			return err
		}
		argv[i] = v
	}
	if e.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = env.Workspace
	if e.Dir != "" {
		if strings.HasPrefix(e.Dir, "/") || env.Workspace == "" {
			cmd.Dir = e.Dir
		} else {
			cmd.Dir = env.Workspace + "/" + e.Dir
		}
	}
	cmd.Env = os.Environ()
	for k, v := range e.Env {
		x, err := env.Expand(v)
		if err != nil {
			return err
		}
		cmd.Env = append(cmd.Env, k+"="+x)
	}
	// Own process group, so a timeout or cancel ends children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var matched bool
	var out steps.LineTap
	out.W = env.Out
	if e.re != nil {
		out.Fn = func(line string) {
			if !matched && e.re.MatchString(line) {
				matched = true
			}
		}
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	out.Flush()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w", argv[0], ctx.Err())
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			return fmt.Errorf("start %s: %w", argv[0], err)
		}
	}
	if code != e.ExpectExit {
		return fmt.Errorf("%s exited %d, expected %d", argv[0], code, e.ExpectExit)
	}
	if e.re != nil && !matched {
		return fmt.Errorf("%s: no output line matched /%s/", argv[0], e.ExpectOutput)
	}
	return nil
}
