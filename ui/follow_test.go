package ui

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/runbook-dev/runbook/steps"
)

// followed is a run the lab fixture's session made (midRun), as a
// follower gets it: the journal's records folded one at a time.
type followed struct {
	f       *fixture
	records [][]byte
}

func followedLab(t *testing.T) followed {
	t.Helper()
	f, _ := midRun(t)
	data, err := os.ReadFile(steps.JournalPath(f.dir, f.rb.ID))
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if len(l) > 0 {
			recs = append(recs, l)
		}
	}
	return followed{f: f, records: recs}
}

// update folds records [from, to) into fold and says so as one update.
func (fl followed) update(t *testing.T, fold *steps.RunFold, from, to int) FollowUpdate {
	t.Helper()
	var u FollowUpdate
	for _, r := range fl.records[from:to] {
		ev, err := fold.Add(r)
		if err != nil {
			t.Fatal(err)
		}
		u.Events = append(u.Events, ev)
	}
	u.Run = fold.Snapshot()
	return u
}

func (fl followed) model(t *testing.T, upto int, acts FollowActions, ch <-chan FollowUpdate) (Model, *steps.RunFold) {
	t.Helper()
	fold := steps.NewRunFold("store run r1")
	start := fl.update(t, fold, 0, upto)
	start.Driver = &Driver{Operator: "ana", Host: "lab", PID: 4242, Epoch: 1, Age: 3 * time.Second, Read: fl.f.clock.Now()}
	m := New(Options{Clock: fl.f.clock, Operator: "bo", NoColor: true, NoBell: true, Follow: &Follow{
		ID: "r1", Runbook: fl.f.rb, Start: start, Updates: ch, Actions: acts,
	}})
	return m, fold
}

// Every key that would act on the run is refused, naming who drives; the
// run does not change and no question opens.
func TestFollowRefusesActingKeys(t *testing.T) {
	fl := followedLab(t)
	m, _ := fl.model(t, len(fl.records), FollowActions{}, nil)
	m = sized(t, m, 120, 40)
	if !m.Following() {
		t.Fatal("the model is not in follow mode")
	}
	before := m.run
	for _, k := range []string{"enter", "r", "v", "u", "s", "m", "space", "1", "x"} {
		m.status = ""
		m = press(t, m, k)
		if want := "follow mode: read-only — ana on lab drives"; m.status != want {
			t.Errorf("key %s: status %q, want %q", k, m.status, want)
		}
		if m.dlg != nil || m.busy != nil {
			t.Errorf("key %s opened a question or started work", k)
		}
		if m.run != before {
			t.Errorf("key %s changed the run", k)
		}
	}
	if !strings.Contains(m.View().Content, "follow mode: read-only — ana on lab drives") {
		t.Errorf("the refusal is not on screen:\n%s", m.View().Content)
	}
	// Navigation, views, help and quit work.
	sel := m.timeline.Selected()
	m = press(t, m, "down")
	if m.timeline.Selected() == sel {
		t.Error("down did not move the selection")
	}
	m = press(t, m, "?")
	if m.over != ovHelp {
		t.Error("? did not open help")
	}
	m = press(t, m, "esc")
	m = press(t, m, "f")
	if m.over != ovGuide {
		t.Error("f did not open the guide")
	}
	m = press(t, m, "esc")
	_, cmd := update(t, m, keyMsg("q"))
	if cmd == nil {
		t.Fatal("q did nothing")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q does not quit")
	}
}

