// Package ui is runbook's terminal interface: a Bubble Tea v2 program over
// a steps.Session. The root model routes typed messages to the pane that
// owns them (timeline, guide, output, header, dialog); every session call,
// guide read and render runs in a tea.Cmd and comes back as a ...Msg
// carrying a fresh snapshot of the run.
package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/components/dialog"
	"github.com/runbook-dev/runbook/ui/components/guide"
	"github.com/runbook-dev/runbook/ui/components/header"
	"github.com/runbook-dev/runbook/ui/components/logpane"
	"github.com/runbook-dev/runbook/ui/components/outview"
	"github.com/runbook-dev/runbook/ui/components/timeline"
	"github.com/runbook-dev/runbook/ui/keymap"
	"github.com/runbook-dev/runbook/ui/styles"
)

// MinWidth and MinHeight are the smallest usable terminal.
const (
	MinWidth  = 80
	MinHeight = 24
)

// Options configure the program.
type Options struct {
	// Session is the open run; the UI never closes it.
	Session *steps.Session
	// Clock tells the time shown and computed with (tests pass a fake one).
	// Nil: the session's clock.
	Clock steps.Clock
	// Operator is the name recorded with confirmations.
	Operator string
	// Output is the sink the session's Options.Output feeds (its Send
	// method); nil: the output pane stays empty.
	Output *Output
	// NoColor draws with attributes only (NO_COLOR is set).
	NoColor bool
	// OutputLines is how many output lines the pane keeps (0: default).
	OutputLines int
	// Notices are warnings from before the program started (e.g. no run
	// lock on a database target): shown in the notice line, never only
	// on stderr behind the alternate screen.
	Notices []string
	// NoBell keeps the terminal bell quiet (a step failed, went over its
	// budget, the point of no return is near).
	NoBell bool
	// WorkDir is the directory log paths are shown relative to (when they
	// are below it); "": as the session names them.
	WorkDir string
	// Mouse turns on mouse reporting: the wheel scrolls the pane under
	// the pointer (it takes over the terminal's own text selection).
	Mouse bool
	// Follow, instead of Session, shows a run someone else drives,
	// read-only (see follow.go).
	Follow *Follow
}

type pane uint8

const (
	paneTimeline pane = iota
	paneGuide
	paneOutput
	numPanes
)

func (p pane) String() string {
	switch p {
	case paneTimeline:
		return "timeline"
	case paneGuide:
		return "guide"
	case paneOutput:
		return "output"
	}
	return "pane"
}

type level uint8

const (
	levelInfo level = iota
	levelOK
	levelWarn
	levelBad
)

// busy is the long op in flight.
type busy struct {
	op     op
	cancel context.CancelFunc
	// canceled: the operator cancelled it (x), not quitting.
	canceled bool
}

// Dialog tags: what an open dialog is for.
const (
	tagSkip = iota + 1
	tagMarkDone
	tagNote
	tagUndo
	tagConfirmManual
	tagDirty
	tagQuit
	tagCancel
	tagApprove
)

// Model is the root model.
type Model struct {
	opt   Options
	sess  *steps.Session
	rb    *runbooks.Runbook
	clock steps.Clock
	keys  keymap.KeyMap
	help  help.Model
	theme styles.Theme
	st    styles.Styles

	run    *steps.Run
	timing steps.Timing
	score  steps.Score

	timeline timeline.Model
	guide    guide.Model
	out      logpane.Model
	// described holds the plan of each step's actions; shared between
	// copies, written only by Update.
	described  map[string]*guide.Described
	describing map[string]bool

	focus         pane
	width, height int
	bodyH         int
	dlg           *dialog.Model
	busy          *busy
	quitting      bool
	// over is the full-screen view on top, if any; it takes the keys.
	over overlay
	outv *outview.Model
	// filter is the timeline's filter line; filtering: it takes the keys.
	filter    textinput.Model
	filtering bool
	// interrupted: the program ends with a step cut off (exit 130);
	// forced: a second ctrl+c did not wait for the journal.
	interrupted, forced bool
	status              string
	statusLevel         level
	bell                bellState

	// gen counts changes of the run state, the timing and the theme: the
	// panes drawn from them are redrawn only when it moves.
	gen   uint64
	cache *frameCache

	// follow: the run is someone else's, shown read-only (follow.go).
	follow *followState
}

// newModel is the model's panes, keys and styles for rb, before a run is
// shown in them: a session's, or a followed one's (sess nil). Fields its
// method values read (the log path's) are set here, before they are bound.
func newModel(opt Options, sess *steps.Session, rb *runbooks.Runbook) Model {
	m := Model{
		opt: opt, sess: sess, rb: rb, clock: opt.Clock,
		keys:       keymap.Default(),
		help:       help.New(),
		theme:      styles.Theme{Dark: true, NoColor: opt.NoColor},
		timeline:   timeline.New(rb),
		guide:      guide.New(),
		out:        logpane.New(opt.OutputLines),
		described:  map[string]*guide.Described{},
		describing: map[string]bool{},
		cache:      &frameCache{},
		filter:     newFilter(),
	}
	m.st = styles.New(m.theme)
	m.help.Styles = m.st.Help
	m.out.LogPath = m.logPath
	return m
}

