package keymap

import (
	"testing"

	tea "charm.land/bubbletea/v2"
)

func TestResolve(t *testing.T) {
	k := Default()
	r := func(c rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: c, Text: string(c)} }
	cases := []struct {
		name string
		msg  tea.KeyPressMsg
		want Intent
	}{
		{"up arrow", tea.KeyPressMsg{Code: tea.KeyUp}, Intent{Action: Up}},
		{"k", r('k'), Intent{Action: Up}},
		{"down arrow", tea.KeyPressMsg{Code: tea.KeyDown}, Intent{Action: Down}},
		{"j", r('j'), Intent{Action: Down}},
		{"page up", tea.KeyPressMsg{Code: tea.KeyPgUp}, Intent{Action: PageUp}},
		{"ctrl+u", tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}, Intent{Action: PageUp}},
		{"page down", tea.KeyPressMsg{Code: tea.KeyPgDown}, Intent{Action: PageDown}},
		{"home", tea.KeyPressMsg{Code: tea.KeyHome}, Intent{Action: Top}},
		{"end", tea.KeyPressMsg{Code: tea.KeyEnd}, Intent{Action: Bottom}},
		{"G", tea.KeyPressMsg{Code: 'g', ShiftedCode: 'G', Mod: tea.ModShift, Text: "G"}, Intent{Action: Bottom}},
		{"enter", tea.KeyPressMsg{Code: tea.KeyEnter}, Intent{Action: Enter}},
		{"s", r('s'), Intent{Action: Skip}},
		{"r", r('r'), Intent{Action: Retry}},
		{"v", r('v'), Intent{Action: Verify}},
		{"u", r('u'), Intent{Action: Undo}},
		{"m", r('m'), Intent{Action: MarkDone}},
		{"n", r('n'), Intent{Action: Note}},
		{"space", tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}, Intent{Action: Tick, Item: -1}},
		{"1", r('1'), Intent{Action: Tick, Item: 0}},
		{"9", r('9'), Intent{Action: Tick, Item: 8}},
		{"0 is unbound", r('0'), Intent{}},
		{"tab", tea.KeyPressMsg{Code: tea.KeyTab}, Intent{Action: NextPane}},
		{"shift+tab", tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}, Intent{Action: PrevPane}},
		{"g", r('g'), Intent{Action: Top}},
		{"f", r('f'), Intent{Action: GuideFull}},
		{"o", r('o'), Intent{Action: OutputFull}},
		{"/", r('/'), Intent{Action: Filter}},
		{"x", r('x'), Intent{Action: Cancel}},
		{"?", r('?'), Intent{Action: Help}},
		{"esc", tea.KeyPressMsg{Code: tea.KeyEscape}, Intent{Action: Back}},
		{"q", r('q'), Intent{Action: Quit}},
		{"ctrl+c", tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}, Intent{Action: Quit}},
		{"z is unbound", r('z'), Intent{}},
		{"S is not s", tea.KeyPressMsg{Code: 's', ShiftedCode: 'S', Mod: tea.ModShift, Text: "S"}, Intent{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := k.Resolve(c.msg); got != c.want {
				t.Errorf("Resolve(%q) = %+v (%s), want %+v (%s)", c.msg.String(), got, got.Action, c.want, c.want.Action)
			}
		})
	}
}

// Every action but None is reachable from some key, and every binding's
// help names a key, so the help bar never lies.
func TestEveryActionBound(t *testing.T) {
	k := Default()
	seen := map[Action]bool{}
	for _, group := range k.FullHelp() {
		for _, b := range group {
			if b.Help().Key == "" || b.Help().Desc == "" {
				t.Errorf("binding %v has no help", b.Keys())
			}
			for _, ks := range b.Keys() {
				seen[k.Resolve(keyFor(ks)).Action] = true
			}
		}
	}
	for a := None + 1; a < numActions; a++ {
		if !seen[a] {
			t.Errorf("action %s has no key in the full help", a)
		}
		if a.String() == "" || a.String()[0] == 'A' {
			t.Errorf("action %d has no name", a)
		}
	}
}

// keyFor builds the key press a binding's key string stands for.
func keyFor(s string) tea.KeyPressMsg {
	named := map[string]tea.KeyPressMsg{
		"up": {Code: tea.KeyUp}, "down": {Code: tea.KeyDown}, "pgup": {Code: tea.KeyPgUp},
		"pgdown": {Code: tea.KeyPgDown}, "home": {Code: tea.KeyHome}, "end": {Code: tea.KeyEnd},
		"enter": {Code: tea.KeyEnter}, "tab": {Code: tea.KeyTab}, "shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift},
		"esc": {Code: tea.KeyEscape}, "space": {Code: tea.KeySpace, Text: " "},
		"ctrl+c": {Code: 'c', Mod: tea.ModCtrl}, "ctrl+u": {Code: 'u', Mod: tea.ModCtrl}, "ctrl+d": {Code: 'd', Mod: tea.ModCtrl},
		"G": {Code: 'g', ShiftedCode: 'G', Mod: tea.ModShift, Text: "G"},
	}
	if k, ok := named[s]; ok {
		return k
	}
	return tea.KeyPressMsg{Code: []rune(s)[0], Text: s}
}
