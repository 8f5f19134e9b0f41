// Package keymap holds the one table of key bindings and the one function
// that turns a key press into a typed action. Panes never look at raw keys
// for commands: they receive actions.
package keymap

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Action is what the operator asked for.
type Action uint8

// Actions, in help order.
const (
	None Action = iota
	Up
	Down
	PageUp
	PageDown
	Top
	Bottom
	Enter    // run the step, confirm a manual step, or open the dirty chooser
	Skip     // skip the step (asks a reason)
	Retry    // run a failed, undone or dirty step again
	Verify   // run the step's verify actions
	Undo     // run the step's undo actions (asks to confirm)
	MarkDone // declare the step done (asks a reason)
	Note     // add a note to the step
	Tick     // toggle a checklist item: Intent.Item, or -1 for the next unticked one
	Cancel   // cancel the running step (asks to confirm)
	NextPane
	PrevPane
	GuideFull  // the selected step's guide, full-screen
	OutputFull // the selected step's output, full-screen, with search
	Filter     // filter the timeline (/)
	Help
	Back // close a full-screen view
	Quit
	numActions
)

var actionNames = [numActions]string{
	None: "none", Up: "up", Down: "down", PageUp: "page up", PageDown: "page down",
	Top: "top", Bottom: "bottom", Enter: "enter", Skip: "skip", Retry: "retry",
	Verify: "verify", Undo: "undo", MarkDone: "mark done", Note: "note", Tick: "tick",
	Cancel: "cancel", OutputFull: "output full-screen", Filter: "filter",
	NextPane: "next pane", PrevPane: "previous pane", GuideFull: "guide full-screen",
	Help: "help", Back: "back", Quit: "quit",
}

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", a)
}

// Intent is an action with its argument.
type Intent struct {
	Action Action
	// Item is the checklist item for Tick (0-based), -1 for "the next
	// unticked item".
	Item int
}

// KeyMap is every binding of the main screen.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	Enter, Skip, Retry, Verify, Undo, MarkDone, Note key.Binding
	Tick, TickN                                      key.Binding

	Cancel                                                              key.Binding
	NextPane, PrevPane, GuideFull, OutputFull, Filter, Help, Back, Quit key.Binding
}

// Default is the standard key map.
func Default() KeyMap {
	return KeyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g/home", "top")),
		Bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G/end", "bottom · follow")),

		Enter:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "run/confirm")),
		Skip:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "skip")),
		Retry:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retry")),
		Verify:   key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "verify")),
		Undo:     key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "undo")),
		MarkDone: key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "mark done")),
		Note:     key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "note")),
		Tick:     key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "tick next")),
		TickN:    key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("1-9", "toggle item")),

		Cancel: key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "cancel step")),

		NextPane:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "pane")),
		PrevPane:   key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		GuideFull:  key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "guide")),
		OutputFull: key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "output")),
		Filter:     key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close view")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// Resolve maps a key press to an intent. It is the only place keys become
// actions; an unbound key is None.
func (k KeyMap) Resolve(msg tea.KeyPressMsg) Intent {
	table := []struct {
		b *key.Binding
		a Action
	}{
		{&k.Up, Up}, {&k.Down, Down}, {&k.PageUp, PageUp}, {&k.PageDown, PageDown},
		{&k.Top, Top}, {&k.Bottom, Bottom},
		{&k.Enter, Enter}, {&k.Skip, Skip}, {&k.Retry, Retry}, {&k.Verify, Verify},
		{&k.Undo, Undo}, {&k.MarkDone, MarkDone}, {&k.Note, Note},
		{&k.Cancel, Cancel},
		{&k.NextPane, NextPane}, {&k.PrevPane, PrevPane}, {&k.GuideFull, GuideFull},
		{&k.OutputFull, OutputFull}, {&k.Filter, Filter},
		{&k.Help, Help}, {&k.Back, Back}, {&k.Quit, Quit},
	}
	for _, e := range table {
		if key.Matches(msg, *e.b) {
			return Intent{Action: e.a}
		}
	}
	if key.Matches(msg, k.Tick) {
		return Intent{Action: Tick, Item: -1}
	}
	if key.Matches(msg, k.TickN) {
		s := msg.String()
		return Intent{Action: Tick, Item: int(s[0] - '1')}
	}
	return Intent{}
}

// ShortHelp is the always-visible help bar.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Enter, k.Skip, k.Retry, k.Verify, k.Undo, k.Note, k.NextPane, k.GuideFull, k.OutputFull, k.Filter, k.Help, k.Quit}
}

// FullHelp is the ? screen, in columns.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Enter, k.Retry, k.Verify, k.Undo, k.Cancel, k.MarkDone, k.Skip, k.Note},
		{k.Tick, k.TickN, k.NextPane, k.PrevPane, k.Filter},
		{k.GuideFull, k.OutputFull, k.Help, k.Back, k.Quit},
	}
}
