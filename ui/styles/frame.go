package styles

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// Frame draws body inside a w×h box with the title set into the top edge.
// Body lines are cut to the inner width and the body to the inner height,
// so a pane can never push the layout out of shape.
func (s Styles) Frame(title, body string, w, h int, focused bool) string {
	if w < 2 || h < 2 {
		return ""
	}
	b, edge, ts := s.Border, s.Edge, s.PaneTitle
	if focused {
		b, edge, ts = s.BorderOn, s.EdgeOn, s.PaneTitleOn
	}
	inner := w - 2
	var out strings.Builder
	out.Grow((w + 16) * h)

	// Top edge: ╭─ Title ────╮
	title = ansi.Truncate(title, max(inner-3, 0), "…")
	top := b.TopLeft + b.Top
	fill := inner - 1
	if title != "" && inner >= 4 {
		top += " "
		fill -= ansi.StringWidth(title) + 2
	}
	out.WriteString(edge.Render(top))
	if title != "" && inner >= 4 {
		out.WriteString(ts.Render(title))
		out.WriteString(edge.Render(" " + strings.Repeat(b.Top, max(fill, 0)) + b.TopRight))
	} else {
		out.WriteString(edge.Render(strings.Repeat(b.Top, max(fill, 0)) + b.TopRight))
	}

	left, right := edge.Render(b.Left), edge.Render(b.Right)
	lines := strings.Split(body, "\n")
	for i := 0; i < h-2; i++ {
		out.WriteByte('\n')
		out.WriteString(left)
		var l string
		if i < len(lines) {
			l = lines[i]
		}
		lw := ansi.StringWidth(l)
		if lw > inner {
			l = ansi.Truncate(l, inner, "…")
			lw = ansi.StringWidth(l)
		}
		out.WriteString(l)
		out.WriteString(strings.Repeat(" ", inner-lw))
		out.WriteString(right)
	}
	out.WriteByte('\n')
	out.WriteString(edge.Render(b.BottomLeft + strings.Repeat(b.Bottom, inner) + b.BottomRight))
	return out.String()
}
