// Package guide is the guide pane: the selected step's facts, checklist and
// actions above its guide section rendered as markdown by glamour. Rendering
// happens in a command and is cached per (guide, style); it does not depend
// on the pane's width, so the first one is asked for before the window's
// size is known, and a resize only wraps the rendered lines again. A new
// background asks for a new render.
package guide

import (
	"fmt"
	"io/fs"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/glamour/v2"
	gansi "charm.land/glamour/v2/ansi"
	gstyles "charm.land/glamour/v2/styles"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/common"
	"github.com/runbook-dev/runbook/ui/styles"
)

// Key names one rendering of one guide section.
type Key struct {
	Guide string // runbooks.GuideRef.String()
	Style string // glamour style name
}

// RenderedMsg carries a finished rendering.
type RenderedMsg struct {
	Key   Key
	Lines []string
	Err   error
}

// RenderCmd reads the guide section and renders it. It runs off the
// program's goroutine: reading the guide is I/O and glamour takes a few
// milliseconds (more the first time in a process).
func RenderCmd(fsys fs.FS, ref runbooks.GuideRef, k Key) tea.Cmd {
	return func() tea.Msg {
		lines, err := Render(fsys, ref, k)
		return RenderedMsg{Key: k, Lines: lines, Err: err}
	}
}

// Render reads and renders one guide section into lines, not wrapped (see
// Wrap). Soft line breaks of the source are joined (they are the author's
// editor's, not the reader's) and headings show without their markdown
// markers.
func Render(fsys fs.FS, ref runbooks.GuideRef, k Key) ([]string, error) {
	md, err := runbooks.GuideSection(fsys, ref)
	if err != nil {
		return nil, fmt.Errorf("read guide: %w", err)
	}
	// Wrapping is done here, not by glamour: it cannot hang a list item's
	// lines under its text.
	r, err := glamour.NewTermRenderer(glamour.WithStyles(style(k.Style)), glamour.WithWordWrap(0))
	if err != nil {
		return nil, fmt.Errorf("render guide %s: %w", ref, err)
	}
	out, err := r.Render(JoinSoftBreaks(termsafe.Text(md)))
	if err != nil {
		return nil, fmt.Errorf("render guide %s: %w", ref, err)
	}
	return strings.Split(strings.Trim(out, "\n"), "\n"), nil
}

// Wrap fits rendered lines into a pane width cells wide (the text takes
// width-2); list items wrap under their text, not their bullet.
func Wrap(rendered []string, width int) []string {
	w := max(width-2, 10)
	lines := make([]string, 0, len(rendered))
	for _, l := range rendered {
		lines = append(lines, hang(l, w)...)
	}
	return lines
}

// style is a glamour standard style with the heading markers (## ...)
// taken off: the heading's colour and weight say what it is.
func style(name string) gansi.StyleConfig {
	base, ok := gstyles.DefaultStyles[name]
	if !ok {
		base = gstyles.DefaultStyles[gstyles.DarkStyle]
	}
	c := *base
	bold := true
	for _, h := range []*gansi.StyleBlock{&c.H2, &c.H3, &c.H4, &c.H5, &c.H6} {
		h.Prefix = ""
		h.Bold = &bold
	}
	if name == gstyles.AsciiStyle || name == gstyles.NoTTYStyle {
		c.H1.Prefix, c.H1.Bold = "", &bold
	}
	return c
}

