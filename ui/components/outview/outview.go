// Package outview is the full-screen output view: one step's held output
// in a scrollable viewport (long lines wrapped), with `/` search that
// highlights every match and n/N to move between them. While it is open
// it takes every key; esc and q close it (esc first leaves a search).
package outview

import (
	"fmt"
	"regexp"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/ui/styles"
)

// Model is the open view.
type Model struct {
	Step    string
	LogPath string
	vp      viewport.Model
	lines   []string
	content string
	search  textinput.Model
	typing  bool
	query   string
	matches int
}

// New opens the view on a step's lines (already safe for the terminal).
func New(step, logPath string, lines []string, w, h int, st styles.Styles) Model {
	vp := viewport.New(viewport.WithWidth(w), viewport.WithHeight(max(h-1, 1)))
	vp.FillHeight = true
	vp.HighlightStyle = st.Warn.Reverse(true)
	vp.SelectedHighlightStyle = st.Selected
	// The parent's key map drives the view; the viewport's own keys are
	// only its defaults for arrows and pages.
	vp.KeyMap.HalfPageDown = key.NewBinding(key.WithKeys("ctrl+d"))
	vp.KeyMap.HalfPageUp = key.NewBinding(key.WithKeys("ctrl+u"))
	vp.KeyMap.Left = key.NewBinding(key.WithDisabled())
	vp.KeyMap.Right = key.NewBinding(key.WithDisabled())
	if len(lines) == 0 {
		lines = []string{"No output held for " + step + "."}
	}
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "search"
	ti.CharLimit = 200
	m := Model{Step: step, LogPath: logPath, vp: vp, lines: lines, search: ti}
	m.fill()
	m.vp.GotoBottom()
	return m
}

// fill wraps the lines at the view's width, at spaces where it can (the
// viewport's own soft wrap cuts words).
func (m *Model) fill() {
	w := max(m.vp.Width(), 10)
	var b strings.Builder
	for i, l := range m.lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		if ansi.StringWidth(l) > w {
			l = ansi.Wrap(l, w, "")
		}
		b.WriteString(l)
	}
	m.content = b.String()
	m.vp.SetContent(m.content)
	if m.query != "" {
		m.apply(m.query)
	}
}

// SetSize sizes the view: the viewport and one line below it.
func (m *Model) SetSize(w, h int) {
	resized := w != m.vp.Width()
	m.vp.SetWidth(w)
	m.vp.SetHeight(max(h-1, 1))
	if resized {
		m.fill()
	}
}

// Typing reports whether the search line takes the keys.
func (m Model) Typing() bool { return m.typing }

// Update handles a key; closed is true when the view should go.
func (m Model) Update(msg tea.Msg) (Model, bool, tea.Cmd) {
	k, isKey := msg.(tea.KeyPressMsg)
	if !isKey {
		if _, ok := msg.(tea.MouseWheelMsg); ok {
			var cmd tea.Cmd
			m.vp, cmd = m.vp.Update(msg)
			return m, false, cmd
		}
		if m.typing {
			var cmd tea.Cmd
			m.search, cmd = m.search.Update(msg)
			return m, false, cmd
		}
		return m, false, nil
	}
	if m.typing {
		switch k.String() {
		case "esc":
			m.typing = false
			m.search.Blur()
			return m, false, nil
		case "enter":
			m.typing = false
			m.search.Blur()
			m.apply(m.search.Value())
			return m, false, nil
		}
		var cmd tea.Cmd
		m.search, cmd = m.search.Update(msg)
		return m, false, cmd
	}
	switch k.String() {
	case "esc":
		if m.query != "" {
			m.apply("")
			return m, false, nil
		}
		return m, true, nil
	case "q", "o":
		return m, true, nil
	case "/":
		m.typing = true
		m.search.SetValue(m.query)
		return m, false, m.search.Focus()
	case "n":
		m.vp.HighlightNext()
	case "N":
		m.vp.HighlightPrevious()
	case "g", "home":
		m.vp.GotoTop()
	case "G", "end":
		m.vp.GotoBottom()
	case "up", "k":
		m.vp.ScrollUp(1)
	case "down", "j":
		m.vp.ScrollDown(1)
	case "pgup", "b":
		m.vp.PageUp()
	case "pgdown", "space", "f":
		m.vp.PageDown()
	case "ctrl+u":
		m.vp.HalfPageUp()
	case "ctrl+d":
		m.vp.HalfPageDown()
	}
	return m, false, nil
}

// apply sets the search: every match highlighted, the first one at or
// below the top of the view selected.
func (m *Model) apply(q string) {
	m.query = q
	m.vp.ClearHighlights()
	m.matches = 0
	if q == "" {
		return
	}
	re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(q))
	idx := re.FindAllStringIndex(m.content, -1)
	m.matches = len(idx)
	// The first match from the top, as less and vim do after a wrap.
	m.vp.SetYOffset(0)
	m.vp.SetHighlights(idx)
}

// Query is the search in force ("" for none) and how many matches it has.
func (m Model) Query() (string, int) { return m.query, m.matches }

// Title is the frame's title.
func (m Model) Title() string {
	t := "Output · " + m.Step
	if m.LogPath != "" {
		t += " · " + m.LogPath
	}
	return t
}

// View draws the viewport and a line below it: the search being typed,
// or where the view is.
func (m Model) View(st styles.Styles) string {
	v := m.vp.View()
	if m.typing {
		return v + "\n" + m.search.View()
	}
	pos := fmt.Sprintf("lines %d of %d · %3.0f%%", min(m.vp.YOffset()+m.vp.VisibleLineCount(), m.vp.TotalLineCount()), m.vp.TotalLineCount(), m.vp.ScrollPercent()*100)
	if m.query != "" {
		pos = fmt.Sprintf("/%s: %d matches · ", m.query, m.matches) + pos
	}
	return v + "\n" + st.Faint.Render(ansi.Truncate(pos, m.vp.Width(), "…"))
}

// Help is what the footer shows while the view is open.
func (m Model) Help() [][2]string {
	if m.typing {
		return [][2]string{{"enter", "search"}, {"esc", "cancel"}}
	}
	h := [][2]string{{"↑/↓", "scroll"}, {"g/G", "top/bottom"}, {"pgup/pgdn", "page"}, {"/", "search"}}
	if m.query != "" {
		h = append(h, [2]string{"n/N", "match"}, [2]string{"esc", "clear"})
	} else {
		h = append(h, [2]string{"esc/q", "close"})
	}
	return h
}
