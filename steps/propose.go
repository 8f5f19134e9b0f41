package steps

import (
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// Proposal is a budget for one step proposed from what it took in a run
// (e.g. a rehearsal's).
type Proposal struct {
	Step string
	// Actual is the step's work time in that run; zero with HasActual
	// false when the run says nothing about it.
	Actual    time.Duration
	HasActual bool
	// Budget is the proposed budget (the current one when kept).
	Budget time.Duration
	// Kept says why the current budget stays ("" when a new one is
	// proposed).
	Kept string
}

// proposalStep is the smallest budget proposed and the unit budgets are
// rounded up to.
const proposalStep = 5 * time.Minute

// ProposeBudgets proposes a budget for every step of rb from a run: the
// actual time with a quarter added for the unexpected, rounded up to five
// minutes. Steps whose time says nothing (not succeeded in that run, or
// manual steps confirmed without a person in a rehearsal) keep their
// budget, and the proposal says why. Pure.
func ProposeBudgets(rb *runbooks.Runbook, run *Run) []Proposal {
	var out []Proposal
	for _, s := range rb.Steps() {
		p := Proposal{Step: s.ID, Budget: s.Budget}
		st := run.Step(s.ID)
		switch {
		case st.Status != Succeeded:
			p.Kept = "keep: " + st.Status.String() + " in that run"
		default:
			p.Actual, p.HasActual = st.Elapsed(run.LastAt).Truncate(time.Second), true
			if run.Rehearsal && s.Manual() {
				p.Kept = "keep: manual, auto-confirmed in a rehearsal"
				break
			}
			b := (p.Actual*5/4 + proposalStep - 1) / proposalStep * proposalStep
			if b == 0 {
				b = proposalStep
			}
			p.Budget = b
		}
		out = append(out, p)
	}
	return out
}
