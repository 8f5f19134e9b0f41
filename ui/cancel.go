package ui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/components/dialog"
)

// askCancel asks before cancelling the running step: its actions stop
// (processes killed, queries cancelled, waits ended), the journal records
// the cancel, and the step then offers retry, verify, undo or mark done.
func (m Model) askCancel() (tea.Model, tea.Cmd) {
	if m.busy == nil {
		m.setStatus(levelInfo, "No step is running: x cancels a running step.")
		return m, nil
	}
	return m.open(dialog.NewConfirm("Cancel "+m.busy.op.step+"?",
		fmt.Sprintf("%s is running (%s). Cancel stops its actions now and journals who cancelled; then retry, verify, undo or mark it done.", m.busy.op.step, m.busy.op.kind)), tagCancel, m.busy.op.step)
}

// cancelRunning asks the engine to cancel the step's actions. The call
// running them then ends with the cancel journaled (who, when).
func (m Model) cancelRunning(step string) (tea.Model, tea.Cmd) {
	if m.busy == nil || m.busy.op.step != step {
		m.setStatus(levelInfo, "%s is no longer running.", step)
		return m, nil
	}
	m.busy.canceled = true
	if m.busy.op.kind == opWaitAppr {
		// Nothing runs yet: stop waiting; the step stays pending.
		m.busy.cancel()
		m.setStatus(levelWarn, "Stopped waiting for the approval of %s.", step)
		return m, nil
	}
	m.setStatus(levelWarn, "Cancelling %s: waiting for the journal to record it.", step)
	sess, by := m.sess, m.operator()
	return m, func() tea.Msg { return cancelAskedMsg{step: step, err: sess.Cancel(step, by)} }
}

// cancelAskedMsg reports that the engine took (or refused) a cancel.
type cancelAskedMsg struct {
	step string
	err  error
}

func (m Model) cancelAsked(msg cancelAskedMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		if m.busy != nil && m.busy.op.step == msg.step {
			m.busy.canceled = false
		}
		m.setStatus(levelWarn, "Cancel %s: %s", msg.step, termsafe.Line(msg.err.Error()))
	}
	return m, nil
}

func (m Model) operator() string {
	if m.opt.Operator != "" {
		return m.opt.Operator
	}
	return "operator"
}

// opKeys are the keys of the operations a step may offer.
var opKeys = map[steps.Op]string{
	steps.OpStart: "r", steps.OpConfirm: "enter", steps.OpVerify: "v", steps.OpUndo: "u",
	steps.OpMarkDone: "m", steps.OpSkip: "s",
}

// nextOps says what the operator can do with a step now, from what the
// engine's table allows in its state, each with its key.
func (m Model) nextOps(id string) string {
	pi, si, ok := m.rb.StepRef(id)
	if !ok {
		return ""
	}
	s := m.rb.Phases[pi].Steps[si]
	st := m.run.Step(id)
	// u is offered without undo actions too: the step is then only
	// recorded as undone (the dialog says so).
	ops := steps.Choices(st, len(s.Verify) > 0, true)
	if len(ops) == 0 {
		if st.Status.Busy() {
			return "x cancels it."
		}
		return "nothing more to do with it."
	}
	words := make([]string, len(ops))
	for i, o := range ops {
		words[i] = opKeys[o] + " " + o.Word(st.Status)
	}
	if len(words) == 1 {
		return words[0] + "."
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1] + "."
}

// failure is a failed op's error, safe for the screen, followed by what
// the operator can do next.
func (m Model) failure(id string, err error) string {
	msg := strings.TrimRight(termsafe.Line(err.Error()), ".")
	return msg + ". Next: " + m.nextOps(id)
}