// hang wraps one rendered line at w cells; the lines it adds are indented
// to where the text starts: under a list item's text, not its bullet.
func hang(l string, w int) []string {
	if ansi.StringWidth(l) <= w {
		return []string{l}
	}
	plain := ansi.Strip(l)
	indent := len(plain) - len(strings.TrimLeft(plain, " "))
	rest := plain[indent:]
	switch {
	case strings.HasPrefix(rest, "• "), strings.HasPrefix(rest, "* "), strings.HasPrefix(rest, "- "):
		indent += 2
	default:
		if i := strings.Index(rest, ". "); i > 0 && i <= 3 && strings.Trim(rest[:i], "0123456789") == "" {
			indent += i + 2
		}
	}
	if indent >= w/2 {
		indent = 0
	}
	head := ansi.Cut(l, 0, indent)
	body := ansi.Cut(l, indent, ansi.StringWidth(l))
	parts := strings.Split(ansi.Wrap(body, w-indent, ""), "\n")
	out := make([]string, len(parts))
	pad := strings.Repeat(" ", indent)
	// Each line stands beside another pane's line: the style in force
	// where one ends is closed there and opened again on the next.
	open := ""
	for i, p := range parts {
		line := head + p
		if i > 0 {
			line = pad + open + strings.TrimLeft(p, " ")
		}
		if open = sgrOpen(line); open != "" {
			line += "\x1b[m"
		}
		out[i] = line
	}
	return out
}

// sgrOpen is the SGR sequences in force at the end of s: those after its
// last reset, in order ("" when none is).
func sgrOpen(s string) string {
	var open strings.Builder
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			return open.String()
		}
		j := i + 2
		for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
			j++
		}
		if j == len(s) {
			return open.String()
		}
		if s[j] == 'm' {
			switch params := s[i+2 : j]; {
			case params == "" || params == "0":
				open.Reset()
			case strings.HasPrefix(params, "0;"):
				open.Reset()
				open.WriteString(s[i : j+1])
			default:
				open.WriteString(s[i : j+1])
			}
		}
		s = s[j+1:]
	}
}

// JoinSoftBreaks joins the lines of each paragraph and list item into one
// line, as a browser shows them. Code blocks, headings, tables, block
// starts and hard breaks (two trailing spaces or a backslash) are kept.
func JoinSoftBreaks(md string) string {
	lines := strings.Split(md, "\n")
	out := make([]string, 0, len(lines))
	fence := ""
	joinable := false // the previous line is text a next line may continue
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if fence != "" {
			out = append(out, l)
			if strings.HasPrefix(t, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = t[:3]
			out = append(out, l)
			joinable = false
			continue
		}
		if t == "" || blockStart(t) || strings.HasPrefix(l, "    ") && !joinable {
			out = append(out, l)
			joinable = t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "|") && !strings.HasPrefix(l, "    ")
			continue
		}
		if joinable {
			prev := out[len(out)-1]
			if strings.HasSuffix(prev, "  ") || strings.HasSuffix(prev, "\\") {
				out = append(out, l)
				continue
			}
			out[len(out)-1] = strings.TrimRight(prev, " ") + " " + t
			continue
		}
		out = append(out, l)
		joinable = true
	}
	return strings.Join(out, "\n")
}

// blockStart: a line that begins a block of its own (never continues the
// line above).
func blockStart(t string) bool {
	switch {
	case strings.HasPrefix(t, "#"), strings.HasPrefix(t, ">"), strings.HasPrefix(t, "|"),
		strings.HasPrefix(t, "- "), strings.HasPrefix(t, "* "), strings.HasPrefix(t, "+ "),
		t == "---", t == "***", t == "___":
		return true
	}
	if i := strings.IndexAny(t, ".)"); i > 0 && i <= 3 && len(t) > i+1 && t[i+1] == ' ' && strings.Trim(t[:i], "0123456789") == "" {
		return true
	}
	return false
}

// maxCache bounds the cache: many resizes must not keep every width.
const maxCache = 64

type entry struct {
	rendered []string // as Render made them
	err      error
	// lines are rendered wrapped at width (Wrap).
	lines []string
	width int
}

// wrapped returns e with its lines wrapped at width.
func (e entry) wrapped(width int) entry {
	if e.err == nil && e.width != width {
		e.lines, e.width = Wrap(e.rendered, width), width
	}
	return e
}

// Model is the guide pane. The cache map is shared between copies of the
// model; only Update writes it (Need, Store).
type Model struct {
	cache         map[Key]entry
	pending       map[Key]bool
	offset        int
	forStep       string
	width, height int
}

// New makes an empty pane.
func New() Model {
	return Model{cache: map[Key]entry{}, pending: map[Key]bool{}}
}

