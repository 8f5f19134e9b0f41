package docker

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps"
)

type lifeOp int

const (
	opRestart lifeOp = iota
	opStop
	opStart
)

func (o lifeOp) String() string {
	switch o {
	case opStop:
		return "stop"
	case opStart:
		return "start"
	default:
		return "restart"
	}
}

// Lifecycle is the `docker.restart`, `docker.stop` and `docker.start`
// actions. Each is idempotent: stopping a stopped container or starting a
// running one changes nothing and says so. `docker.stop` is undone by
// `docker.start` and the other way round; a restart needs no undo.
//
//	do:
//	  - docker.restart:
//	      project: lab
//	      service: nginx
//	      timeout: 20s      # grace period before the engine kills it (stop, restart)
type Lifecycle struct {
	Selector `yaml:",inline"`
	Timeout  string `yaml:"timeout"`

	op      lifeOp
	timeout time.Duration
}

// Validate implements runbooks.Validator.
func (l *Lifecycle) Validate() error {
	if err := l.Selector.validate(); err != nil {
		return err
	}
	var err error
	if l.timeout, err = parseTimeout("timeout", l.Timeout, 0); err != nil {
		return err
	}
	if l.op == opStart && l.Timeout != "" {
		return fmt.Errorf("timeout is the grace period of a stop; docker.start has none")
	}
	return nil
}

// Describe implements steps.Action.
func (l *Lifecycle) Describe(env *steps.Env) string {
	s := fmt.Sprintf("%s %s (POST /containers/{id}/%s)", l.op, l.describe(env), l.op)
	if l.Timeout != "" {
		s += ", grace " + l.Timeout
	}
	return s
}

// Run implements steps.Action.
func (l *Lifecycle) Run(ctx context.Context, env *steps.Env) error {
	if err := l.Validate(); err != nil {
		return err
	}
	c, err := open(env, l.Target)
	if err != nil {
		return err
	}
	defer c.close()
	boxes, _, err := c.selection(ctx, env, &l.Selector, true)
	if err != nil {
		return err
	}
	var grace *int
	if l.timeout > 0 {
		s := int(math.Ceil(l.timeout.Seconds()))
		grace = &s
	}
	for _, b := range boxes {
		before, err := c.inspect(ctx, b)
		if err != nil {
			return err
		}
		running := before.State != nil && before.State.Running
		switch {
		case l.op == opStop && !running:
			env.Printf("%s: already %s, nothing to stop", b, describeState(before))
			continue
		case l.op == opStart && running:
			env.Printf("%s: already running, nothing to start", b)
			continue
		}
		switch l.op {
		case opRestart:
			_, err = c.api.ContainerRestart(ctx, b.ID, client.ContainerRestartOptions{Timeout: grace})
		case opStop:
			_, err = c.api.ContainerStop(ctx, b.ID, client.ContainerStopOptions{Timeout: grace})
		case opStart:
			_, err = c.api.ContainerStart(ctx, b.ID, client.ContainerStartOptions{})
		}
		if err != nil {
			return c.wrap(err, "%s container %s", l.op, b)
		}
		after, err := c.inspect(ctx, b)
		if err != nil {
			return err
		}
		env.Printf("%s: %s: was %s, now %s", b, l.op, describeState(before), describeState(after))
	}
	return nil
}