// New builds the model for a session. It reads only memory: the session's
// snapshot and what Open recovered.
func New(opt Options) Model {
	if opt.Session == nil && opt.Follow != nil {
		return newFollowModel(opt)
	}
	sess := opt.Session
	if opt.Clock == nil {
		opt.Clock = sess.Clock()
	}
	m := newModel(opt, sess, sess.Runbook())
	m.setRun(sess.Snapshot(), opt.Clock.Now())

	rec := sess.Recovered
	var notes []string
	switch {
	case len(rec.Dirty) > 0:
		m.timeline.Select(rec.Dirty[0])
		notes = append(notes, fmt.Sprintf("Resumed with %d dirty step(s): %s. Select one and press enter to verify, retry, mark done or undo.",
			len(rec.Dirty), strings.Join(rec.Dirty, ", ")))
		m.statusLevel = levelWarn
	case m.timing.Current != "":
		m.timeline.Select(m.timing.Current)
	}
	if rec.Torn != nil {
		notes = append(notes, "Journal tail was damaged and set aside: "+rec.Torn.String())
		m.statusLevel = levelWarn
	}
	if rec.RunbookChanged {
		notes = append(notes, "The runbook changed since this run last opened: steps already done are not re-checked (v verifies one).")
		m.statusLevel = levelWarn
	}
	for _, n := range opt.Notices {
		notes = append(notes, "Warning: "+termsafe.Line(n)+".")
		m.statusLevel = levelWarn
	}
	if len(notes) == 0 {
		if rec.New {
			notes = append(notes, "New run. enter runs the selected step; ? shows every key.")
		} else {
			notes = append(notes, fmt.Sprintf("Resumed: %d of %d steps done.", m.timing.Done, m.timing.Total))
		}
	}
	m.status = strings.Join(notes, " ")
	m.guide.Follow(m.timeline.Selected())
	m.showSelected()
	m.bell = newBellState(m.timing)
	return m
}

// Init asks the terminal for its background (answered later, never
// waited for), starts the clock and the output drain, and describes the
// selected step and renders its guide: the window's size is not needed for
// that, so the first frame does not wait for it to arrive first.
func (m Model) Init() tea.Cmd {
	if m.follow != nil {
		return m.followInit()
	}
	return tea.Batch(tea.RequestBackgroundColor, tickCmd(m.sess, m.clock), m.opt.Output.drainCmd(), m.selectedCmds())
}

// selectedCmds asks for what the guide pane shows of the selected step
// before any size is known: its guide rendered, its actions described.
func (m Model) selectedCmds() tea.Cmd {
	s, ok := m.selectedStep()
	if !ok {
		return nil
	}
	m.describing[s.ID] = true
	return tea.Batch(m.guide.Need(m.rb.Guides, s.Guide, m.theme.Glamour()), describeCmd(m.sess, s))
}

func (m *Model) setRun(r *steps.Run, now time.Time) {
	if r == nil {
		return
	}
	m.run = r
	m.timing = steps.ComputeTiming(m.rb, r, now)
	m.score = steps.ComputeScore(m.rb, r)
	m.gen++
}

func (m Model) selectedStep() (runbooks.Step, bool) {
	id := m.timeline.Selected()
	pi, si, ok := m.rb.StepRef(id)
	if !ok {
		return runbooks.Step{}, false
	}
	return m.rb.Phases[pi].Steps[si], true
}

// showSelected points the output pane at the selected step and its log.
func (m *Model) showSelected() {
	m.out.Show(m.timeline.Selected())
}

// logPath is where a step's whole output is (under the state directory
// as the operator named it).
func (m Model) logPath(id string) string {
	if id == "" || m.sess == nil {
		return ""
	}
	p := m.sess.LogPath(id)
	if m.opt.WorkDir != "" {
		if rel, err := filepath.Rel(m.opt.WorkDir, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = rel
		}
	}
	return termsafe.Line(p)
}

// Interrupted reports whether the program ended with a step cut off
// (quit or a signal while it ran): the CLI exits 130.
func (m Model) Interrupted() bool { return m.interrupted || m.forced }

func (m Model) stepTiming(id string) steps.StepTiming {
	pi, si, ok := m.rb.StepRef(id)
	if !ok || pi >= len(m.timing.Phases) || si >= len(m.timing.Phases[pi].Steps) {
		return steps.StepTiming{}
	}
	return m.timing.Phases[pi].Steps[si]
}

func (m *Model) setStatus(l level, format string, args ...any) {
	m.statusLevel = l
	m.status = fmt.Sprintf(format, args...)
}

