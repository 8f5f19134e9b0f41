package guide

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
)

// Guide markdown reads as on a web page: soft line breaks joined, list
// items wrapped under their text, headings without their "##", nothing
// wider than the pane, and no escape sequence from the source.
func TestRenderReadsLikeAPage(t *testing.T) {
	src := "# Top\n\n## Read the guides\n\nBefore the window opens, read every guide once.\nEach takes about thirty minutes.\n\n" +
		"- Wrench sections list what runbook automates and this item is long enough to wrap around\n  under its bullet when it is narrow.\n- Short one\n\n" +
		"```\nkeep\nthese lines\n```\n\nEvil \x1b]52;c;aGk=\x07title\x1b[2J here.\n"
	fsys := fstest.MapFS{"g.md": {Data: []byte(src)}}
	for _, style := range []string{"dark", "ascii"} {
		rendered, err := Render(fsys, runbooks.GuideRef{File: "g.md", Anchor: "top"}, Key{Style: style})
		if err != nil {
			t.Fatal(err)
		}
		lines := Wrap(rendered, 50)
		var plain []string
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > 48 {
				t.Errorf("%s: line %d cells wide: %q", style, w, l)
			}
			plain = append(plain, strings.TrimRight(ansi.Strip(l), " "))
		}
		text := strings.Join(plain, "\n")
		for _, want := range []string{
			"  Read the guides\n",
			"  Before the window opens, read every guide\n  once. Each takes about thirty minutes.",
			"  • Wrench sections list what runbook automates\n    and this item is long enough to wrap around\n    under its bullet when it is narrow.",
			"keep\n", "these lines",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: rendering lacks %q:\n%s", style, want, text)
			}
		}
		if strings.Contains(text, "##") {
			t.Errorf("%s: raw heading marker:\n%s", style, text)
		}
		for _, l := range lines {
			if strings.Contains(l, "\x1b]") || strings.Contains(l, "\x07") || strings.Contains(l, "\x1b[2J") {
				t.Errorf("%s: an escape sequence from the guide reached the screen: %q", style, l)
			}
		}
	}
}
