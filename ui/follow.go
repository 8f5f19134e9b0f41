package ui

// Follow mode: the same screen over a run another operator drives,
// read-only (runbook follow). The run comes as folded snapshots and the
// events behind them, sent by the CLI from the shared store; the UI only
// draws them. Every key that would act on the run is refused with who
// drives; navigation, the guide, the output views, help and quit work.
// Two follower actions (approve a step, add a note) are calls the CLI
// supplies.

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/common"
	"github.com/runbook-dev/runbook/ui/components/dialog"
	"github.com/runbook-dev/runbook/ui/components/guide"
	"github.com/runbook-dev/runbook/ui/components/logpane"
	"github.com/runbook-dev/runbook/ui/keymap"
)

// Follow is a run someone else drives, shown read-only. Options.Session
// stays nil.
type Follow struct {
	// ID names the run (the store's run id).
	ID      string
	Runbook *runbooks.Runbook
	// Start is the state when the program opens (the store's records so
	// far, folded), with who drives.
	Start FollowUpdate
	// Updates brings every later change, in order; closed when following
	// ends. Read only in a tea.Cmd.
	Updates <-chan FollowUpdate
	// Actions are what a follower may do; a nil func is not available.
	Actions FollowActions
	// Env describes a step's actions with this machine's target values
	// (nil: actions are named by type only).
	Env func(step string) *steps.Env
	// StaleAfter is the heartbeat age after which the driver is shown as
	// possibly gone (0: 30s).
	StaleAfter time.Duration
}

// FollowActions are the follower's own calls, supplied by the CLI. They
// run in a tea.Cmd; their error is shown as it is.
type FollowActions struct {
	// Approve records the follower's approval of step, with a reason.
	Approve func(step, reason string) error
	// Note adds a follower's note on step to the run's journal.
	Note func(step, text string) error
}

// FollowUpdate is one change of the followed run.
type FollowUpdate struct {
	// Run is the fold after Events (nil: unchanged). The UI keeps it: the
	// sender must not change it afterwards.
	Run *steps.Run
	// Events are the records folded since the last update, in order.
	Events []steps.Event
	// Driver, when not nil, is the lease as just read.
	Driver *Driver
	// Notice is something to say (the store connection lost, regained).
	Notice string
	// Err ends following (the store refused, a record did not fold).
	Err error
}

// Driver is who holds the run's lease.
type Driver struct {
	Operator, Host string
	PID            int
	Since          time.Time
	Epoch          int64
	Released       bool
	// Age is how old the heartbeat was when read, by the store's clock;
	// Read is when it was read, by this machine's clock.
	Age  time.Duration
	Read time.Time
}

// followState is the follow mode's part of the model.
type followState struct {
	src     Follow
	driver  *Driver
	records uint64
	err     error
	stale   time.Duration
}

// Dialog tags of follow mode.
const (
	tagFollowApprove = 100 + iota
	tagFollowNote
)

// followUpdateMsg carries one update; followEndMsg says Updates closed.
type (
	followUpdateMsg struct{ u FollowUpdate }
	followEndMsg    struct{}
	followTickMsg   struct{ now time.Time }
	followActedMsg  struct {
		what, step string
		err        error
	}
)

// newFollowModel builds the model for a followed run.
func newFollowModel(opt Options) Model {
	f := opt.Follow
	if opt.Clock == nil {
		opt.Clock = steps.SystemClock{}
	}
	m := newModel(opt, nil, f.Runbook)
	m.follow = &followState{src: *f, stale: f.StaleAfter}
	if m.follow.stale <= 0 {
		m.follow.stale = 30 * time.Second
	}
	run := f.Start.Run
	if run == nil {
		run = steps.NewRun()
	}
	m.setRun(run, opt.Clock.Now())
	m.followEvents(f.Start.Events)
	if f.Start.Driver != nil {
		m.follow.driver = f.Start.Driver
	}
	if m.timing.Current != "" {
		m.timeline.Select(m.timing.Current)
	}
	m.setStatus(levelInfo, "Following run %s read-only: the screen moves with the driver's journal. a approves the selected step, n adds a note, q quits.", termsafe.Line(f.ID))
	if f.Start.Err != nil {
		m.follow.err = f.Start.Err
	}
	m.guide.Follow(m.timeline.Selected())
	m.showSelected()
	return m
}

