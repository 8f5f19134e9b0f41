package docker

import (
	"context"
	"fmt"

	"github.com/runbook-dev/runbook/steps"
)

// Find is the `docker.find` action: it lists the containers a selection
// matches, with image, state and health, and checks how many there are.
//
//	verify:
//	  - docker.find:
//	      project: lab
//	      service: app
//	      count: 1          # exactly one; leave out for "at least one"
type Find struct {
	Selector `yaml:",inline"`
	// Count is the exact number of containers expected (0 proves a
	// container is gone). Without it, at least one must match.
	Count *int `yaml:"count"`
}

// Validate implements runbooks.Validator.
func (f *Find) Validate() error {
	if err := f.Selector.validate(); err != nil {
		return err
	}
	if f.Count != nil && *f.Count < 0 {
		return fmt.Errorf("count %d is negative", *f.Count)
	}
	return nil
}

// Describe implements steps.Action.
func (f *Find) Describe(env *steps.Env) string {
	call := " (GET /containers/json, by compose labels)"
	if f.Container != "" {
		call = " (GET /containers/{name}/json)"
	}
	s := "find " + f.describe(env) + call
	if f.Count != nil {
		s += fmt.Sprintf(", expect %d", *f.Count)
	}
	return s
}

// Run implements steps.Action.
func (f *Find) Run(ctx context.Context, env *steps.Env) error {
	if err := f.Validate(); err != nil {
		return err
	}
	c, err := open(env, f.Target)
	if err != nil {
		return err
	}
	defer c.close()
	boxes, sel, err := c.selection(ctx, env, &f.Selector, f.Count == nil)
	if err != nil {
		return err
	}
	for _, b := range boxes {
		in, err := c.inspect(ctx, b)
		if err != nil {
			return err
		}
		image := ""
		if in.Config != nil {
			image = in.Config.Image
		}
		env.Printf("%s: image %s, %s, health %s", b, image, state(in), health(in))
	}
	if f.Count != nil && len(boxes) != *f.Count {
		return fmt.Errorf("find %s on %s: expected %d container(s), found %d", sel.label(), c.host, *f.Count, len(boxes))
	}
	if f.Count != nil && len(boxes) == 0 {
		env.Printf("no container of %s, as expected", sel.label())
	}
	return nil
}

// label names the selection in messages.
func (s Selector) label() string {
	if s.Container != "" {
		return "container " + s.Container
	}
	return s.describeLabels()
}
