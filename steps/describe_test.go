package steps

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbooks"
)

// Every front end shows an action's description masked: a known secret
// never reaches the plan or the screen through it.
func TestDescribeActionIsRedacted(t *testing.T) {
	secret := "s3cret-Value-42"
	env := &Env{Redact: NewRedactor(secret)}
	a := runbooks.Action{Type: "manual", Params: &Manual{Prompt: "log in with " + secret}}
	got := DescribeAction(a, env)
	if strings.Contains(got, secret) || !strings.HasPrefix(got, "operator: log in with ") {
		t.Fatalf("DescribeAction = %q: want the prompt with the secret masked", got)
	}
	if got := DescribeAction(runbooks.Action{Type: "custom.kind"}, env); got != "custom.kind" {
		t.Fatalf("parameters that are no action: %q, want the type", got)
	}
}
