package ui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/common"
	"github.com/runbook-dev/runbook/ui/components/guide"
	"github.com/runbook-dev/runbook/ui/components/header"
	"github.com/runbook-dev/runbook/ui/components/timeline"
)

// frameCache keeps the last drawing of the panes whose inputs did not
// change: while a step streams output, only the output pane, the status
// and the help line are drawn again. Shared by copies of the model; only
// the program's goroutine uses it.
type frameCache struct {
	header, left, guide cached
}

type cached struct {
	key any
	s   string
}

// get returns the drawing for key, drawing it when the key changed. Keys
// are comparable structs holding every input of the drawing.
func (c *cached) get(key any, draw func() string) string {
	if c.key != nil && c.key == key {
		return c.s
	}
	c.key, c.s = key, draw()
	return c.s
}

type headerKey struct {
	gen   uint64
	width int
}

type leftKey struct {
	gen     uint64
	pane    [5]int
	busy    string
	w, h    int
	focused bool
	filter  string
}

type guideKey struct {
	gen                 uint64
	step                string
	pane                [4]int
	w, h                int
	focused             bool
	described, rendered bool
	busy                bool
}

// View draws the screen.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	if m.opt.Mouse {
		v.MouseMode = tea.MouseModeCellMotion
	}
	v.WindowTitle = "runbook · " + termsafe.Line(m.rb.Title)
	return v
}

func (m Model) render() string {
	if m.width == 0 || m.height == 0 {
		return "Starting runbook…"
	}
	if m.width < MinWidth || m.height < MinHeight {
		return ansi.Truncate(fmt.Sprintf("Terminal too small: %d×%d. runbook needs at least %d×%d.", m.width, m.height, MinWidth, MinHeight), m.width, "…")
	}
	st := m.st
	var b strings.Builder
	b.Grow(m.width * m.height * 2)
	b.WriteString(m.cache.header.get(headerKey{gen: m.gen, width: m.width}, func() string {
		return header.View(header.Props{
			Runbook: m.rb, Run: m.run, Timing: m.timing, Score: m.score, Operator: m.opt.Operator,
			Rehearsal: m.run.Rehearsal, Styles: st, Width: m.width,
		})
	}))
	b.WriteByte('\n')
	if m.follow != nil {
		b.WriteString(m.followBanner())
		b.WriteByte('\n')
	}
	b.WriteString(m.body())
	if m.dlg != nil {
		b.WriteByte('\n')
		b.WriteString(m.dlg.View(st, m.width))
	}
	if m.filtering {
		b.WriteByte('\n')
		m.filter.SetWidth(max(m.width-len(m.filter.Prompt)-2, 10))
		b.WriteString(m.filter.View())
	}
	b.WriteByte('\n')
	b.WriteString(m.statusLine())
	b.WriteByte('\n')
	b.WriteString(m.helpLine())
	return b.String()
}

func (m Model) body() string {
	st := m.st
	switch m.over {
	case ovHelp:
		return st.Frame("Help · esc to close", m.fullHelpView(), m.width, m.bodyH, true)
	case ovOutput:
		if m.outv != nil {
			return st.Frame(m.outv.Title()+" · esc to close", m.outv.View(st), m.width, m.bodyH, true)
		}
	}
	guideView := func(w, h int, suffix string, focused bool) string {
		gp := m.guideProps()
		k := guideKey{
			gen: m.gen, step: gp.Step.ID, pane: m.guide.ViewKey(), w: w, h: h, focused: focused,
			described: gp.Actions != nil, rendered: m.guide.Cached(m.guide.KeyFor(gp.Step.Guide, gp.Style)), busy: gp.Busy,
		}
		return m.cache.guide.get(k, func() string {
			return st.Frame("Guide · "+termsafe.Line(gp.Step.Guide.String())+suffix, m.guide.View(gp), w, h, focused)
		})
	}
	if m.over == ovGuide {
		return guideView(m.width, m.bodyH, " · esc to close", true)
	}
	tw, rw := m.columns()
	gh, oh := m.rows()
	lk := leftKey{gen: m.gen, pane: m.timeline.ViewKey(), busy: m.busyID(), w: tw, h: m.bodyH, focused: m.focus == paneTimeline, filter: m.timeline.Filter()}
	left := m.cache.left.get(lk, func() string {
		title := fmt.Sprintf("Timeline · %d/%d done", m.timing.Done, m.timing.Total)
		if f := m.timeline.Filter(); f != "" {
			title += " · /" + termsafe.Line(f)
		}
		return st.Frame(title,
			m.timeline.View(timeline.Props{Runbook: m.rb, Timing: m.timing, Busy: m.busyID(), Styles: st}),
			tw, m.bodyH, m.focus == paneTimeline)
	})
	var right string
	switch {
	case m.compact() && m.rightPane() == paneOutput:
		right = st.Frame(m.out.Title()+" · tab: guide", m.out.View(st), rw, m.bodyH, true)
	case m.compact():
		right = guideView(rw, m.bodyH, " · tab: output", m.focus == paneGuide)
	default:
		right = guideView(rw, gh, "", m.focus == paneGuide) + "\n" +
			st.Frame(m.out.Title(), m.out.View(st), rw, oh, m.focus == paneOutput)
	}
	return joinColumns(left, right)
}

