package ui

import (
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/ui/components/header"
	"github.com/runbook-dev/runbook/ui/components/outview"
	"github.com/runbook-dev/runbook/ui/keymap"
)

// overlay is the full-screen view on top of the main screen. While one is
// open it takes every key: only its own keys work, esc and q close it, and
// the footer shows its keys. Dialogs and the filter line are modal the same
// way and come before it.
type overlay uint8

const (
	ovNone overlay = iota
	ovHelp
	ovGuide
	ovOutput
)

func (o overlay) String() string {
	switch o {
	case ovHelp:
		return "help"
	case ovGuide:
		return "guide"
	case ovOutput:
		return "output"
	}
	return "none"
}

func newFilter() textinput.Model {
	ti := textinput.New()
	ti.Prompt = "filter steps: "
	ti.Placeholder = "id or title"
	ti.CharLimit = 80
	return ti
}

// isInterrupt: ctrl+c, which quits from anywhere (asking first while a step
// runs), unlike q, which closes the view on top.
func isInterrupt(msg tea.KeyPressMsg) bool { return msg.String() == "ctrl+c" }

// overlayKey handles a key while a full-screen view is open.
func (m Model) overlayKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	if isInterrupt(msg) {
		return m.act(keymap.Intent{Action: keymap.Quit})
	}
	if m.over == ovOutput && m.outv != nil {
		o, closed, cmd := m.outv.Update(msg)
		m.outv = &o
		if closed {
			m.closeOverlay()
		}
		return m, cmd
	}
	in := m.keys.Resolve(msg)
	switch in.Action {
	case keymap.Back, keymap.Quit:
		m.closeOverlay()
		return m, m.needSelected()
	case keymap.Help:
		if m.over == ovHelp {
			m.closeOverlay()
		}
		return m, nil
	case keymap.GuideFull:
		if m.over == ovGuide {
			m.closeOverlay()
			return m, m.needSelected()
		}
		return m, nil
	case keymap.Up, keymap.Down, keymap.PageUp, keymap.PageDown, keymap.Top, keymap.Bottom:
		if m.over == ovGuide {
			return m, m.move(in.Action)
		}
	}
	return m, nil
}

func (m *Model) openOverlay(o overlay) {
	m.over = o
	if o == ovOutput {
		id := m.out.Shown()
		var lines []string
		for _, l := range m.out.Lines(id) {
			lines = append(lines, l.Text)
		}
		v := outview.New(id, m.logPath(id), lines, m.width-2, m.bodyH-2, m.st)
		m.outv = &v
	}
	m.layout()
}

func (m *Model) closeOverlay() {
	m.over = ovNone
	m.outv = nil
	m.layout()
}

// filterKey handles a key while the timeline's filter line is open: the
// timeline narrows as the operator types; enter keeps the filter, esc
// drops it.
func (m Model) filterKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc", "ctrl+c":
		m.filtering = false
		m.filter.Blur()
		m.filter.SetValue("")
		m.timeline.SetFilter("")
		m.layout()
		return m, m.needSelected()
	case "enter":
		m.filtering = false
		m.filter.Blur()
		m.layout()
		if m.timeline.Filter() != "" {
			m.setStatus(levelInfo, "Timeline filtered by %q: / changes it, / then esc clears it.", m.timeline.Filter())
		}
		return m, m.needSelected()
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(msg)
	m.timeline.SetFilter(m.filter.Value())
	return m, tea.Batch(cmd, m.needSelected())
}

func (m Model) openFilter() (tea.Model, tea.Cmd) {
	m.filtering = true
	m.filter.SetValue(m.timeline.Filter())
	cmd := m.filter.Focus()
	m.layout()
	return m, cmd
}

// wheel scrolls the pane under the pointer.
func (m Model) wheel(msg tea.MouseWheelMsg) (tea.Model, tea.Cmd) {
	if m.dlg != nil || m.filtering || m.over == ovHelp || m.width < MinWidth || m.height < MinHeight {
		return m, nil
	}
	mouse := msg.Mouse()
	a := keymap.Down
	if mouse.Button == tea.MouseWheelUp {
		a = keymap.Up
	}
	if m.over == ovOutput && m.outv != nil {
		o, _, cmd := m.outv.Update(msg)
		m.outv = &o
		return m, cmd
	}
	if m.over == ovGuide {
		return m, m.move3(a, paneGuide)
	}
	if mouse.Y < header.Height || mouse.Y >= header.Height+m.bodyH {
		return m, nil
	}
	tw, _ := m.columns()
	target := paneTimeline
	if mouse.X >= tw {
		gh, _ := m.rows()
		switch {
		case m.compact():
			target = m.rightPane()
		case mouse.Y < header.Height+gh:
			target = paneGuide
		default:
			target = paneOutput
		}
	}
	return m, m.move3(a, target)
}

// move3 scrolls a pane by three lines (one step in the timeline), as a
// wheel notch does in other terminal programs.
func (m *Model) move3(a keymap.Action, p pane) tea.Cmd {
	saved := m.focus
	m.focus = p
	n := 3
	if p == paneTimeline {
		n = 1
	}
	var cmd tea.Cmd
	for range n {
		cmd = m.move(a)
	}
	m.focus = saved
	return cmd
}

// rightPane is the pane the compact layout shows in the right column: the
// output while it has focus, else the guide.
func (m Model) rightPane() pane {
	if m.focus == paneOutput {
		return paneOutput
	}
	return paneGuide
}

// overlayHelp is the footer while a view, dialog or the filter is on top.
func (m Model) overlayHelp() ([]key.Binding, bool) {
	b := func(k, d string) key.Binding { return key.NewBinding(key.WithKeys(k), key.WithHelp(k, d)) }
	switch {
	case m.quitting:
		return []key.Binding{b("ctrl+c", "quit now without waiting")}, true
	case m.dlg != nil:
		var out []key.Binding
		for _, h := range m.dlg.Help() {
			out = append(out, b(h[0], h[1]))
		}
		return out, true
	case m.filtering:
		return []key.Binding{b("enter", "keep filter"), b("esc", "clear filter")}, true
	case m.over == ovOutput && m.outv != nil:
		var out []key.Binding
		for _, h := range m.outv.Help() {
			out = append(out, b(h[0], h[1]))
		}
		return out, true
	case m.over == ovGuide:
		return []key.Binding{b("↑/↓", "scroll"), b("g/G", "top/bottom"), b("pgup/pgdn", "page"), b("esc/q/f", "close")}, true
	case m.over == ovHelp:
		return []key.Binding{b("esc/q/?", "close help")}, true
	}
	return nil, false
}
