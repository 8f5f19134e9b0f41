package outview

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/ui/styles"
)

func keyPress(s string) tea.KeyPressMsg {
	switch s {
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	}
	r := []rune(s)[0]
	k := tea.KeyPressMsg{Code: r, Text: s}
	if r >= 'A' && r <= 'Z' {
		k.Code, k.ShiftedCode, k.Mod = r+('a'-'A'), r, tea.ModShift
	}
	return k
}

func send(t *testing.T, m Model, keys ...string) (Model, bool) {
	t.Helper()
	closed := false
	for _, k := range keys {
		m, closed, _ = m.Update(keyPress(k))
	}
	return m, closed
}

// / searches, every match counts, n/N move between them; esc first clears
// the search, then closes; q closes.
func TestSearchAndClose(t *testing.T) {
	st := styles.New(styles.Theme{Dark: true, NoColor: true})
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	lines[10] = "ERROR: Is the docker daemon running? " + strings.Repeat("long ", 30)
	lines[70] = "error again"
	m := New("s", "logs/s.log", lines, 40, 12, st)
	if v := ansi.Strip(m.View(st)); !strings.Contains(v, "line 99") {
		t.Fatalf("opens at the bottom:\n%s", v)
	}
	m, _ = send(t, m, "/")
	if !m.Typing() {
		t.Fatal("/ did not open the search line")
	}
	m, _ = send(t, m, "e", "r", "r", "o", "r", "enter")
	if q, n := m.Query(); q != "error" || n != 2 {
		t.Fatalf("query %q, %d matches", q, n)
	}
	v := ansi.Strip(m.View(st))
	if !strings.Contains(v, "Is the docker daemon") {
		t.Errorf("the first match is not in view:\n%s", v)
	}
	// Long lines wrap at spaces, never wider than the view.
	for _, l := range strings.Split(m.content, "\n") {
		if ansi.StringWidth(l) > 40 || strings.HasPrefix(l, "g ") {
			t.Errorf("line not wrapped at a space within 40 cells: %q", l)
		}
	}
	m, _ = send(t, m, "n")
	if v := ansi.Strip(m.View(st)); !strings.Contains(v, "error again") {
		t.Errorf("n did not go to the next match:\n%s", v)
	}
	m, closed := send(t, m, "esc")
	if closed {
		t.Fatal("esc with a search closed the view")
	}
	if q, _ := m.Query(); q != "" {
		t.Fatal("esc did not clear the search")
	}
	if _, closed := send(t, m, "esc"); !closed {
		t.Error("esc did not close the view")
	}
	if _, closed := send(t, m, "q"); !closed {
		t.Error("q did not close the view")
	}
}
