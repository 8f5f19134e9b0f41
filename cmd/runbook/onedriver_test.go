package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/steps/gitcp"
	"github.com/runbook-dev/runbook/ui"
)

// oneDriverRunbook has what a rehearsal decides on: a step left dirty by a
// dead process, a manual step and a shell step that needs approval (the
// rehearsal's own, without a store).
const oneDriverRunbook = `
id: one-driver
title: One driver
schedule: {date: "2025-10-24", timezone: UTC, start: "08:00"}
phases:
  - id: p1
    title: One
    slot: "08:00-09:00"
    steps:
      - id: check
        title: Left dirty
        budget: 5m
        guide: g.md#g
        do:
          - shell: {argv: ["true"]}
        verify:
          - name: it is fine
            shell: {argv: ["true"]}
      - id: manual
        title: By hand
        budget: 5m
        guide: g.md#g
        do:
          - manual: {prompt: Do it by hand.}
      - id: echo
        title: A shell step
        budget: 5m
        guide: g.md#g
        approval: true
        do:
          - shell: {argv: [sh, -c, "echo hello"]}
`

// seedDirty writes the journal a process leaves when it dies inside step
// check of a rehearsal.
func seedDirty(t *testing.T, state string, rb *runbooks.Runbook) {
	t.Helper()
	if err := os.MkdirAll(steps.RunDir(state, rb.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	j, _, _, err := steps.OpenJournal(steps.JournalPath(state, rb.ID), nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)
	for _, ev := range []steps.Event{
		{Kind: steps.EvRunStarted, At: at, Runbook: rb.ID, Digest: rb.Digest, Actor: "ana", Host: "h", PID: 1, Rehearsal: true, Date: rb.Schedule.Date},
		{Kind: steps.EvStepStarted, At: at, Step: "check", Attempt: 1, Actor: "ana"},
	} {
		if _, err := j.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
}

// decisions is a journal as the decisions made it: times, process ids and
// commit hashes (which differ from run to run) left out.
func decisions(t *testing.T, path string) []string {
	t.Helper()
	evs, torn, err := steps.ReadJournal(path)
	if err != nil || torn != nil {
		t.Fatalf("read %s: %v %v", path, err, torn)
	}
	var out []string
	for _, ev := range evs {
		ev.At, ev.PID, ev.Seq = time.Time{}, 0, 0
		if ev.Commit != "" {
			ev.Commit = "<commit>"
		}
		out = append(out, fmt.Sprintf("%+v", ev))
	}
	return out
}

// TestUIAndHeadlessJournalTheSameDecisions drives one rehearsal through
// the headless runner (the real binary) and the same rehearsal through the
// terminal UI (a real Bubble Tea program, keys sent), from the same dirty
// start, and compares the two journals record by record, actors included.
func TestUIAndHeadlessJournalTheSameDecisions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "one.yaml")
	if err := os.WriteFile(file, []byte(oneDriverRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "g.md"), []byte("# G\n\nA guide.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rb, err := loadFile(file, "", actions.Registry())
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()

	// Headless: the standing choice for the dirty step is verify.
	headState := filepath.Join(dir, "headless")
	seedDirty(t, headState, rb)
	r := runbook(t, nil, "run", "--headless", "--rehearsal", "--on-dirty=verify", "-f", file, "--state", headState,
		"--operator", "ana", "--date", rb.Schedule.Date)
	if r.code != 0 {
		t.Fatalf("headless: exit %d\n%s%s", r.code, r.out, r.err)
	}

	// UI: the operator presses enter on the dirty step and chooses verify,
	// then enter on each next step.
	uiState := filepath.Join(dir, "ui")
	seedDirty(t, uiState, rb)
	cp, err := gitcp.InitPrivate(filepath.Join(steps.RunDir(uiState, rb.ID), "checkpoints"), gitcp.WithRunbook(rb.ID), gitcp.WithStateDir(uiState))
	if err != nil {
		t.Fatal(err)
	}
	out := ui.NewOutput(0)
	sess, err := steps.Open(steps.Options{Runbook: rb, StateDir: uiState, Workspace: dir, Operator: "ana", Host: host,
		Rehearsal: true, Checkpointer: cp, Output: out.Send})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var finished atomic.Int32 // operations the model has taken in
	count := func(_ tea.Model, msg tea.Msg) tea.Msg {
		if fmt.Sprintf("%T", msg) == "ui.opDoneMsg" {
			finished.Add(1)
		}
		return msg
	}
	tm := teatest.NewTestModel(t, ui.New(ui.Options{Session: sess, Operator: "ana", Output: out, NoColor: true}),
		teatest.WithInitialTermSize(120, 40), teatest.WithProgramOptions(tea.WithFilter(count)))
	enter := tea.KeyPressMsg{Code: tea.KeyEnter}
	tm.Send(enter)
	tm.Send(tea.KeyPressMsg{Code: 'v', Text: "v"})
	waitFor(t, "the UI to take in the verify", func() bool { return finished.Load() >= 1 })
	tm.Send(enter) // runs the manual step; the rehearsal confirms it
	waitFor(t, "the UI to take in the start and the confirm", func() bool { return finished.Load() >= 3 })
	tm.Send(enter) // the rehearsal approves the step, then it runs
	waitFor(t, "the run to finish", func() bool { return sess.Snapshot().Finished })
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	tm.FinalModel(t, teatest.WithFinalTimeout(15*time.Second))
	out.Close()

	head := decisions(t, steps.JournalPath(headState, rb.ID))
	tui := decisions(t, steps.JournalPath(uiState, rb.ID))
	if !reflect.DeepEqual(head, tui) {
		n := max(len(head), len(tui))
		for i := range n {
			var h, u string
			if i < len(head) {
				h = head[i]
			}
			if i < len(tui) {
				u = tui[i]
			}
			if h != u {
				t.Errorf("record %d:\nheadless %s\n      ui %s", i+1, h, u)
			}
		}
	}
	if len(head) < 12 {
		t.Fatalf("only %d records: the run did not happen\n%s", len(head), r.out)
	}
}
