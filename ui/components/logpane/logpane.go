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
// program's Update goroutine touches it. It shows one step's lines (the
// selected step's), long lines wrapped at the pane's width.
type Model struct {
	ring    *Ring
	scroll  int // lines of the shown step above the bottom; 0 follows new output
	total   uint64
	dropped uint64
	step    string // the step the newest line came from
	show    string // the selected step
	// LogPath names a step's log file (nil: titles name none).
	LogPath       func(step string) string
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
	shown := 0
	for _, l := range lines {
		m.ring.Push(l)
		if !l.Mark {
			m.step = l.Step
			m.total++
		}
		if l.Step == m.Shown() {
			shown++
		}
	}
	m.dropped = dropped
	if m.scroll > 0 {
		// Reading back: keep the same lines in view while output arrives.
		m.scroll += shown
		m.clamp()
	}
}

// Mark writes a separator line of the UI's own (a new run of a step).
func (m *Model) Mark(step, text string) {
	m.Append([]Line{{Step: step, Text: text, Mark: true}}, m.dropped)
	m.step = step
}

// Show selects the step whose lines the pane shows. Until that step has
// output, the pane shows the step that last had some, and its title says
// which.
func (m *Model) Show(step string) {
	if step != m.show {
		m.scroll = 0
	}
	m.show = step
}

// Shown is the step whose lines the pane shows: the selected one, or,
// while it has none held, the one that last printed.
func (m Model) Shown() string {
	if m.has(m.show) || m.step == "" {
		return m.show
	}
	return m.step
}

func (m Model) has(step string) bool {
	for i := m.ring.Len() - 1; i >= 0; i-- {
		if m.ring.At(i).Step == step {
			return true
		}
	}
	return false
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

// Lines are the held lines of one step, oldest first.
func (m Model) Lines(step string) []Line {
	var out []Line
	for i := range m.ring.Len() {
		if l := m.ring.At(i); l.Step == step {
			out = append(out, l)
		}
	}
	return out
}

// count is the number of held lines of the shown step.
func (m Model) count() int {
	n := 0
	shown := m.Shown()
	for i := range m.ring.Len() {
		if m.ring.At(i).Step == shown {
			n++
		}
	}
	return n
}

func (m *Model) clamp() {
	top := max(m.count()-m.height, 0)
	m.scroll = min(max(m.scroll, 0), top)
}

// Title says whose output this is and where the rest of it lives.
func (m Model) Title() string {
	var b strings.Builder
	b.WriteString("Output")
	shown := m.Shown()
	if shown != "" {
		b.WriteString(" · ")
		b.WriteString(shown)
		if shown != m.show {
			b.WriteString(" (last run)")
		}
	}
	if m.scroll > 0 {
		fmt.Fprintf(&b, " · ↑%d", m.scroll)
	}
	if m.LogPath != nil && shown != "" {
		if p := m.LogPath(shown); p != "" {
			b.WriteString(" · ")
			b.WriteString(p)
		}
	}
	return b.String()
}

// View renders exactly height lines, none wider than width: the shown
// step's newest lines (less the scroll), each wrapped at the width.
func (m Model) View(st styles.Styles) string {
	if m.height <= 0 || m.width <= 0 {
		return ""
	}
	rows := m.height
	if m.dropped > 0 {
		rows--
	}
	// Walk back from the newest line of the shown step, wrapping each,
	// until the window is full.
	var rev []string
	skip := m.scroll
	any := false
	shown := m.Shown()
	for i := m.ring.Len() - 1; i >= 0 && len(rev) < rows; i-- {
		l := m.ring.At(i)
		if l.Step != shown {
			continue
		}
		any = true
		if skip > 0 {
			skip--
			continue
		}
		parts := Wrap(l.Text, m.width)
		for j := len(parts) - 1; j >= 0 && len(rev) < rows; j-- {
			t := parts[j]
			if l.Mark {
				t = st.Muted.Render(t)
			}
			rev = append(rev, t)
		}
	}
	lines := make([]string, 0, m.height)
	if !any {
		msg := "No output yet: the step's output streams here when it runs."
		lines = append(lines, st.Faint.Render(ansi.Truncate(msg, m.width, "…")))
	}
	for i := len(rev) - 1; i >= 0; i-- {
		lines = append(lines, rev[i])
	}
	for len(lines) < rows {
		lines = append(lines, "")
	}
	if m.dropped > 0 {
		lines = append(lines, st.Warn.Render(ansi.Truncate(fmt.Sprintf("%d lines arrived faster than the screen: see the step's log file", m.dropped), m.width, "…")))
	}
	return strings.Join(lines, "\n")
}

// Wrap cuts a line into pieces of at most w cells, at spaces where it can
// and inside long words where it must.
func Wrap(s string, w int) []string {
	if w <= 0 || ansi.StringWidth(s) <= w {
		return []string{s}
	}
	return strings.Split(ansi.Wrap(s, w, ""), "\n")
}
