// Package logpane is the output pane: a bounded ring of the lines steps
// print, of which only the visible window is ever rendered, so a step that
// prints ten thousand lines a second costs the screen one frame's worth.
package logpane

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/ui/styles"
)

// DefaultCapacity is how many lines the pane keeps: older ones remain in the
// step's log file.
const DefaultCapacity = 5000

// Line is one line of a step's output, already redacted and sanitized.
type Line struct {
	Step string
	Text string
	// Mark is a line the UI wrote itself (a separator between runs).
	Mark bool
}

// Ring is a fixed-size ring of lines; pushing onto a full ring drops the
// oldest.
type Ring struct {
	buf   []Line
	start int
	n     int
}

// NewRing makes a ring of the given capacity (at least 1).
func NewRing(capacity int) *Ring {
	return &Ring{buf: make([]Line, max(capacity, 1))}
}

// Push appends a line.
func (r *Ring) Push(l Line) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = l
		r.n++
		return
	}
	r.buf[r.start] = l
	r.start = (r.start + 1) % len(r.buf)
}

// Len is the number of lines held.
func (r *Ring) Len() int { return r.n }

// Cap is the capacity.
func (r *Ring) Cap() int { return len(r.buf) }

// At returns line i, 0 being the oldest held.
func (r *Ring) At(i int) Line { return r.buf[(r.start+i)%len(r.buf)] }

// Model is the output pane. It shares its ring between copies: only the
// program's Update goroutine touches it.
type Model struct {
	ring          *Ring
	scroll        int // lines above the bottom; 0 follows new output
	total         uint64
	dropped       uint64
	step          string
	width, height int
}

// New makes an empty pane keeping capacity lines.
func New(capacity int) Model {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return Model{ring: NewRing(capacity)}
}

// Append adds a batch of lines; dropped is the sink's running count of
// lines it could not deliver.
func (m *Model) Append(lines []Line, dropped uint64) {
	for _, l := range lines {
		m.ring.Push(l)
		if !l.Mark {
			m.step = l.Step
			m.total++
		}
	}
	m.dropped = dropped
	if m.scroll > 0 {
		// Reading back: keep the same lines in view while output arrives.
		m.scroll += len(lines)
		m.clamp()
	}
}

// Mark writes a separator line of the UI's own (a new run of a step).
func (m *Model) Mark(step, text string) {
	m.Append([]Line{{Step: step, Text: text, Mark: true}}, m.dropped)
	m.step = step
}

// SetSize sets the text area (inside any frame).
func (m *Model) SetSize(w, h int) {
	m.width, m.height = max(w, 0), max(h, 0)
	m.clamp()
}

// Scroll moves the window by n lines (positive: back in time).
func (m *Model) Scroll(n int) {
	m.scroll += n
	m.clamp()
}

// Follow returns to the newest line and keeps following.
func (m *Model) Follow() { m.scroll = 0 }

// Top goes to the oldest line held.
func (m *Model) Top() {
	m.scroll = m.ring.Len()
	m.clamp()
}

// Following reports whether the pane shows the newest lines.
func (m Model) Following() bool { return m.scroll == 0 }

// Len is the number of lines held.
func (m Model) Len() int { return m.ring.Len() }

// Total is the number of step lines received since the program started.
func (m Model) Total() uint64 { return m.total }

// Step is the step the newest line came from.
func (m Model) Step() string { return m.step }

func (m *Model) clamp() {
	top := max(m.ring.Len()-m.height, 0)
	m.scroll = min(max(m.scroll, 0), top)
}

// Title says whose output this is and where the rest of it lives.
func (m Model) Title() string {
	var b strings.Builder
	b.WriteString("Output")
	if m.step != "" {
		b.WriteString(" · ")
		b.WriteString(m.step)
	}
	if m.total > 0 {
		fmt.Fprintf(&b, " · %d lines", m.total)
	}
	if m.scroll > 0 {
		fmt.Fprintf(&b, " · ↑%d", m.scroll)
	}
	return b.String()
}

// View renders exactly height lines, none wider than width.
func (m Model) View(st styles.Styles) string {
	if m.height <= 0 || m.width <= 0 {
		return ""
	}
	lines := make([]string, 0, m.height)
	rows := m.height
	if m.dropped > 0 {
		rows--
	}
	n := m.ring.Len()
	if n == 0 {
		lines = append(lines, st.Faint.Render(ansi.Truncate("No output yet: the running step's output streams here.", m.width, "…")))
	}
	first := max(n-rows-m.scroll, 0)
	for i := first; i < n && len(lines) < rows; i++ {
		l := m.ring.At(i)
		t := ansi.Truncate(l.Text, m.width, "…")
		if l.Mark {
			t = st.Muted.Render(t)
		}
		lines = append(lines, t)
	}
	for len(lines) < rows {
		lines = append(lines, "")
	}
	if m.dropped > 0 {
		lines = append(lines, st.Warn.Render(ansi.Truncate(fmt.Sprintf("%d lines arrived faster than the screen: see the step's log file", m.dropped), m.width, "…")))
	}
	return strings.Join(lines, "\n")
}