// Following reports whether the model shows a run read-only.
func (m Model) Following() bool { return m.follow != nil }

func (m Model) followInit() tea.Cmd {
	cmds := []tea.Cmd{tea.RequestBackgroundColor, followTickCmd(m.clock), waitFollow(m.follow.src.Updates)}
	if s, ok := m.selectedStep(); ok {
		cmds = append(cmds, m.guide.Need(m.rb.Guides, s.Guide, m.theme.Glamour()))
		m.describing[s.ID] = true
		cmds = append(cmds, m.describeStep(s))
	}
	return tea.Batch(cmds...)
}

// waitFollow waits for the next update.
func waitFollow(ch <-chan FollowUpdate) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		u, ok := <-ch
		if !ok {
			return followEndMsg{}
		}
		return followUpdateMsg{u}
	}
}

func followTickCmd(clock steps.Clock) tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return followTickMsg{now: clock.Now()} })
}

// describeStep describes a step's actions: with the session's targets when
// driving, with the follower's Env when following.
func (m Model) describeStep(s runbooks.Step) tea.Cmd {
	if m.sess != nil {
		return describeCmd(m.sess, s)
	}
	var env *steps.Env
	if m.follow != nil && m.follow.src.Env != nil {
		env = m.follow.src.Env(s.ID)
	}
	if env == nil {
		env = &steps.Env{Redact: steps.NewRedactor(), Targets: steps.Targets{}, Step: s.ID}
	}
	return func() tea.Msg { return describedMsg{step: s.ID, d: guide.Describe(s, env)} }
}

// followUpdate handles follow mode's own messages; ok is false for the
// messages the rest of Update handles as usual.
func (m Model) followUpdate(msg tea.Msg) (tea.Model, tea.Cmd, bool) {
	switch msg := msg.(type) {
	case followUpdateMsg:
		mm, cmd := m.followApply(msg.u)
		return mm, tea.Batch(cmd, waitFollow(m.follow.src.Updates)), true
	case followEndMsg:
		if m.follow.err == nil {
			m.follow.err = fmt.Errorf("the store's feed ended")
		}
		m.gen++
		return m, nil, true
	case followTickMsg:
		m.setRun(m.run, msg.now)
		return m, followTickCmd(m.clock), true
	case followActedMsg:
		if msg.err != nil {
			m.setStatus(levelBad, "%s %s: %s", msg.what, msg.step, termsafe.Line(msg.err.Error()))
		} else {
			m.setStatus(levelOK, "%s %s: recorded in the store.", msg.what, msg.step)
		}
		return m, nil, true
	}
	return m, nil, false
}

// followApply takes one update in: the new fold, its events in the
// output pane and the status line, who drives.
func (m Model) followApply(u FollowUpdate) (tea.Model, tea.Cmd) {
	f := m.follow
	if u.Driver != nil {
		f.driver = u.Driver // the banner is drawn every frame: no cache to renew
	}
	if u.Err != nil {
		f.err = u.Err
		m.setStatus(levelBad, "Following stopped: %s", termsafe.Line(u.Err.Error()))
		m.gen++
	}
	if u.Notice != "" {
		m.setStatus(levelWarn, "Store: %s", termsafe.Line(u.Notice))
	}
	var cmd tea.Cmd
	if u.Run != nil {
		onCurrent := m.timeline.Selected() == m.timing.Current || m.timing.Current == ""
		m.setRun(u.Run, m.clock.Now())
		if onCurrent && m.timing.Current != "" && m.timeline.Selected() != m.timing.Current {
			m.timeline.Select(m.timing.Current)
			cmd = m.needSelected()
		}
	}
	if len(u.Events) > 0 {
		m.followEvents(u.Events)
		last := u.Events[len(u.Events)-1]
		lvl := levelInfo
		switch last.Kind {
		case steps.EvStepFailed, steps.EvUndoFailed, steps.EvStepDirty:
			lvl = levelBad
		case steps.EvStepSucceeded, steps.EvRunFinished, steps.EvUndoFinished:
			lvl = levelOK
		}
		m.setStatus(lvl, "%s", m.summary(last))
	}
	return m, cmd
}