// a asks for a reason and calls the approval the CLI supplied; n without
// a note call says notes are not available.
func TestFollowApproveAndNote(t *testing.T) {
	fl := followedLab(t)
	var gotStep, gotReason string
	m, _ := fl.model(t, len(fl.records), FollowActions{Approve: func(step, reason string) error {
		gotStep, gotReason = step, reason
		return nil
	}}, nil)
	m = sized(t, m, 120, 40)
	sel := m.timeline.Selected()
	m = press(t, m, "a")
	if m.dlg == nil || m.dlg.Tag != tagFollowApprove {
		t.Fatal("a did not ask for the approval's reason")
	}
	m = typeText(t, m, "looks right")
	m, cmd := update(t, m, keyMsg("enter"))
	if cmd == nil {
		t.Fatal("no approval call")
	}
	var acted tea.Msg
	for _, c := range flatten(cmd) {
		if msg, ok := c().(followActedMsg); ok {
			acted = msg
		}
	}
	if acted == nil || gotStep != sel || gotReason != "looks right" {
		t.Fatalf("approve called with %q %q (msg %v), want %q %q", gotStep, gotReason, acted, sel, "looks right")
	}
	m, _ = update(t, m, acted)
	if !strings.Contains(m.status, "recorded in the store") {
		t.Errorf("status after approval: %q", m.status)
	}
	m = press(t, m, "n")
	if m.dlg != nil || !strings.Contains(m.status, "not available") {
		t.Errorf("n without a note call: dialog %v, status %q", m.dlg != nil, m.status)
	}
}

func flatten(cmd tea.Cmd) []tea.Cmd {
	if cmd == nil {
		return nil
	}
	var out []tea.Cmd
	if b, ok := cmd().(tea.BatchMsg); ok {
		for _, c := range b {
			out = append(out, flatten(c)...)
		}
		return out
	}
	return []tea.Cmd{cmd}
}

// Each update moves the screen: the timeline's state, the event in the
// status line and the output pane; who drives and the heartbeat's age.
func TestFollowUpdatesShowEachEvent(t *testing.T) {
	fl := followedLab(t)
	m, fold := fl.model(t, 1, FollowActions{}, nil)
	m = sized(t, m, 120, 40)
	for i := 1; i < len(fl.records); i++ {
		u := fl.update(t, fold, i, i+1)
		var cmd tea.Cmd
		m, cmd = update(t, m, followUpdateMsg{u})
		m = settle(t, m, cmd)
		view := m.View().Content
		want := m.summary(u.Events[0])
		if !strings.Contains(view, want) {
			t.Fatalf("record %d (%s) not on screen as %q:\n%s", i+1, u.Events[0].Kind, want, view)
		}
	}
	want := fold.Snapshot()
	for id, s := range want.Steps {
		if got := m.run.Step(id).Status; got != s.Status {
			t.Errorf("step %s: follower has %s, driver %s", id, got, s.Status)
		}
	}
	if v := m.View().Content; !strings.Contains(v, "ana on lab (pid 4242) drives") || !strings.Contains(v, "heartbeat 3s ago") {
		t.Errorf("who drives is not on screen:\n%s", v)
	}
	// The heartbeat ages with the clock; past the limit the driver may be gone.
	fl.f.clock.Advance(40 * time.Second)
	m, _ = update(t, m, followTickMsg{now: fl.f.clock.Now()})
	if v := m.View().Content; !strings.Contains(v, "heartbeat 43s ago: the driver may be gone") {
		t.Errorf("a stale heartbeat is not shown:\n%s", v)
	}
	m, _ = update(t, m, followUpdateMsg{FollowUpdate{Driver: &Driver{Operator: "ana", Host: "lab", Released: true}}})
	if !strings.Contains(m.View().Content, "nobody drives (ana released it)") {
		t.Errorf("a released lease is not shown:\n%s", m.View().Content)
	}
}

func followGoldenModel(t *testing.T) Model {
	fl := followedLab(t)
	m, _ := fl.model(t, len(fl.records), FollowActions{}, nil)
	return m
}

func TestGoldenFollow120x40(t *testing.T) {
	golden(t, followGoldenModel(t), 120, 40, colorprofile.ANSI256, guideReady, nil)
}

func TestGoldenFollow80x24(t *testing.T) {
	golden(t, followGoldenModel(t), 80, 24, colorprofile.ANSI256, guideReady, nil)
}
