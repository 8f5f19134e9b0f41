package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/runbook-dev/runbook/runbooks"
)

// approvalJSON is a step's `approval:` in the plan.
type approvalJSON struct {
	Count          int  `json:"count"`
	ReasonRequired bool `json:"reason_required,omitempty"`
}

func (a *approvalJSON) String() string {
	who := "1 approver"
	if a.Count != 1 {
		who = fmt.Sprintf("%d approvers", a.Count)
	}
	reason := "reason optional"
	if a.ReasonRequired {
		reason = "reason required"
	}
	return fmt.Sprintf("approval: %s other than the driver (%s)", who, reason)
}

func planApproval(a *runbooks.Approval) *approvalJSON {
	if a == nil {
		return nil
	}
	return &approvalJSON{Count: a.Count, ReasonRequired: a.ReasonRequired}
}

// webhookJSON is one webhook of the runbook's notify: list, named by its
// host (or the variable holding its URL), never by its URL.
type webhookJSON struct {
	Host   string   `json:"host,omitempty"`
	Env    string   `json:"env,omitempty"`
	Events []string `json:"events,omitempty"`
}

func planWebhooks(ws []runbooks.Webhook) []webhookJSON {
	var out []webhookJSON
	for _, w := range ws {
		j := webhookJSON{Env: w.Env, Events: w.Events}
		if u, err := url.Parse(w.URL); err == nil && w.URL != "" {
			j.Host = u.Host
		}
		out = append(out, j)
	}
	return out
}

func printWebhooks(w io.Writer, ws []webhookJSON) {
	if len(ws) == 0 {
		return
	}
	fmt.Fprintf(w, "\nNotifications (webhooks; more with --notify URL):\n")
	for _, h := range ws {
		where := h.Host
		if h.Env != "" {
			where = "$" + h.Env
		}
		events := "every event"
		if len(h.Events) > 0 {
			events = strings.Join(h.Events, ", ")
		}
		fmt.Fprintf(w, "  %s: %s\n", where, events)
	}
}
