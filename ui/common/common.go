// Package common holds what the UI's components share: how a status, a
// duration and a budget bar look. Pure functions of their arguments.
package common

import (
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui/styles"
)

// Icon is the status glyph of a step; every status has its own, so the
// timeline reads without colour.
func Icon(s steps.Status) string {
	switch s {
	case steps.Pending:
		return "○"
	case steps.Running:
		return "▶"
	case steps.Verifying:
		return "◎"
	case steps.AwaitingOperator:
		return "◆"
	case steps.Succeeded:
		return "✓"
	case steps.Failed:
		return "✗"
	case steps.Skipped:
		return "↷"
	case steps.Undoing:
		return "↺"
	case steps.Undone:
		return "↶"
	case steps.Dirty:
		return "!"
	}
	return "?"
}

// StatusStyle is the colour of a status.
func StatusStyle(st styles.Styles, s steps.Status) func(...string) string {
	switch s {
	case steps.Succeeded:
		return st.OK.Render
	case steps.Failed, steps.Dirty:
		return st.Bad.Render
	case steps.Running, steps.Verifying, steps.Undoing:
		return st.Running.Render
	case steps.AwaitingOperator:
		return st.Warn.Render
	case steps.Skipped, steps.Undone:
		return st.Muted.Render
	}
	return st.Faint.Render
}

// Bar draws used against budget in w cells: green while inside the budget,
// red once over it.
func Bar(st styles.Styles, used, budget time.Duration, w int) string {
	eighths, over := BarFill(used, budget, w)
	return DrawBar(st, eighths, over, w)
}

// BarFill is how much of w cells a bar of used against budget fills, in
// eighths of a cell, and whether it is over the budget. Any work fills an
// eighth at least: it shows, without looking like a whole cell's share.
func BarFill(used, budget time.Duration, w int) (eighths int, over bool) {
	if w <= 0 || budget <= 0 {
		return 0, false
	}
	if used > budget {
		return 8 * w, true
	}
	eighths = int(int64(8*w) * int64(used) / int64(budget))
	if used > 0 && eighths == 0 {
		eighths = 1
	}
	return min(eighths, 8*w), false
}

// partialCell draws n eighths of a cell (1 to 7), filled from the left.
var partialCell = [8]string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// DrawBar draws a bar filled to eighths of its w cells: whole cells, then
// the part of one.
func DrawBar(st styles.Styles, eighths int, over bool, w int) string {
	if w <= 0 {
		return ""
	}
	if over {
		return st.BarOver.Render(strings.Repeat("█", w))
	}
	if eighths == 0 {
		return st.BarEmpty.Render(strings.Repeat("░", w))
	}
	full, part := eighths/8, partialCell[eighths%8]
	empty := w - full
	if part != "" {
		empty--
	}
	return st.BarFull.Render(strings.Repeat("█", full)+part) + st.BarEmpty.Render(strings.Repeat("░", empty))
}

// Dur writes a duration compactly: 45s, 12m, 1h05, 2h, 3d04h (the
// engine's compact format).
func Dur(d time.Duration) string { return steps.FormatCompact(d) }
