package guide

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui/styles"
)

var fsys = fstest.MapFS{
	"g.md": {Data: []byte("# Top\n\n## First part\n\nAlpha **bold** words that are long enough to wrap around the pane several times over.\n\n## Second part\n\nBeta.\n")},
}

func TestRenderSectionAtWidth(t *testing.T) {
	ref := runbooks.GuideRef{File: "g.md", Anchor: "first-part"}
	rendered, err := Render(fsys, ref, Key{Guide: ref.String(), Style: "dark"})
	if err != nil {
		t.Fatal(err)
	}
	lines := Wrap(rendered, 40)
	text := ansi.Strip(strings.Join(lines, "\n"))
	if !strings.Contains(text, "Alpha") || strings.Contains(text, "Beta") {
		t.Errorf("wrong section:\n%s", text)
	}
	for _, l := range lines {
		if ansi.StringWidth(l) > 40 {
			t.Errorf("line wider than the pane: %q", ansi.Strip(l))
		}
	}
	if _, err := Render(fsys, runbooks.GuideRef{File: "g.md", Anchor: "nope"}, Key{Style: "dark"}); err == nil {
		t.Error("a missing anchor rendered")
	}
}

// A render does not depend on the pane's size: it is asked for before the
// pane has one, once per guide and style, and a new width only wraps the
// rendered lines again.
func TestNeedCachesPerKey(t *testing.T) {
	ref := runbooks.GuideRef{File: "g.md", Anchor: "first-part"}
	m := New()
	cmd := m.Need(fsys, ref, "dark")
	if cmd == nil {
		t.Fatal("no render asked before the pane has a size")
	}
	if m.Need(fsys, ref, "dark") != nil {
		t.Fatal("a render in flight was asked again")
	}
	m.Store(cmd().(RenderedMsg))
	if !m.Cached(m.KeyFor(ref, "dark")) || m.Need(fsys, ref, "dark") != nil {
		t.Fatal("not cached")
	}
	if m.Need(fsys, ref, "light") == nil {
		t.Error("another style must render again")
	}
	for _, w := range []int{50, 30} {
		m.SetSize(w, 40)
		if m.Need(fsys, ref, "dark") != nil {
			t.Errorf("width %d rendered again", w)
		}
		v := ansi.Strip(m.View(Props{Step: runbooks.Step{Guide: ref}, Style: "dark"}))
		// Wrapped, not cut: the paragraph's last words are there.
		if !strings.Contains(v, "Alpha") || !strings.Contains(v, "over.") {
			t.Fatalf("width %d: guide not wrapped into the pane:\n%s", w, v)
		}
		for _, l := range strings.Split(v, "\n") {
			if ansi.StringWidth(l) > w {
				t.Errorf("width %d: line %d cells wide: %q", w, ansi.StringWidth(l), l)
			}
		}
	}
}

func TestViewHeadAndScroll(t *testing.T) {
	ref := runbooks.GuideRef{File: "g.md", Anchor: "first-part"}
	st := styles.New(styles.Theme{Dark: true})
	m := New()
	m.SetSize(50, 40)
	m.Store(m.Need(fsys, ref, "dark")().(RenderedMsg))
	man := &steps.Manual{Prompt: "Look at it"}
	step := runbooks.Step{ID: "x.1", Title: "The step", Budget: 5 * time.Minute, Guide: ref,
		Checklist: []string{"one", "two"}, Do: []runbooks.Action{{Type: "manual", Params: man}}}
	p := Props{Step: step, State: steps.StepState{Status: steps.Failed, LastErr: strings.Repeat("boom ", 20), Checked: map[int]bool{1: true}},
		Actions: Describe(step, &steps.Env{}), Style: "dark", Styles: st}
	v := ansi.Strip(m.View(p))
	for _, want := range []string{"The step", "✗ failed  x.1 · budget 5m", "Checklist 1/2", "[ ] 1. one", "[x] 2. two", "do     operator: Look at it", "Alpha"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if strings.Count(v, "boom") != 20 {
		t.Errorf("the error must be wrapped whole, not cut:\n%s", v)
	}
	rows := strings.Split(v, "\n")
	if len(rows) != 40 {
		t.Fatalf("%d rows", len(rows))
	}
	m.SetSize(50, 8) // same width: the cached render still applies
	m.Follow("x.1")
	m.Scroll(3)
	if got := strings.Split(ansi.Strip(m.View(p)), "\n")[0]; got != rows[3] {
		t.Errorf("scroll 3: %q, want %q", got, rows[3])
	}
	m.Follow("x.1")
	if got := strings.Split(ansi.Strip(m.View(p)), "\n")[0]; got != rows[3] {
		t.Error("Follow of the same step reset the scroll")
	}
	m.Follow("x.2")
	if got := strings.Split(ansi.Strip(m.View(p)), "\n")[0]; got != rows[0] {
		t.Error("Follow of another step kept the scroll")
	}
}
