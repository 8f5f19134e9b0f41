package steps

import "github.com/runbook-dev/runbook/runbooks"

// DescribeAction says in words what an action will do against env's
// targets (Action.Describe does no I/O), masked by env's redactor: the
// one description the plan, the UI and reports show. Parameters that are
// not a runnable action show their type.
func DescribeAction(a runbooks.Action, env *Env) string {
	d := a.Type
	if act, ok := a.Params.(Action); ok {
		d = act.Describe(env)
	}
	if env != nil {
		d = env.Redact.String(d)
	}
	return d
}
