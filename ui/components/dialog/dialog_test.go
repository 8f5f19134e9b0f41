package dialog

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/ui/styles"
)

func k(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	}
	return tea.KeyPressMsg{Code: []rune(s)[0], Text: s}
}

func TestInputRequired(t *testing.T) {
	st := styles.New(styles.Theme{Dark: true})
	m, _ := NewInput("Skip", "Why?", "reason", true)
	m, res, _ := m.Update(k("enter"))
	if res.Done || !strings.Contains(ansi.Strip(m.View(st, 60)), "a reason is required") {
		t.Fatal("empty required input accepted")
	}
	m, _, _ = m.Update(k(" "))
	m, res, _ = m.Update(k("enter"))
	if res.Done {
		t.Fatal("blank input accepted")
	}
	for _, r := range "disk full" {
		m, _, _ = m.Update(k(string(r)))
	}
	_, res, _ = m.Update(k("enter"))
	if !res.Done || res.Value != "disk full" {
		t.Fatalf("result %+v", res)
	}
	_, res, _ = m.Update(k("esc"))
	if !res.Canceled {
		t.Fatal("esc does not cancel")
	}
}

func TestConfirm(t *testing.T) {
	m := NewConfirm("Quit?", "A step runs.")
	if _, res, _ := m.Update(k("y")); !res.Done || !res.Yes {
		t.Errorf("y: %+v", res)
	}
	if _, res, _ := m.Update(k("n")); !res.Canceled {
		t.Errorf("n: %+v", res)
	}
	if _, res, _ := m.Update(k("x")); res.Done || res.Canceled {
		t.Errorf("x answered: %+v", res)
	}
}

func TestChooseSkipsDisabled(t *testing.T) {
	st := styles.New(styles.Theme{Dark: true})
	m := NewChoose("Dirty", "Choose", []Option{
		{Key: "v", Label: "verify", Disabled: "no verify actions"},
		{Key: "r", Label: "retry"},
		{Key: "u", Label: "undo"},
	})
	if m.Cursor() != 1 {
		t.Fatalf("cursor on %d, want the first enabled", m.Cursor())
	}
	m, _, _ = m.Update(k("up")) // wraps past the disabled one
	if m.Cursor() != 2 {
		t.Fatalf("up from 1: %d", m.Cursor())
	}
	m, res, _ := m.Update(k("v"))
	if res.Done || !strings.Contains(ansi.Strip(m.View(st, 60)), "verify: no verify actions") {
		t.Fatalf("disabled option chosen: %+v", res)
	}
	m, _, _ = m.Update(k("down"))
	_, res, _ = m.Update(k("enter"))
	if !res.Done || res.Choice != 1 {
		t.Fatalf("enter on retry: %+v", res)
	}
	_, res, _ = m.Update(k("u"))
	if !res.Done || res.Choice != 2 {
		t.Fatalf("u: %+v", res)
	}
}