// guideProps is what the guide pane shows for the selected step.
func (m Model) guideProps() guide.Props {
	s, _ := m.selectedStep()
	gp := guide.Props{
		Step: s, State: m.run.Step(s.ID), Timing: m.stepTiming(s.ID),
		Actions: m.described[s.ID], Style: m.theme.Glamour(), Styles: m.st,
		Busy: m.busy != nil && m.busy.op.step == s.ID,
	}
	if gp.State.Status == steps.AwaitingOperator {
		gp.Prompt = m.prompt(s.ID, gp.State)
	}
	return gp
}

func (m Model) busyID() string {
	if m.busy == nil {
		return ""
	}
	return m.busy.op.step
}

// joinColumns puts two blocks of equal height side by side.
func joinColumns(left, right string) string {
	ls, rs := strings.Split(left, "\n"), strings.Split(right, "\n")
	var b strings.Builder
	for i := range max(len(ls), len(rs)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i < len(ls) {
			b.WriteString(ls[i])
		}
		if i < len(rs) {
			b.WriteString(rs[i])
		}
	}
	return b.String()
}

func (m Model) statusLine() string {
	st := m.st
	text := termsafe.Flat(m.status)
	if m.busy != nil && !m.quitting {
		running := "▶ " + m.busy.op.step + " " + m.busy.op.kind.String() + " in progress"
		if text == "" {
			text = running
		} else {
			text = running + " · " + text
		}
	}
	text = ansi.Truncate(text, m.width, "…")
	switch m.statusLevel {
	case levelOK:
		return st.OK.Render(text)
	case levelWarn:
		return st.Warn.Render(text)
	case levelBad:
		return st.Bad.Render(text)
	}
	return st.Muted.Render(text)
}

// helpLine is the short help of what is on top, with enter's meaning for
// the selected step, never wider than the screen.
func (m Model) helpLine() string {
	return ansi.Truncate(m.helpKeys(), m.width, "…")
}

func (m Model) helpKeys() string {
	k := m.keys
	enter := "run"
	if s, ok := m.selectedStep(); ok {
		st := m.run.Step(s.ID)
		switch {
		case st.Status == steps.AwaitingOperator:
			enter = "confirm"
		case st.Status == steps.Dirty, st.Status == steps.Failed && st.CancelledBy != "":
			enter = "choose"
		case st.Status == steps.Failed:
			enter = "retry"
		}
	}
	k.Enter.SetHelp("enter", enter)
	if keys, ok := m.overlayHelp(); ok {
		return m.help.ShortHelpView(keys)
	}
	if m.follow != nil {
		return m.followHelp()
	}
	if m.run.Share.Stopped != "" {
		return m.help.ShortHelpView([]key.Binding{k.Up, k.Down, k.NextPane, k.GuideFull, k.OutputFull, k.Help, k.Quit})
	}
	keys := k.ShortHelp()
	if m.busy != nil {
		// While a step runs, what can be done to it comes first.
		keys = []key.Binding{k.Cancel, k.OutputFull, k.GuideFull, k.NextPane, k.Note, k.Help, k.Quit}
	}
	// What the full help also reaches gives way, in this order, so that
	// enter (or cancel), the guide, help and quit always show.
	wide := m.help
	wide.SetWidth(0)
	for _, drop := range []key.Binding{k.Filter, k.Note, k.Retry, k.Skip, k.NextPane, k.OutputFull, k.Verify, k.Undo} {
		if ansi.StringWidth(wide.ShortHelpView(keys)) <= m.width {
			break
		}
		keys = slices.DeleteFunc(keys, func(b key.Binding) bool { return b.Help() == drop.Help() })
	}
	return m.help.ShortHelpView(keys)
}

func (m Model) fullHelpView() string {
	st := m.st
	w := max(m.width-2, 20)
	var legend []string
	for _, s := range steps.Statuses() {
		legend = append(legend, common.StatusStyle(st, s)(common.Icon(s))+" "+s.String())
	}
	groups := m.keys.FullHelp()
	keys := m.help.FullHelpView(groups)
	if m.width < 110 {
		// Too narrow for every column side by side: two rows of them, and
		// the status legend; the rest is in the README.
		keys = m.help.FullHelpView(groups[:2]) + "\n" + m.help.FullHelpView(groups[2:])
		return keys + "\n\n" + ansi.Wrap(strings.Join(legend, "  "), w, " ")
	}
	text := func(s string) string { return st.Muted.Render(ansi.Wrap(s, w, " ")) }
	return keys + "\n\n" +
		st.Phase.Render("Status") + "\n" + ansi.Wrap(strings.Join(legend, "  "), w, " ") + "\n\n" +
		text("Panes: tab moves focus; arrows move the selection in the timeline and scroll the guide or output; the wheel scrolls the pane under it.") + "\n" +
		text("Help, full-screen views and questions take the keys while open: only their own work (see the footer); esc or q closes them.") + "\n" +
		text("Output keeps the last lines of each run; every line is also in the step's log file.")
}
