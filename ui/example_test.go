package ui_test

import (
	"os"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui"
)

// How the CLI wires the TUI: the session's output goes through an Output
// sink, signals go through Filter so a running step is journaled before the
// program ends, and the sink is closed after the program returns.
func Example() {
	var rb *runbooks.Runbook // loaded by the CLI
	out := ui.NewOutput(0)
	sess, err := steps.Open(steps.Options{Runbook: rb, StateDir: ".runbook", Operator: "ana", Output: out.Send})
	if err != nil {
		return
	}
	defer sess.Close()
	p := tea.NewProgram(ui.New(ui.Options{
		Session: sess, Operator: "ana", Output: out,
		NoColor: os.Getenv("NO_COLOR") != "",
	}), tea.WithFilter(ui.Filter))
	_, err = p.Run()
	out.Close()
	_ = err
}