// SetSize sets the text area (inside the frame).
func (m *Model) SetSize(w, h int) { m.width, m.height = max(w, 0), max(h, 0) }

// Width is the width the guide is wrapped at.
func (m Model) Width() int { return m.width }

// KeyFor is the cache key of a guide in a style.
func (m Model) KeyFor(ref runbooks.GuideRef, style string) Key {
	return Key{Guide: ref.String(), Style: style}
}

// Need returns the command that renders the guide, or nil when it is
// cached (then wrapped at the current width) or already on its way. The
// pane needs no size for it.
func (m *Model) Need(fsys fs.FS, ref runbooks.GuideRef, style string) tea.Cmd {
	if ref.File == "" {
		return nil
	}
	k := m.KeyFor(ref, style)
	if e, ok := m.cache[k]; ok {
		if m.width > 0 {
			m.cache[k] = e.wrapped(m.width)
		}
		return nil
	}
	if m.pending[k] {
		return nil
	}
	m.pending[k] = true
	return RenderCmd(fsys, ref, k)
}

// Store keeps a rendering, wrapped at the current width.
func (m *Model) Store(msg RenderedMsg) {
	delete(m.pending, msg.Key)
	if len(m.cache) >= maxCache {
		clear(m.cache)
	}
	e := entry{rendered: msg.Lines, err: msg.Err}
	if m.width > 0 {
		e = e.wrapped(m.width)
	}
	m.cache[msg.Key] = e
}

// Cached reports whether a rendering is held.
func (m Model) Cached(k Key) bool {
	_, ok := m.cache[k]
	return ok
}

// Scroll moves the view by n lines; Home and End go to the ends.
func (m *Model) Scroll(n int) { m.offset = max(m.offset+n, 0) }

// Home goes to the top.
func (m *Model) Home() { m.offset = 0 }

// End goes to the bottom.
func (m *Model) End() { m.offset = 1 << 30 }

// Props is what the pane draws: the step, its state, its actions.
type Props struct {
	Step    runbooks.Step
	State   steps.StepState
	Timing  steps.StepTiming
	Actions *Described // nil while being described
	Style   string     // glamour style
	Styles  styles.Styles
	// Busy is true while the UI has an action of this step in flight.
	Busy bool
	// Prompt is what the manual action the step waits on asks for.
	Prompt string
}

// Described is the plan of a step's actions, in words.
type Described struct {
	Do, Verify, Undo []string
}

// Describe says what each action of a step will do, redacted
// (steps.DescribeAction).
func Describe(step runbooks.Step, env *steps.Env) *Described {
	one := func(list []runbooks.Action) []string {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, steps.DescribeAction(a, env))
		}
		return out
	}
	return &Described{Do: one(step.Do), Verify: one(step.Verify), Undo: one(step.Undo)}
}

// Follow resets the scroll when the selection moves to another step.
func (m *Model) Follow(step string) {
	if step != m.forStep {
		m.forStep, m.offset = step, 0
	}
}

// View renders exactly height lines of at most width cells.
func (m Model) View(p Props) string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	lines := m.head(p)
	k := m.KeyFor(p.Step.Guide, p.Style)
	if e, ok := m.cache[k]; ok {
		e = e.wrapped(m.width) // a no-op once Need or Store wrapped it
		if e.err != nil {
			lines = append(lines, p.Styles.Bad.Render(termsafe.Flat(e.err.Error())))
		} else {
			lines = append(lines, e.lines...)
		}
	} else if p.Step.Guide.File != "" {
		lines = append(lines, p.Styles.Faint.Render("Rendering guide "+termsafe.Line(p.Step.Guide.String())+"…"))
	}
	off := min(m.offset, max(len(lines)-m.height, 0))
	end := min(off+m.height, len(lines))
	out := make([]string, 0, m.height)
	for _, l := range lines[off:end] {
		if ansi.StringWidth(l) > m.width {
			l = ansi.Truncate(l, m.width, "…")
		}
		out = append(out, l)
	}
	for len(out) < m.height {
		out = append(out, "")
	}
	return strings.Join(out, "\n")
}

