// Package dialog is the one modal of the main screen: a question that takes
// a line of text (a skip reason, a note), a yes/no confirmation, or a choice
// among options (what to do with a dirty step). While it is open it gets
// every key; the parent acts on its Result.
package dialog

import (
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/styles"
)

// Kind is the shape of a dialog.
type Kind uint8

// Dialog kinds.
const (
	Input   Kind = iota + 1 // a line of text; Required refuses an empty one
	Confirm                 // y / n
	Choose                  // one of Options, by arrow+enter or its key
)

// Option is one choice of a Choose dialog.
type Option struct {
	Key   string // the letter that picks it
	Label string
	// Disabled says why it cannot be chosen ("" when it can).
	Disabled string
}

// Model is an open dialog.
type Model struct {
	Kind     Kind
	Title    string
	Prompt   string
	Required bool
	// Missing is what an empty answer to a Required input is told.
	Missing string
	Options []Option
	// Tag is the parent's note of what the dialog is for.
	Tag    int
	Step   string
	input  textinput.Model
	cursor int
	err    string
}

// Result is what a key did to the dialog.
type Result struct {
	Done     bool // submitted
	Canceled bool
	Value    string // Input: the text
	Yes      bool   // Confirm
	Choice   int    // Choose: the option index
}

// NewInput opens a text question.
func NewInput(title, prompt, placeholder string, required bool) (Model, tea.Cmd) {
	ti := textinput.New()
	ti.Placeholder = placeholder
	ti.CharLimit = 500
	ti.Prompt = "› "
	cmd := ti.Focus()
	return Model{Kind: Input, Title: title, Prompt: prompt, Required: required, input: ti}, cmd
}

// NewConfirm opens a yes/no question.
func NewConfirm(title, prompt string) Model {
	return Model{Kind: Confirm, Title: title, Prompt: prompt}
}

// NewChoose opens a choice; the cursor starts on the first enabled option.
func NewChoose(title, prompt string, opts []Option) Model {
	m := Model{Kind: Choose, Title: title, Prompt: prompt, Options: opts}
	for i, o := range opts {
		if o.Disabled == "" {
			m.cursor = i
			break
		}
	}
	return m
}

// SetStyles gives the text input the theme's look.
func (m *Model) SetStyles(st styles.Styles) {
	s := textinput.DefaultStyles(st.Theme.Dark)
	m.input.SetStyles(s)
}

// SetError shows why the answer was refused; the dialog stays open.
func (m *Model) SetError(s string) { m.err = s }

// Cursor is the option under the cursor (Choose).
func (m Model) Cursor() int { return m.cursor }

// Value is the text typed so far (Input).
func (m Model) Value() string { return m.input.Value() }

// Update handles one message: keys answer the dialog, anything else goes to
// the text input (cursor blink).
func (m Model) Update(msg tea.Msg) (Model, Result, tea.Cmd) {
	k, isKey := msg.(tea.KeyPressMsg)
	if isKey && (k.String() == "esc" || k.String() == "ctrl+c") {
		return m, Result{Canceled: true}, nil
	}
	switch m.Kind {
	case Input:
		if isKey && k.String() == "enter" {
			v := strings.TrimSpace(m.input.Value())
			if m.Required && v == "" {
				m.err = m.Missing
				if m.err == "" {
					m.err = "a reason is required (esc cancels)"
				}
				return m, Result{}, nil
			}
			return m, Result{Done: true, Value: v}, nil
		}
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		if isKey {
			m.err = ""
		}
		return m, Result{}, cmd
	case Confirm:
		if !isKey {
			return m, Result{}, nil
		}
		// Only y answers yes: an enter pressed out of habit (or meant for
		// the main screen) must not start an undo or a quit.
		switch strings.ToLower(k.String()) {
		case "y":
			return m, Result{Done: true, Yes: true}, nil
		case "n":
			return m, Result{Canceled: true}, nil
		case "enter":
			m.err = "press y to go on, n or esc to leave it"
		}
	case Choose:
		if !isKey {
			return m, Result{}, nil
		}
		switch k.String() {
		case "up", "k", "shift+tab":
			m.move(-1)
		case "down", "j", "tab":
			m.move(1)
		case "enter":
			return m.pick(m.cursor)
		default:
			for i, o := range m.Options {
				if k.String() == o.Key {
					m.cursor = i
					return m.pick(i)
				}
			}
		}
	}
	return m, Result{}, nil
}

func (m *Model) move(d int) {
	n := len(m.Options)
	for range n {
		m.cursor = (m.cursor + d + n) % n
		if m.Options[m.cursor].Disabled == "" {
			return
		}
	}
}

func (m Model) pick(i int) (Model, Result, tea.Cmd) {
	if i < 0 || i >= len(m.Options) {
		return m, Result{}, nil
	}
	if why := m.Options[i].Disabled; why != "" {
		m.err = m.Options[i].Label + ": " + why
		return m, Result{}, nil
	}
	return m, Result{Done: true, Choice: i}, nil
}

// Help is the dialog's keys, for the footer while it is open.
func (m Model) Help() [][2]string {
	switch m.Kind {
	case Input:
		return [][2]string{{"enter", "save"}, {"esc", "cancel"}}
	case Confirm:
		return [][2]string{{"y", "yes"}, {"n/esc", "no"}}
	case Choose:
		var keys []string
		for _, o := range m.Options {
			if o.Disabled == "" {
				keys = append(keys, o.Key)
			}
		}
		return [][2]string{{"↑/↓", "move"}, {"enter", "choose"}, {strings.Join(keys, "/"), "pick"}, {"esc", "cancel"}}
	}
	return nil
}

// View renders the dialog box at most w cells wide.
func (m Model) View(st styles.Styles, w int) string {
	inner := max(w-4, 10)
	cut := func(s string) string { return ansi.Truncate(s, inner, "…") }
	lines := []string{st.DialogTitle.Render(cut(termsafe.Line(m.Title)))}
	if m.Prompt != "" {
		for _, l := range strings.Split(ansi.Wrap(termsafe.Text(m.Prompt), inner, ""), "\n") {
			lines = append(lines, cut(l))
		}
	}
	switch m.Kind {
	case Input:
		m.input.SetWidth(inner - 3)
		lines = append(lines, m.input.View(), st.Faint.Render(cut("enter: save · esc: cancel")))
	case Confirm:
		lines = append(lines, st.Faint.Render(cut("y: yes · n/esc: no")))
	case Choose:
		for i, o := range m.Options {
			mark := "  "
			if i == m.cursor {
				mark = "› "
			}
			label := st.Key.Render(o.Key) + "  " + o.Label
			if o.Disabled != "" {
				label = st.Faint.Render(o.Key + "  " + o.Label + " (" + o.Disabled + ")")
			} else if i == m.cursor {
				label = st.Selected.Render(o.Key + "  " + o.Label)
			}
			lines = append(lines, cut(mark+label))
		}
		lines = append(lines, st.Faint.Render(cut("↑/↓ enter or a letter: choose · esc: cancel")))
	}
	if m.err != "" {
		lines = append(lines, st.Bad.Render(cut(m.err)))
	}
	return st.Dialog.Width(w).Render(strings.Join(lines, "\n"))
}
