// Package styles turns a theme (dark or light background, colour or not)
// into the one Styles struct every pane draws with. Colours are semantic:
// panes ask for "ok" or "bad", never for a hex value.
package styles

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Theme is what the styles depend on.
type Theme struct {
	// Dark is the terminal background as reported by the terminal (dark
	// until it answers).
	Dark bool
	// NoColor draws with attributes only (bold, reverse, faint): NO_COLOR.
	NoColor bool
}

// Styles is every style the UI uses, built once per theme.
type Styles struct {
	Theme Theme

	App      lipgloss.Style
	Title    lipgloss.Style
	Muted    lipgloss.Style
	Faint    lipgloss.Style
	Accent   lipgloss.Style
	OK       lipgloss.Style
	Warn     lipgloss.Style
	Bad      lipgloss.Style
	Running  lipgloss.Style
	Selected lipgloss.Style // the selected timeline row
	Current  lipgloss.Style // marker of the step the run is on
	Phase    lipgloss.Style // phase heading rows

	// Pane frames: border glyphs and their style, unfocused and focused.
	Border      lipgloss.Border
	BorderOn    lipgloss.Border
	Edge        lipgloss.Style
	EdgeOn      lipgloss.Style
	PaneTitle   lipgloss.Style
	PaneTitleOn lipgloss.Style

	BarFull  lipgloss.Style
	BarOver  lipgloss.Style
	BarEmpty lipgloss.Style

	Dialog      lipgloss.Style
	DialogTitle lipgloss.Style
	Key         lipgloss.Style

	Help help.Styles
}

// Glamour is the glamour style name matching the theme.
func (t Theme) Glamour() string {
	switch {
	case t.NoColor:
		return "ascii"
	case t.Dark:
		return "dark"
	default:
		return "light"
	}
}

// New builds the styles of a theme.
func New(t Theme) Styles {
	ld := lipgloss.LightDark(t.Dark)
	c := func(light, dark string) color.Color {
		if t.NoColor {
			return lipgloss.NoColor{}
		}
		return ld(lipgloss.Color(light), lipgloss.Color(dark))
	}
	var (
		muted   = c("#6C6C6C", "#8A8A8A")
		faint   = c("#A8A8A8", "#5A5A5A")
		accent  = c("#5A3FD6", "#A78BFA")
		ok      = c("#1E7B34", "#4ADE80")
		warn    = c("#9A6700", "#FBBF24")
		bad     = c("#C4262E", "#F87171")
		running = c("#0969DA", "#60A5FA")
		selBg   = c("#E4DEFB", "#3B2F6B")
		border  = c("#C8C8C8", "#444444")
	)
	s := Styles{Theme: t}
	s.App = lipgloss.NewStyle()
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Muted = lipgloss.NewStyle().Foreground(muted)
	s.Faint = lipgloss.NewStyle().Foreground(faint).Faint(t.NoColor)
	s.Accent = lipgloss.NewStyle().Foreground(accent)
	s.OK = lipgloss.NewStyle().Foreground(ok)
	s.Warn = lipgloss.NewStyle().Foreground(warn).Bold(true)
	s.Bad = lipgloss.NewStyle().Foreground(bad).Bold(true)
	s.Running = lipgloss.NewStyle().Foreground(running).Bold(true)
	s.Selected = lipgloss.NewStyle().Background(selBg).Bold(true)
	s.Current = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.Phase = lipgloss.NewStyle().Bold(true)
	if t.NoColor {
		// Without colour the selection must still be unmistakable.
		s.Selected = lipgloss.NewStyle().Reverse(true)
	}

	s.Border, s.BorderOn = lipgloss.RoundedBorder(), lipgloss.RoundedBorder()
	s.Edge = lipgloss.NewStyle().Foreground(border)
	s.EdgeOn = lipgloss.NewStyle().Foreground(accent)
	if t.NoColor {
		// Focus shows as a heavier line when colour cannot show it.
		s.Border, s.BorderOn = lipgloss.NormalBorder(), lipgloss.ThickBorder()
	}
	s.PaneTitle = lipgloss.NewStyle().Foreground(muted)
	s.PaneTitleOn = lipgloss.NewStyle().Foreground(accent).Bold(true)

	s.BarFull = lipgloss.NewStyle().Foreground(ok)
	s.BarOver = lipgloss.NewStyle().Foreground(bad)
	s.BarEmpty = lipgloss.NewStyle().Foreground(faint)

	s.Dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1)
	if t.NoColor {
		s.Dialog = lipgloss.NewStyle().Border(lipgloss.DoubleBorder()).Padding(0, 1)
	}
	s.DialogTitle = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Key = lipgloss.NewStyle().Bold(true).Foreground(accent)

	s.Help = help.DefaultStyles(t.Dark)
	if t.NoColor {
		plain := lipgloss.NewStyle()
		s.Help = help.Styles{
			Ellipsis: plain, ShortKey: plain.Bold(true), ShortDesc: plain, ShortSeparator: plain,
			FullKey: plain.Bold(true), FullDesc: plain, FullSeparator: plain,
		}
	}
	return s
}