// head is the block above the guide: status, budget, reason or error,
// checklist, actions.
func (m Model) head(p Props) []string {
	st := p.Styles
	s := p.Step
	w := m.width
	cut := func(x string) string { return ansi.Truncate(x, w, "…") }
	// Every text from the runbook, the journal or a target goes through
	// termsafe: an escape sequence in it must not reach the terminal.
	safe := termsafe.Line
	var out []string
	// wrap keeps sentences the operator must read whole (errors, reasons,
	// what a dirty step needs) on as many lines as they take.
	wrap := func(style func(...string) string, x string) {
		for _, l := range strings.Split(ansi.Wrap(safe(x), w, " "), "\n") {
			out = append(out, style(l))
		}
	}
	status := p.State.Status
	icon := common.StatusStyle(st, status)(common.Icon(status) + " " + status.String())
	if p.Busy && !status.Busy() {
		icon = st.Running.Render(common.Icon(steps.Running) + " starting")
	}
	out = append(out, st.Title.Render(cut(safe(s.Title))))
	facts := fmt.Sprintf("%s · budget %s", safe(s.ID), common.Dur(s.Budget))
	if !p.Timing.PlannedStart.IsZero() {
		facts += " · planned " + p.Timing.PlannedStart.Format("15:04") + "–" + p.Timing.PlannedEnd.Format("15:04")
	}
	if p.Timing.Elapsed > 0 {
		facts += " · used " + common.Dur(p.Timing.Elapsed)
	}
	if p.State.Attempts > 1 {
		facts += fmt.Sprintf(" · attempt %d", p.State.Attempts)
	}
	out = append(out, cut(icon+"  "+st.Muted.Render(facts)))
	switch {
	case status == steps.Dirty:
		what := "in flight"
		if p.State.InFlight != 0 {
			what = p.State.InFlight.String()
		}
		wrap(st.Bad.Render, "Dirty: the last session ended while this step was "+what+". Enter: verify / retry / mark done / undo.")
	case status == steps.AwaitingOperator:
		wrap(st.Warn.Render, "Waiting for you: "+p.Prompt+" Enter confirms.")
	case p.State.LastErr != "":
		wrap(st.Bad.Render, "Error: "+p.State.LastErr)
	}
	if p.State.Reason != "" {
		wrap(st.Muted.Render, "Reason: "+p.State.Reason)
	}
	if n := len(p.State.Notes); n > 0 {
		last := p.State.Notes[n-1]
		wrap(st.Muted.Render, fmt.Sprintf("Notes (%d), last by %s: %s", n, last.By, last.Text))
	}
	if len(s.Checklist) > 0 {
		done := 0
		for i := range s.Checklist {
			if p.State.Checked[i] {
				done++
			}
		}
		out = append(out, "", st.Phase.Render(fmt.Sprintf("Checklist %d/%d", done, len(s.Checklist)))+st.Faint.Render("  space: tick next · 1-9: toggle"))
		for i, item := range s.Checklist {
			box := "[ ]"
			if p.State.Checked[i] {
				box = st.OK.Render("[x]")
			}
			out = append(out, cut(fmt.Sprintf(" %s %d. %s", box, i+1, safe(item))))
		}
	}
	if d := p.Actions; d != nil && (len(d.Do)+len(d.Verify)+len(d.Undo)) > 0 {
		out = append(out, "", st.Phase.Render("Actions"))
		list := func(label string, xs []string) {
			for i, x := range xs {
				l := "       "
				if i == 0 {
					l = fmt.Sprintf(" %-6s", label)
				}
				out = append(out, cut(st.Muted.Render(l)+" "+safe(x)))
			}
		}
		list("do", d.Do)
		list("verify", d.Verify)
		list("undo", d.Undo)
	}
	out = append(out, st.Faint.Render(strings.Repeat("─", w)))
	return out
}

// ViewKey is the pane's own state that View depends on (besides Props),
// for caching a drawing: scroll offset and size.
func (m Model) ViewKey() [4]int { return [4]int{m.offset, m.width, m.height, 0} }