// followEvents puts each event's summary in the output pane, under its
// step (run-level events under the selected one).
func (m *Model) followEvents(evs []steps.Event) {
	if len(evs) == 0 {
		return
	}
	lines := make([]logpane.Line, 0, len(evs))
	for _, ev := range evs {
		step := ev.Step
		if step == "" {
			step = m.timeline.Selected()
		}
		lines = append(lines, logpane.Line{Step: step, Text: m.summary(ev)})
		m.follow.records = max(m.follow.records, ev.Seq)
	}
	m.out.Append(lines, 0)
}

// summary is one event in words: what the journal holds of it.
func (m Model) summary(ev steps.Event) string {
	at := ev.At.In(m.location()).Format("15:04:05")
	s, by := ev.Step, ""
	if ev.Actor != "" {
		by = " by " + ev.Actor
	}
	var what string
	switch ev.Kind {
	case steps.EvRunStarted:
		what = "run started" + by + " on " + ev.Host
	case steps.EvRunResumed:
		what = "run resumed" + by + " on " + ev.Host
	case steps.EvRunFinished:
		what = "run finished"
	case steps.EvStepStarted:
		what = fmt.Sprintf("%s started (attempt %d)", s, ev.Attempt)
	case steps.EvStepVerifying:
		what = s + " verifying"
	case steps.EvStepAwaiting:
		what = s + " waits for the operator"
	case steps.EvStepConfirmed:
		what = s + " confirmed" + by + reason(ev.Reason)
	case steps.EvStepSucceeded:
		what = s + " succeeded"
	case steps.EvStepFailed:
		what = s + " failed: " + firstOf(ev.Err)
	case steps.EvStepMarkedDone:
		what = s + " marked done" + by + reason(ev.Reason)
	case steps.EvStepSkipped:
		what = s + " skipped" + by + reason(ev.Reason)
	case steps.EvStepDirty:
		what = s + " dirty: in flight when its session ended"
	case steps.EvUndoStarted:
		what = s + " undo started"
	case steps.EvUndoFinished:
		what = s + " undone"
	case steps.EvUndoFailed:
		what = s + " undo failed: " + firstOf(ev.Err)
	case steps.EvNote:
		what = "note on " + s + by + ": " + firstOf(ev.Note)
	case steps.EvChecklistTick:
		what = fmt.Sprintf("%s checklist item %d %s", s, ev.Item+1, map[bool]string{true: "ticked", false: "unticked"}[ev.Checked])
	case steps.EvCheckpoint:
		c := ev.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		what = s + " checkpoint " + c
	case steps.EvStepCancelled:
		what = s + " cancelled" + by
	default:
		what = ev.Kind.String() + " " + s
	}
	return termsafe.Line(fmt.Sprintf("#%d %s %s", ev.Seq, at, what))
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return ": " + firstOf(r)
}

func firstOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// followKey is the main screen's key in follow mode: navigation, views,
// help and quit as usual, a and n for the follower's own actions, and a
// refusal for everything that would act on the run.
func (m Model) followKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	if msg.String() == "a" {
		return m.askApprove()
	}
	in := m.keys.Resolve(msg)
	switch in.Action {
	case keymap.None:
		return m, nil
	case keymap.Up, keymap.Down, keymap.PageUp, keymap.PageDown, keymap.Top, keymap.Bottom,
		keymap.NextPane, keymap.PrevPane, keymap.GuideFull, keymap.OutputFull, keymap.Help,
		keymap.Filter, keymap.Back, keymap.Quit:
		return m.act(in)
	case keymap.Note:
		return m.askFollowNote()
	}
	m.setStatus(levelWarn, "%s", m.readOnly())
	return m, nil
}

// readOnly is the refusal: who drives instead.
func (m Model) readOnly() string {
	d := m.follow.driver
	switch {
	case d == nil:
		return "follow mode: read-only — nobody drives this run yet"
	case d.Released:
		return "follow mode: read-only — nobody drives this run now (" + termsafe.Line(d.Operator) + " released it)"
	}
	return "follow mode: read-only — " + termsafe.Line(d.Operator) + " on " + termsafe.Line(d.Host) + " drives"
}

