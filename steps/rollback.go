package steps

import (
	"fmt"
	"sort"

	"github.com/runbook-dev/runbook/runbooks"
)

// RollbackOrder lists the steps a rollback to `to` undoes, latest first:
// every step that did work (succeeded, failed, dirty or awaiting the
// operator), in the reverse of the journal's order. `to` is "start", a step
// id (that step and everything done after it are undone) or a phase id
// (the phase's first done step and everything after it).
func (s *Session) RollbackOrder(to string) ([]string, error) {
	return RollbackOrder(s.opt.Runbook, s.Snapshot(), to)
}

// RollbackOrder is Session.RollbackOrder for a run read from a journal
// (a dry run takes no lock and writes nothing).
func RollbackOrder(rb *runbooks.Runbook, run *Run, to string) ([]string, error) {
	type done struct {
		id  string
		seq uint64
	}
	var list []done
	for _, st := range rb.Steps() {
		ss := run.Step(st.ID)
		switch ss.Status {
		case Succeeded, Failed, Dirty, AwaitingOperator:
			list = append(list, done{st.ID, ss.Seq})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq > list[j].seq })
	var from uint64 // undo every step whose seq is at least this
	switch {
	case to == "start" || to == "":
	default:
		ids := []string{to}
		if _, _, ok := rb.StepRef(to); !ok {
			ids = nil
			for _, p := range rb.Phases {
				if p.ID == to {
					for _, st := range p.Steps {
						ids = append(ids, st.ID)
					}
				}
			}
			if ids == nil {
				return nil, fmt.Errorf("rollback --to %q: no step or phase of that id in %s (or use start)", to, rb.ID)
			}
		}
		from = ^uint64(0)
		for _, d := range list {
			for _, id := range ids {
				if d.id == id && d.seq < from {
					from = d.seq
				}
			}
		}
		if from == ^uint64(0) {
			return nil, fmt.Errorf("rollback --to %s: it has not been done, so there is nothing to roll back to", to)
		}
	}
	var out []string
	for _, d := range list {
		if d.seq >= from {
			out = append(out, d.id)
		}
	}
	return out, nil
}
