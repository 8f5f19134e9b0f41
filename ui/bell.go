package ui

import (
	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/steps"
)

// bellState remembers what has already rung, so each event rings once:
// a step failing, a step going over its budget, the point of no return
// coming near.
type bellState struct {
	failed   map[string]int // step → failures seen (a retry can fail again)
	over     map[string]bool
	noReturn bool
}

// newBellState takes what is already so at start-up as heard: resuming a
// run whose step failed yesterday does not ring.
func newBellState(t steps.Timing) bellState {
	b := bellState{failed: map[string]int{}, over: map[string]bool{}}
	b.changes(t)
	return b
}

// changes records the timing and reports whether something new happened.
func (b *bellState) changes(t steps.Timing) bool {
	rang := false
	for _, ph := range t.Phases {
		for _, s := range ph.Steps {
			if s.Status == steps.Failed {
				if b.failed[s.ID] == 0 {
					rang = true
				}
				b.failed[s.ID] = 1
			} else {
				delete(b.failed, s.ID)
			}
			if s.Over && !b.over[s.ID] {
				b.over[s.ID] = true
				rang = true
			}
		}
	}
	if t.NoReturn && !b.noReturn {
		rang = true
	}
	b.noReturn = t.NoReturn
	return rang
}

// bellSeq is BEL: the terminal beeps or flashes, as the operator set it.
const bellSeq = "\a"

// ring rings the bell when the run's timing shows something new to hear.
func (m *Model) ring() tea.Cmd {
	if !m.bell.changes(m.timing) || m.opt.NoBell {
		return nil
	}
	return tea.Raw(bellSeq)
}