// Update routes one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if m.follow != nil {
		if mm, cmd, ok := m.followUpdate(msg); ok {
			return mm, cmd
		}
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		m.layout()
		return m, m.needSelected()

	case tea.BackgroundColorMsg:
		m.theme.Dark = msg.IsDark()
		m.st = styles.New(m.theme)
		m.gen++
		m.help.Styles = m.st.Help
		if m.dlg != nil {
			m.dlg.SetStyles(m.st)
		}
		return m, m.needSelected()

	case tea.KeyPressMsg:
		return m.key(msg)

	case tea.MouseWheelMsg:
		return m.wheel(msg)

	case tickMsg:
		m.setRun(msg.snap, msg.now)
		return m, tea.Batch(tickCmd(m.sess, m.clock), m.ring())

	case outputMsg:
		m.out.Append(msg.lines, msg.dropped)
		return m, m.opt.Output.drainCmd()

	case guide.RenderedMsg:
		m.guide.Store(msg)
		return m, nil

	case describedMsg:
		m.described[msg.step] = msg.d
		delete(m.describing, msg.step)
		return m, nil

	case opDoneMsg:
		return m.opDone(msg)

	case cancelAskedMsg:
		return m.cancelAsked(msg)

	case interruptMsg:
		return m.interrupt()

	case NoticeMsg:
		m.setStatus(levelWarn, "%s", msg.Text)
		return m, nil

	case finishedMsg:
		m.setRun(msg.snap, m.clock.Now())
		if msg.err != nil {
			m.setStatus(levelBad, "Record the end of the run: %v", msg.err)
		} else {
			m.setStatus(levelOK, "Run finished: every step is done. The journal holds the record; `runbook report` writes it up.")
		}
		return m, nil
	}
	if m.dlg != nil {
		// Cursor blink and other messages of the text input.
		d, _, cmd := m.dlg.Update(msg)
		m.dlg = &d
		return m, cmd
	}
	if m.filtering {
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Update(msg)
		return m, cmd
	}
	if m.outv != nil && m.outv.Typing() {
		o, _, cmd := m.outv.Update(msg)
		m.outv = &o
		return m, cmd
	}
	return m, nil
}

// needSelected asks for what the selected step's guide pane needs: its
// guide rendered at the pane's width and its actions described.
func (m *Model) needSelected() tea.Cmd {
	s, ok := m.selectedStep()
	if !ok || m.width < MinWidth || m.height < MinHeight {
		return nil
	}
	m.guide.Follow(s.ID)
	m.showSelected()
	var cmds []tea.Cmd
	if c := m.guide.Need(m.rb.Guides, s.Guide, m.theme.Glamour()); c != nil {
		cmds = append(cmds, c)
	}
	if _, ok := m.described[s.ID]; !ok && !m.describing[s.ID] {
		m.describing[s.ID] = true
		cmds = append(cmds, m.describeStep(s))
	}
	return tea.Batch(cmds...)
}

// layout sizes the panes for the window, the open dialog and the mode.
func (m *Model) layout() {
	if m.width < MinWidth || m.height < MinHeight {
		return
	}
	dlgH := 0
	if m.dlg != nil {
		dlgH = strings.Count(m.dlg.View(m.st, m.width), "\n") + 1
	}
	if m.filtering {
		dlgH++
	}
	if m.follow != nil {
		dlgH++ // the follow banner
	}
	m.bodyH = max(m.height-header.Height-2-dlgH, 4)
	tw, rw := m.columns()
	m.timeline.SetSize(tw-2, m.bodyH-2)
	switch {
	case m.over == ovGuide:
		m.guide.SetSize(m.width-2, m.bodyH-2)
	case m.over == ovOutput && m.outv != nil:
		m.outv.SetSize(m.width-2, m.bodyH-2)
	case m.compact():
		m.guide.SetSize(rw-2, m.bodyH-2)
		m.out.SetSize(rw-2, m.bodyH-2)
	default:
		gh, oh := m.rows()
		m.guide.SetSize(rw-2, gh-2)
		m.out.SetSize(rw-2, oh-2)
	}
}

// compact: too short a screen for the guide and the output one above the
// other; the right column shows one of them (tab or o switches).
func (m Model) compact() bool { return m.height < 32 }

// columns splits the width between the timeline and the right column:
// the timeline takes what its longest title needs, up to 42% of the width.
func (m Model) columns() (int, int) {
	tw := min(max(m.timeline.Need(), 34), max(m.width*42/100, 34))
	return tw, m.width - tw
}

// rows splits the body height between the guide and the output pane.
func (m Model) rows() (int, int) {
	gh := max(m.bodyH*58/100, 5)
	oh := m.bodyH - gh
	if oh < 4 {
		oh = min(4, m.bodyH-3)
		gh = m.bodyH - oh
	}
	return gh, oh
}
