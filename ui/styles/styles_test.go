package styles

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func TestFrameIsExactlyItsSize(t *testing.T) {
	for _, th := range []Theme{{Dark: true}, {Dark: false}, {NoColor: true}} {
		s := New(th)
		body := "short\n" + strings.Repeat("wide ", 30) + "\nthird\nfourth\nfifth"
		for _, focused := range []bool{false, true} {
			out := s.Frame("A title that is rather long for the box", body, 20, 4, focused)
			lines := strings.Split(out, "\n")
			if len(lines) != 4 {
				t.Fatalf("%+v: %d lines", th, len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w != 20 {
					t.Errorf("%+v focused=%v line %d is %d wide: %q", th, focused, i, w, ansi.Strip(l))
				}
			}
			plain := ansi.Strip(out)
			if !strings.Contains(plain, "A title") || !strings.Contains(plain, "short") || strings.Contains(plain, "fourth") {
				t.Errorf("content:\n%s", plain)
			}
		}
	}
	if New(Theme{}).Frame("x", "y", 1, 1, false) != "" {
		t.Error("a box smaller than its border must draw nothing")
	}
}

func TestNoColorHasNoColour(t *testing.T) {
	s := New(Theme{NoColor: true})
	for name, st := range map[string]string{
		"ok": s.OK.Render("x"), "bad": s.Bad.Render("x"), "selected": s.Selected.Render("x"), "edge": s.EdgeOn.Render("x"),
	} {
		if strings.Contains(st, "38;") || strings.Contains(st, "48;") || strings.Contains(st, "[3") && !strings.Contains(st, "[1") {
			t.Errorf("%s sets a colour without colour: %q", name, st)
		}
	}
	if New(Theme{NoColor: true}).Theme.Glamour() != "ascii" || (Theme{Dark: true}).Glamour() != "dark" || (Theme{}).Glamour() != "light" {
		t.Error("glamour style per theme")
	}
}
