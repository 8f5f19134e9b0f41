package ui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/components/dialog"
	"github.com/runbook-dev/runbook/ui/styles"
)

// NeedsDay reports whether a new run must first ask which day its window
// is on: the runbook is planned for another day than today.
func NeedsDay(rb *runbooks.Runbook, now time.Time) bool {
	loc := rb.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	return rb.Schedule.Date != "" && now.In(loc).Format("2006-01-02") != rb.Schedule.Date
}

// DayModel is the question a new run asks before anything else when the
// runbook is planned for another day: the planned date, today, or another
// date (typed, checked). Its own small program, run before the session
// opens: the answer decides the clocks of the whole run.
type DayModel struct {
	rb            *runbooks.Runbook
	today         string
	dlg           dialog.Model
	typing        bool
	answer        string
	st            styles.Styles
	width, height int
}

// NewDayQuestion asks on which day a new run of rb takes place.
func NewDayQuestion(rb *runbooks.Runbook, now time.Time, noColor bool) DayModel {
	loc := rb.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	today := now.In(loc).Format("2006-01-02")
	m := DayModel{rb: rb, today: today, st: styles.New(styles.Theme{Dark: true, NoColor: noColor})}
	m.dlg = dialog.NewChoose("Which day is this window on?", m.prompt(), []dialog.Option{
		{Key: "p", Label: "the planned date, " + longDay(rb.Schedule.Date, loc) + ""},
		{Key: "t", Label: "today, " + longDay(today, loc) + " (the same times)"},
		{Key: "o", Label: "another date… (type YYYY-MM-DD)"},
	})
	// Today is the likelier answer on a day that is not the planned one.
	m.dlg, _, _ = m.dlg.Update(tea.KeyPressMsg{Code: tea.KeyDown})
	return m
}

func (m DayModel) prompt() string {
	return fmt.Sprintf("%s is planned for %s; today is %s. No run has started yet: the run keeps the day chosen now, and every clock (slots, buffer, ahead or behind) counts on it.",
		termsafe.Line(m.rb.Title), m.rb.Schedule.Date, m.today)
}

func longDay(date string, loc *time.Location) string {
	d, err := time.ParseInLocation("2006-01-02", date, loc)
	if err != nil {
		return date
	}
	return d.Format("Mon 2 Jan 2006")
}

// Answer is the chosen day (YYYY-MM-DD); false when the operator left.
func (m DayModel) Answer() (string, bool) { return m.answer, m.answer != "" }

// Init starts nothing.
func (m DayModel) Init() tea.Cmd { return nil }

// Update takes keys for the question.
func (m DayModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case tea.KeyPressMsg:
		if msg.String() == "ctrl+c" || !m.typing && msg.String() == "q" {
			return m, tea.Quit
		}
		d, res, cmd := m.dlg.Update(msg)
		m.dlg = d
		switch {
		case res.Canceled && m.typing:
			// Back to the three choices.
			m = NewDayQuestion(m.rb, mustDay(m.today, m.rb), m.st.Theme.NoColor)
			return m, nil
		case res.Canceled:
			return m, tea.Quit
		case res.Done && m.typing:
			return m.typed(res.Value)
		case res.Done:
			switch res.Choice {
			case 0:
				m.answer = m.rb.Schedule.Date
				return m, tea.Quit
			case 1:
				m.answer = m.today
				return m, tea.Quit
			case 2:
				m.typing = true
				var c tea.Cmd
				m.dlg, c = dialog.NewInput("Which day is this window on?", "The window's date, YYYY-MM-DD (esc: back to the choices).", m.today, true)
				m.dlg.SetStyles(m.st)
				m.dlg.Missing = "type a date, YYYY-MM-DD (esc: back)"
				return m, c
			}
		}
		return m, cmd
	}
	if m.typing {
		d, _, cmd := m.dlg.Update(msg)
		m.dlg = d
		return m, cmd
	}
	return m, nil
}

// typed checks a typed date: a real day, in the runbook's time zone.
func (m DayModel) typed(v string) (tea.Model, tea.Cmd) {
	v = strings.TrimSpace(v)
	if _, err := m.rb.OnDate(v); err != nil {
		m.dlg.SetError(fmt.Sprintf("%q is not a date: type YYYY-MM-DD, e.g. %s", termsafe.Line(v), m.today))
		return m, nil
	}
	m.answer = v
	return m, tea.Quit
}

func mustDay(date string, rb *runbooks.Runbook) time.Time {
	loc := rb.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	d, _ := time.ParseInLocation("2006-01-02", date, loc)
	return d.Add(12 * time.Hour)
}

// View draws the question in the middle of the screen.
func (m DayModel) View() tea.View {
	w := min(max(m.width, 40), 96)
	box := m.dlg.View(m.st, w-4)
	title := m.st.Title.Render(ansi.Truncate(termsafe.Line(m.rb.Title), w-4, "…"))
	help := m.st.Muted.Render("↑/↓ enter or p/t/o: choose · q/esc: leave without starting") + "\n" +
		m.st.Faint.Render("--date today or --date YYYY-MM-DD answers this on the command line.")
	if m.typing {
		help = m.st.Muted.Render("enter: use this date · esc: back")
	}
	body := title + "\n\n" + box + "\n" + help
	pad := strings.Repeat(" ", max((m.width-w)/2, 0))
	lines := strings.Split(body, "\n")
	for i := range lines {
		lines[i] = pad + lines[i]
	}
	top := strings.Repeat("\n", max((m.height-len(lines))/3, 0))
	v := tea.NewView(top + strings.Join(lines, "\n"))
	v.AltScreen = true
	v.WindowTitle = "runbook · which day?"
	return v
}
