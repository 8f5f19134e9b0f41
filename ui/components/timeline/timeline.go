// Package timeline is the left pane: every phase and step of the runbook
// with its status, a bar of time used against budget, and the selection.
// Only the rows in view are rendered, so a runbook of hundreds of steps
// draws as fast as one of ten.
package timeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/common"
	"github.com/runbook-dev/runbook/ui/styles"
)

type row struct {
	phase, step int // step -1: the phase heading
	id          string
}

// Model is the timeline's own state: the selection and the scroll offset.
type Model struct {
	rb            *runbooks.Runbook
	filter        string
	need          int // width the longest title needs
	memo          *memo
	rows          []row
	stepRow       []int // step index (runbook order) → row index
	sel           int   // step index
	offset        int   // first row in view
	width, height int
}

// New lays out the rows of a runbook.
func New(rb *runbooks.Runbook) Model {
	m := Model{rb: rb, memo: &memo{m: map[memoKey]string{}}}
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			// marker, icon, spaces, bar, time and the frame
			m.need = max(m.need, ansi.StringWidth(s.Title)+4+9+9+2)
		}
	}
	m.build()
	return m
}

// build lays out the rows that pass the filter: matching steps under
// their phase headings (a phase whose title matches keeps all its steps).
func (m *Model) build() {
	keep := m.Selected()
	m.rows, m.stepRow = m.rows[:0], m.stepRow[:0]
	q := strings.ToLower(m.filter)
	match := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(strings.ToLower(x), q) {
				return true
			}
		}
		return false
	}
	for pi, p := range m.rb.Phases {
		phaseHit := q == "" || match(p.ID, p.Title)
		head := len(m.rows)
		m.rows = append(m.rows, row{phase: pi, step: -1, id: p.ID})
		n := 0
		for si, s := range p.Steps {
			if !phaseHit && !match(s.ID, s.Title) {
				continue
			}
			m.stepRow = append(m.stepRow, len(m.rows))
			m.rows = append(m.rows, row{phase: pi, step: si, id: s.ID})
			n++
		}
		if n == 0 && q != "" {
			m.rows = m.rows[:head]
		}
	}
	m.sel = 0
	if keep != "" {
		m.Select(keep)
	}
	m.reveal()
}

// SetFilter shows only the steps whose id or title (or phase) contains q,
// ignoring case; "" shows all.
func (m *Model) SetFilter(q string) {
	if q == m.filter {
		return
	}
	m.filter = q
	m.build()
}

// Filter is the filter in force.
func (m Model) Filter() string { return m.filter }

// Need is the width the pane needs to show every title whole.
func (m Model) Need() int { return m.need }

// SetSize sets the text area (inside the frame).
func (m *Model) SetSize(w, h int) {
	m.width, m.height = max(w, 0), max(h, 0)
	m.reveal()
}

// Steps is the number of steps.
func (m Model) Steps() int { return len(m.stepRow) }

// Move moves the selection by delta steps, clamped.
func (m *Model) Move(delta int) {
	if len(m.stepRow) == 0 {
		return
	}
	m.sel = min(max(m.sel+delta, 0), len(m.stepRow)-1)
	m.reveal()
}

// Select selects a step by id; false if there is none.
func (m *Model) Select(id string) bool {
	for i, r := range m.stepRow {
		if m.rows[r].id == id {
			m.sel = i
			m.reveal()
			return true
		}
	}
	return false
}

// Selected is the id of the selected step ("" for an empty runbook).
func (m Model) Selected() string {
	if len(m.stepRow) == 0 || m.sel >= len(m.stepRow) {
		return ""
	}
	return m.rows[m.stepRow[m.sel]].id
}

// SelectedIndex is the selected step's position in runbook order.
func (m Model) SelectedIndex() int { return m.sel }

// reveal scrolls so the selected row, and if it fits its phase heading,
// is in view.
func (m *Model) reveal() {
	if len(m.stepRow) == 0 || m.height <= 0 {
		m.offset = 0
		return
	}
	r := m.stepRow[m.sel]
	head := r
	for head > 0 && m.rows[head].step >= 0 {
		head--
	}
	if r-head < m.height && head < m.offset {
		m.offset = head
	}
	if r < m.offset {
		m.offset = r
	}
	if r >= m.offset+m.height {
		m.offset = r - m.height + 1
	}
	m.offset = min(max(m.offset, 0), max(len(m.rows)-m.height, 0))
}

// Props is what the timeline draws from.
type Props struct {
	Runbook *runbooks.Runbook
	Timing  steps.Timing
	// Busy is the step whose action the UI has in flight (it may not be
	// journaled as running yet).
	Busy   string
	Styles styles.Styles
}

