package web

import (
	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// What the web actions tell the loader (see steps.TargetUser,
// steps.Expander). An action with no url talks to a url target, "app_url"
// when it names none; that target must exist, as the check has nowhere
// else to go.

var urlKind = []runbooks.TargetKind{runbooks.TargetURL}

// uses is the target an endpoint acts on, key being where it is named.
func (e Endpoint) uses(prefix string) []steps.TargetUse {
	switch {
	case e.URL != "":
		return nil
	case e.Target == "":
		return []steps.TargetUse{{Name: DefaultTarget, Kinds: urlKind}}
	}
	return []steps.TargetUse{{Key: prefix + "target", Name: e.Target, Kinds: urlKind}}
}

// TargetUses implements steps.TargetUser.
func (c *HTTPCheck) TargetUses() []steps.TargetUse { return c.Endpoint.uses("") }

// ExpandedKeys implements steps.Expander.
func (*HTTPCheck) ExpandedKeys() []string {
	return []string{"url", "body", "header", "redirect", "redirect_prefix", "headers_equal"}
}

// TargetUses implements steps.TargetUser.
func (c *RateLimitCheck) TargetUses() []steps.TargetUse { return c.Endpoint.uses("") }

// ExpandedKeys implements steps.Expander.
func (*RateLimitCheck) ExpandedKeys() []string { return []string{"url", "body", "header"} }

// TargetUses implements steps.TargetUser: the endpoint and the baseline.
func (p *LatencyProbe) TargetUses() []steps.TargetUse {
	out := p.Endpoint.uses("")
	if p.Baseline != nil {
		out = append(out, p.Baseline.uses("baseline.")...)
	}
	return out
}

// ExpandedKeys implements steps.Expander.
func (*LatencyProbe) ExpandedKeys() []string { return []string{"url", "baseline.url"} }

// TargetUses implements steps.TargetUser.
func (c *TLSCheck) TargetUses() []steps.TargetUse {
	if c.Address != "" {
		return nil
	}
	return Endpoint{Target: c.Target, URL: c.URL}.uses("")
}

// ExpandedKeys implements steps.Expander.
func (*TLSCheck) ExpandedKeys() []string { return []string{"url", "address"} }
