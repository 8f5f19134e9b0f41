package logpane

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/ui/styles"
)

func TestRingKeepsNewest(t *testing.T) {
	r := NewRing(3)
	for i := range 5 {
		r.Push(Line{Text: fmt.Sprint(i)})
	}
	if r.Len() != 3 || r.Cap() != 3 {
		t.Fatalf("len %d cap %d", r.Len(), r.Cap())
	}
	for i, want := range []string{"2", "3", "4"} {
		if got := r.At(i).Text; got != want {
			t.Errorf("At(%d) = %s, want %s", i, got, want)
		}
	}
	if NewRing(0).Cap() != 1 {
		t.Error("a ring must hold at least one line")
	}
}

func lines(n int, prefix string) []Line {
	out := make([]Line, n)
	for i := range out {
		out[i] = Line{Step: "s", Text: fmt.Sprintf("%s%d", prefix, i)}
	}
	return out
}

func TestViewShowsTailAndExactSize(t *testing.T) {
	st := styles.New(styles.Theme{Dark: true})
	m := New(100)
	m.SetSize(10, 4)
	m.Show("s")
	m.Append(lines(50, "line "), 0)
	v := strings.Split(ansi.Strip(m.View(st)), "\n")
	if len(v) != 4 {
		t.Fatalf("%d rows, want 4", len(v))
	}
	if v[0] != "line 46" || v[3] != "line 49" {
		t.Errorf("tail: %q", v)
	}
	m.Append([]Line{{Step: "s", Text: strings.Repeat("x", 25)}}, 0)
	v = strings.Split(ansi.Strip(m.View(st)), "\n")
	if v[0] != "line 49" || v[1] != strings.Repeat("x", 10) || v[3] != "xxxxx" {
		t.Errorf("long line not wrapped at the width: %q", v)
	}
	if m.Total() != 51 || m.Len() != 51 || m.Step() != "s" {
		t.Errorf("total %d len %d step %q", m.Total(), m.Len(), m.Step())
	}
}

func TestScrollStaysOnLinesWhileOutputArrives(t *testing.T) {
	st := styles.New(styles.Theme{Dark: true})
	m := New(1000)
	m.SetSize(20, 3)
	m.Show("s")
	m.Append(lines(10, "a"), 0)
	m.Scroll(2)
	before := ansi.Strip(m.View(st))
	if !strings.HasPrefix(before, "a5\n") {
		t.Fatalf("scrolled view: %q", before)
	}
	m.Append(lines(5, "b"), 0)
	if after := ansi.Strip(m.View(st)); after != before {
		t.Errorf("view moved while reading back: %q → %q", before, after)
	}
	if m.Following() || !strings.Contains(m.Title(), "↑7") {
		t.Errorf("title %q", m.Title())
	}
	m.Top()
	if v := ansi.Strip(m.View(st)); !strings.HasPrefix(v, "a0\n") {
		t.Errorf("top: %q", v)
	}
	m.Scroll(-1000)
	if !m.Following() {
		t.Error("scrolling past the bottom must follow again")
	}
	m.Scroll(5000)
	m.Follow()
	if v := ansi.Strip(m.View(st)); !strings.HasSuffix(v, "b4") {
		t.Errorf("follow: %q", v)
	}
}

func TestDroppedLinesAreReported(t *testing.T) {
	st := styles.New(styles.Theme{Dark: true, NoColor: true})
	m := New(10)
	m.SetSize(80, 3)
	m.Show("s")
	m.Append(lines(2, "x"), 7)
	v := strings.Split(ansi.Strip(m.View(st)), "\n")
	if len(v) != 3 || !strings.HasPrefix(v[2], "7 lines arrived faster") {
		t.Errorf("%q", v)
	}
}

func TestMarkIsNotCounted(t *testing.T) {
	m := New(10)
	m.Mark("s1", "── run s1 ──")
	if m.Total() != 0 || m.Len() != 1 || m.Step() != "s1" {
		t.Errorf("total %d len %d step %q", m.Total(), m.Len(), m.Step())
	}
}

// The pane shows the selected step's lines only; until that step has any,
// the last step that printed, and the title says whose lines they are.
func TestShowsSelectedStepOnly(t *testing.T) {
	st := styles.New(styles.Theme{Dark: true, NoColor: true})
	m := New(100)
	m.SetSize(30, 3)
	m.LogPath = func(s string) string { return "logs/" + s + ".log" }
	m.Append([]Line{{Step: "a", Text: "from a"}, {Step: "b", Text: "from b"}}, 0)
	m.Show("a")
	if v := ansi.Strip(m.View(st)); !strings.Contains(v, "from a") || strings.Contains(v, "from b") {
		t.Errorf("selected a: %q", v)
	}
	if got := m.Title(); got != "Output · a · logs/a.log" {
		t.Errorf("title %q", got)
	}
	m.Show("c")
	if v := ansi.Strip(m.View(st)); !strings.Contains(v, "from b") || strings.Contains(v, "from a") {
		t.Errorf("selected c (no output): %q", v)
	}
	if got := m.Title(); got != "Output · b (last run) · logs/b.log" {
		t.Errorf("title %q", got)
	}
}