// View renders exactly height rows of at most width cells.
func (m Model) View(p Props) string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	st := p.Styles
	// The bar gives way first on narrow screens: the header shows the
	// current step's bar anyway.
	barW := 8
	switch {
	case m.width < 40:
		barW = 0
	case m.width < 52:
		barW = 6
	}
	const timeW = 9
	titleW := m.width - 4 - barW - timeW
	if barW > 0 {
		titleW--
	}
	out := make([]string, 0, m.height)
	for i := m.offset; i < len(m.rows) && len(out) < m.height; i++ {
		r := m.rows[i]
		if r.step < 0 {
			out = append(out, m.phaseRow(p, r.phase))
			continue
		}
		var stt steps.StepTiming
		if r.phase < len(p.Timing.Phases) && r.step < len(p.Timing.Phases[r.phase].Steps) {
			stt = p.Timing.Phases[r.phase].Steps[r.step]
		}
		step := p.Runbook.Phases[r.phase].Steps[r.step]
		status := stt.Status
		marker := " "
		if r.id == p.Timing.Current {
			marker = st.Current.Render("›")
		}
		icon := common.Icon(status)
		if r.id == p.Busy && !status.Busy() {
			icon = common.Icon(steps.Running)
			status = steps.Running
		}
		title := ansi.Truncate(termsafe.Line(step.Title), max(titleW, 1), "…")
		title += strings.Repeat(" ", max(titleW-ansi.StringWidth(title), 0))
		sel := m.stepRow[m.sel] == i
		text := title
		if !sel {
			if status == steps.Pending {
				text = title
			} else if status.Done() || status == steps.Undone {
				text = st.Muted.Render(title)
			}
		}
		bar := ""
		if barW > 0 {
			bar = m.memo.bar(st, stt.Elapsed, stt.Budget, barW) + " "
		}
		spent := fmt.Sprintf("%*s", timeW, Spent(stt))
		line := marker + m.memo.icon(st, status, icon) + " " + text + " " + bar + spent
		if sel {
			line = marker + st.Selected.Render(common.Icon(status)+" "+title+" ") + bar + st.Selected.Render(spent)
		}
		out = append(out, line)
	}
	for len(out) < m.height {
		out = append(out, "")
	}
	return strings.Join(out, "\n")
}

func (m Model) phaseRow(p Props, pi int) string {
	st := p.Styles
	ph := p.Runbook.Phases[pi]
	right := ph.SlotStart.Format("15:04") + "–" + ph.SlotEnd.Format("15:04")
	if pi < len(p.Timing.Phases) {
		pt := p.Timing.Phases[pi]
		right = fmt.Sprintf("%d/%d  %s", pt.Done, pt.Total, right)
	}
	leftW := m.width - ansi.StringWidth(right) - 1
	title := ansi.Truncate(termsafe.Line(ph.Title), max(leftW, 1), "…")
	pad := max(m.width-ansi.StringWidth(title)-ansi.StringWidth(right), 1)
	style := st.Phase
	if pi == p.Timing.CurrentPhase {
		style = st.Title
	}
	return style.Render(title) + strings.Repeat(" ", pad) + st.Muted.Render(right)
}

// memo keeps the few distinct bars and icons a timeline draws, styled:
// hundreds of rows share a handful of them, and styling is the costly part
// of a frame. Shared between copies of the model; only View uses it.
type memo struct {
	m map[memoKey]string
}

type memoKey struct {
	theme styles.Theme
	kind  uint8 // 1 bar, 2 icon
	a, b  int
	over  bool
	glyph string
}

func (c *memo) get(k memoKey, draw func() string) string {
	if s, ok := c.m[k]; ok {
		return s
	}
	if len(c.m) > 4096 {
		clear(c.m)
	}
	s := draw()
	c.m[k] = s
	return s
}

func (c *memo) bar(st styles.Styles, used, budget time.Duration, w int) string {
	eighths, over := common.BarFill(used, budget, w)
	return c.get(memoKey{theme: st.Theme, kind: 1, a: eighths, b: w, over: over}, func() string { return common.DrawBar(st, eighths, over, w) })
}

func (c *memo) icon(st styles.Styles, s steps.Status, icon string) string {
	return c.get(memoKey{theme: st.Theme, kind: 2, a: int(s), glyph: icon}, func() string { return common.StatusStyle(st, s)(icon) })
}

// Spent is the budget of a step not started, and "used/budget" of one
// that has been worked on.
func Spent(t steps.StepTiming) string {
	switch {
	case t.Status == steps.Skipped:
		return "skipped"
	case t.Status == steps.Pending && t.Elapsed == 0:
		return common.Dur(t.Budget)
	}
	return common.Dur(t.Elapsed) + "/" + common.Dur(t.Budget)
}

// ViewKey is the pane's own state that View depends on, for caching a
// drawing: selection, scroll offset and size.
func (m Model) ViewKey() [5]int {
	return [5]int{m.sel, m.offset, m.width, m.height, len(m.rows)}
}
