package steps

import (
	"fmt"
	"strings"

	"github.com/runbook-dev/runbook/runbooks"
)

// Targets are resolved target values by name.
type Targets map[string]string

// TargetSource says where a target's value came from (for status output).
type TargetSource struct {
	Name, From string
	Set        bool
}

// ResolveTargets gives every target of the runbook its value: an explicit
// value (flag or profile) first, then the target's environment variable, then
// its default. Secret values are taught to the redactor. Targets without a
// value are left out; actions that need them fail naming the target.
func ResolveTargets(rb *runbooks.Runbook, explicit map[string]string, getenv func(string) string, red *Redactor) (Targets, []TargetSource, error) {
	out := Targets{}
	var src []TargetSource
	for name := range explicit {
		if _, ok := rb.Target(name); !ok {
			names := make([]string, 0, len(rb.Targets))
			for _, t := range rb.Targets {
				names = append(names, t.Name)
			}
			return nil, nil, fmt.Errorf("unknown target %q (this runbook has: %s)", name, strings.Join(names, ", "))
		}
	}
	for _, t := range rb.Targets {
		v, from := explicit[t.Name], "flag"
		if v == "" && t.Env != "" && getenv != nil {
			v, from = getenv(t.Env), "$"+t.Env
		}
		if v == "" && t.Default != "" {
			v, from = t.Default, "default"
		}
		if v == "" {
			src = append(src, TargetSource{Name: t.Name, From: "unset"})
			continue
		}
		out[t.Name] = v
		if t.Secret {
			red.Add(v)
		}
		src = append(src, TargetSource{Name: t.Name, From: from, Set: true})
	}
	return out, src, nil
}
