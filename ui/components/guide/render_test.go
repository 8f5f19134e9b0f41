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

// A wrapped line keeps its style on every line it becomes: the pane shows
// each beside another pane's line, so a colour opened on the first line
// must be opened again on the next and closed on each.
func TestWrappedLinesKeepTheirStyle(t *testing.T) {
	src := "# Top\n\nA paragraph long enough to wrap over several lines of a narrow pane, every one of them in the paragraph's colour.\n"
	fsys := fstest.MapFS{"g.md": {Data: []byte(src)}}
	rendered, err := Render(fsys, runbooks.GuideRef{File: "g.md", Anchor: "top"}, Key{Style: "dark"})
	if err != nil {
		t.Fatal(err)
	}
	var para []string
	for _, l := range Wrap(rendered, 40) {
		if p := ansi.Strip(l); strings.Contains(p, "paragraph") || strings.Contains(p, "colour") || strings.Contains(p, "lines") {
			para = append(para, l)
		}
	}
	if len(para) < 3 {
		t.Fatalf("the paragraph wrapped onto %d lines, want 3 or more: %q", len(para), para)
	}
	for i, l := range para {
		text := strings.TrimLeft(ansi.Strip(l), " ")
		at := strings.Index(l, text[:1])
		// The colour's SGR is in force where the text starts: some SGR
		// other than a reset precedes it on the line itself.
		opened := false
		for _, seq := range sgrs(l[:at]) {
			opened = seq != "\x1b[0m" && seq != "\x1b[m"
		}
		if !opened {
			t.Errorf("line %d of the paragraph starts its text without its style: %q", i+1, l)
		}
		if seqs := sgrs(l); len(seqs) == 0 || (seqs[len(seqs)-1] != "\x1b[0m" && seqs[len(seqs)-1] != "\x1b[m") {
			t.Errorf("line %d of the paragraph leaves its style open at its end: %q", i+1, l)
		}
	}
}

// sgrs lists the SGR sequences of s in order.
func sgrs(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			return out
		}
		j := i + 2
		for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
			j++
		}
		if j < len(s) && s[j] == 'm' {
			out = append(out, s[i:j+1])
		}
		if j >= len(s) {
			return out
		}
		s = s[j+1:]
	}
}
