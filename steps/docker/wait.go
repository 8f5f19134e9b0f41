package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// Wait is the `docker.wait` action: it polls until every selected container
// is healthy (or running), printing each change of state and a line every
// ten seconds, and fails at the timeout with what it last saw. A container
// that exits while awaited fails at once.
//
//	verify:
//	  - docker.wait:
//	      project: lab
//	      service: db
//	      until: healthy    # or running
//	      timeout: 2m       # default 2m
//	      interval: 1s      # poll interval, default 1s
type Wait struct {
	Selector `yaml:",inline"`
	Until    string `yaml:"until"`
	Timeout  string `yaml:"timeout"`
	Interval string `yaml:"interval"`

	timeout, interval time.Duration
}

// Validate implements runbooks.Validator.
func (w *Wait) Validate() error {
	if err := w.Selector.validate(); err != nil {
		return err
	}
	if w.Until == "" {
		w.Until = "healthy"
	}
	if w.Until != "healthy" && w.Until != "running" {
		return fmt.Errorf("until %q: expected healthy or running", w.Until)
	}
	var err error
	if w.timeout, err = parseTimeout("timeout", w.Timeout, 2*time.Minute); err != nil {
		return err
	}
	if w.interval, err = parseTimeout("interval", w.Interval, time.Second); err != nil {
		return err
	}
	return nil
}

// Describe implements steps.Action.
func (w *Wait) Describe(env *steps.Env) string {
	until, timeout := w.Until, w.Timeout
	if until == "" {
		until = "healthy"
	}
	if timeout == "" {
		timeout = "2m"
	}
	return fmt.Sprintf("wait until %s is %s (poll GET /containers/{id}/json), at most %s", w.describe(env), until, timeout)
}

// Run implements steps.Action.
func (w *Wait) Run(ctx context.Context, env *steps.Env) error {
	if err := w.Validate(); err != nil {
		return err
	}
	c, err := open(env, w.Target)
	if err != nil {
		return err
	}
	defer c.close()
	sel, err := w.Selector.expanded(env)
	if err != nil {
		return err
	}
	// Timeouts are real time, whatever clock the step's timing uses: the
	// engine's containers do not run on a fake clock.
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	last, lastReport := "", time.Time{}
	for {
		status, done, err := w.poll(ctx, env, c)
		if err != nil {
			if ctx.Err() == nil {
				return err
			}
			status = last // the request was cut by the deadline
		}
		if done {
			env.Printf("%s after %s", status, time.Since(start).Round(100*time.Millisecond))
			return nil
		}
		if status != last || time.Since(lastReport) >= 10*time.Second {
			env.Printf("waiting for %s to be %s: %s (%s of %s)", sel.label(), w.Until, status, time.Since(start).Round(time.Second), w.timeout)
			last, lastReport = status, time.Now()
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("wait for %s to be %s via %s: timed out after %s: found %s", sel.label(), w.Until, c.host, w.timeout, status)
			}
			return fmt.Errorf("wait for %s to be %s: %w", sel.label(), w.Until, ctx.Err())
		case <-tick.C:
		}
	}
}

// poll looks once. status says what was seen, one part per container.
func (w *Wait) poll(ctx context.Context, env *steps.Env, c *conn) (status string, done bool, err error) {
	boxes, _, err := c.selection(ctx, env, &w.Selector, w.Container != "")
	if err != nil {
		return err.Error(), false, err
	}
	if len(boxes) == 0 {
		return "no container yet", false, nil
	}
	done = true
	parts := make([]string, 0, len(boxes))
	for _, b := range boxes {
		in, err := c.inspect(ctx, b)
		if err != nil {
			return err.Error(), false, err
		}
		st, h := state(in), health(in)
		running := in.State != nil && in.State.Running && !in.State.Restarting
		switch {
		case w.Until == "healthy" && h == "none":
			return "", false, fmt.Errorf("container %s has no health check: wait until: running instead, or add a healthcheck to it", b)
		case in.State != nil && !in.State.Running && !in.State.Restarting && st != "created":
			return "", false, fmt.Errorf("container %s is %s while waiting for it to be %s (docker.logs shows why)", b, describeState(in), w.Until)
		}
		part := b.String() + " " + st
		if h != "none" {
			part += ", " + h
			if h == "unhealthy" {
				if lc := lastCheck(env, in); lc != "" {
					part += " (" + lc + ")"
				}
			}
		}
		parts = append(parts, part)
		if !running || (w.Until == "healthy" && h != "healthy") {
			done = false
		}
	}
	return strings.Join(parts, "; "), done, nil
}