func (m Model) askApprove() (tea.Model, tea.Cmd) {
	s, ok := m.selectedStep()
	if !ok {
		return m, nil
	}
	if m.follow.src.Actions.Approve == nil {
		m.setStatus(levelWarn, "Approvals are not available here.")
		return m, nil
	}
	d, cmd := dialog.NewInput("Approve "+s.Title, "Your approval of "+s.ID+" is recorded with your name, host and reason.", "reason", false)
	mm, c := m.open(d, tagFollowApprove, s.ID)
	return mm, tea.Batch(cmd, c)
}

func (m Model) askFollowNote() (tea.Model, tea.Cmd) {
	s, ok := m.selectedStep()
	if !ok {
		return m, nil
	}
	if m.follow.src.Actions.Note == nil {
		m.setStatus(levelWarn, "Notes from followers are not available yet: ask the driver to add it.")
		return m, nil
	}
	d, cmd := dialog.NewInput("Note on "+s.Title, "", "what happened, what you saw", true)
	mm, c := m.open(d, tagFollowNote, s.ID)
	return mm, tea.Batch(cmd, c)
}

// followAnswer runs the follower's action a dialog asked for.
func (m *Model) followAnswer(d dialog.Model, res dialog.Result) tea.Cmd {
	acts := m.follow.src.Actions
	step, text := d.Step, res.Value
	switch d.Tag {
	case tagFollowApprove:
		m.setStatus(levelInfo, "Approving %s…", step)
		return func() tea.Msg { return followActedMsg{what: "Approve", step: step, err: acts.Approve(step, text)} }
	case tagFollowNote:
		m.setStatus(levelInfo, "Adding a note to %s…", step)
		return func() tea.Msg { return followActedMsg{what: "Note on", step: step, err: acts.Note(step, text)} }
	}
	return nil
}

// followBanner is the line under the header: whose run this is and
// whether its driver is alive. What does not fit gives way: the pid, the
// record count, then the run id.
func (m Model) followBanner() string {
	f := m.follow
	st := m.st
	style := st.Accent
	var who, hb, pid string
	d := f.driver
	switch {
	case d == nil:
		who = "nobody drives yet"
	case d.Released:
		who = "nobody drives (" + termsafe.Line(d.Operator) + " released it)"
	default:
		age := d.Age
		if !d.Read.IsZero() {
			age += max(m.timing.Now.Sub(d.Read), 0)
		}
		age = age.Truncate(time.Second)
		if d.PID != 0 {
			pid = fmt.Sprintf(" (pid %d)", d.PID)
		}
		who = termsafe.Line(d.Operator) + " on " + termsafe.Line(d.Host) + "%s drives"
		hb = "heartbeat " + common.Dur(age) + " ago"
		if age >= f.stale {
			hb += ": the driver may be gone (runbook --take-over)"
			style = st.Bad
		}
	}
	tail := ""
	if f.err != nil {
		tail = " · not following: " + termsafe.Flat(f.err.Error())
		style = st.Bad
	}
	line := func(withPID, records, run bool) string {
		parts := []string{"FOLLOWING read-only"}
		w := who
		if strings.Contains(w, "%s") {
			p := ""
			if withPID {
				p = pid
			}
			w = strings.Replace(w, "%s", p, 1)
		}
		parts = append(parts, w)
		if hb != "" {
			parts = append(parts, hb)
		}
		if run {
			parts = append(parts, "run "+termsafe.Line(f.src.ID))
		}
		if records {
			parts = append(parts, fmt.Sprintf("%d records", f.records))
		}
		return strings.Join(parts, " · ") + tail
	}
	text := line(true, true, true)
	for _, try := range [][3]bool{{false, true, true}, {false, false, true}, {false, false, false}} {
		if ansi.StringWidth(text) <= m.width {
			break
		}
		text = line(try[0], try[1], try[2])
	}
	return style.Render(ansi.Truncate(text, m.width, "…"))
}

// followHelp is the short help of follow mode.
func (m Model) followHelp() string {
	k := m.keys
	approve := key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "approve"))
	return m.help.ShortHelpView([]key.Binding{k.Up, k.Down, k.NextPane, k.GuideFull, k.OutputFull, approve, k.Note, k.Help, k.Quit})
}
