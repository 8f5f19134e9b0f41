// Command floor is the yardstick of runbook's start-up benchmark: the
// least a Bubble Tea v2 program can do to show the same guide section
// rendered by glamour v2 — read the markdown, render it at the window's
// width, draw it with a title and a help line, quit on q. Anything runbook
// takes beyond this is runbook's own cost.
//
//	floor GUIDE.md
package main

import (
	"fmt"
	"os"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/glamour/v2"
)

type model struct {
	md, guide     string
	width, height int
	err           error
}

type renderedMsg struct {
	out string
	err error
}

func (m model) Init() tea.Cmd { return nil }

func render(md string, width int) tea.Cmd {
	return func() tea.Msg {
		r, err := glamour.NewTermRenderer(glamour.WithStandardStyle("dark"), glamour.WithWordWrap(max(width-4, 10)))
		if err != nil {
			return renderedMsg{err: err}
		}
		out, err := r.Render(md)
		return renderedMsg{out: strings.Trim(out, "\n"), err: err}
	}
}

func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, render(m.md, msg.Width)
	case renderedMsg:
		m.guide, m.err = msg.out, msg.err
	case tea.KeyPressMsg:
		if msg.String() == "q" || msg.String() == "ctrl+c" {
			return m, tea.Quit
		}
	}
	return m, nil
}

func (m model) View() tea.View {
	var b strings.Builder
	b.WriteString("Guide\n\n")
	switch {
	case m.err != nil:
		b.WriteString(m.err.Error())
	case m.guide == "":
		b.WriteString("Rendering guide…")
	default:
		// As much of the guide as the window holds, as a pane would.
		lines := strings.Split(m.guide, "\n")
		b.WriteString(strings.Join(lines[:min(len(lines), max(m.height-5, 1))], "\n"))
	}
	b.WriteString("\n\nq quit\n")
	v := tea.NewView(b.String())
	v.AltScreen = true
	return v
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: floor GUIDE.md")
		os.Exit(2)
	}
	md, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := tea.NewProgram(model{md: string(md)}).Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
