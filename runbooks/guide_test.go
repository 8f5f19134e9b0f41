package runbooks_test

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/runbooks"
)

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Generate certificates":           "generate-certificates",
		"Item 2: TLS/HTTPS (08:00–11:00)": "item-2-tlshttps-08001100",
		"P95 < 100 ms":                    "p95--100-ms",
		"snake_case and-hyphens":          "snake_case-and-hyphens",
		"Ünïcode Wörds":                   "ünïcode-wörds",
		"`code` *emphasis*":               "code-emphasis",
		"":                                "",
	} {
		if got := runbooks.Slug(in); got != want {
			t.Errorf("Slug(%q) = %q; want %q", in, got, want)
		}
	}
}

const guideSrc = `# Title

Intro.

## Step one

Text.

### Detail

More.

## Step two ##

    # indented four spaces: code, not a heading

` + "```sh" + `
# a comment in a fence
` + "```" + `

~~~
## not a heading either
` + "```" + `
~~~

#NoSpace is not a heading
####### seven is not a heading

## Step one

Again.

## Step one
   ### three spaces still count
`

func TestHeadings(t *testing.T) {
	type h struct {
		Level  int
		Text   string
		Anchor string
	}
	var got []h
	src := []byte(guideSrc)
	for _, x := range runbooks.Headings(src) {
		got = append(got, h{x.Level, x.Text, x.Anchor})
		line := string(src[x.Offset:])
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		if !strings.Contains(line, x.Text) {
			t.Errorf("offset %d of %q points at %q", x.Offset, x.Text, line)
		}
	}
	want := []h{
		{1, "Title", "title"},
		{2, "Step one", "step-one"},
		{3, "Detail", "detail"},
		{2, "Step two", "step-two"},
		{2, "Step one", "step-one-1"},
		{2, "Step one", "step-one-2"},
		{3, "three spaces still count", "three-spaces-still-count"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("headings\n got %+v\nwant %+v", got, want)
	}
}

func TestGuideSection(t *testing.T) {
	fsys := fstest.MapFS{"g.md": {Data: []byte(guideSrc)}}
	tests := []struct {
		anchor      string
		prefix      string
		contains    []string
		notContains []string
	}{
		{"step-one", "## Step one\n", []string{"### Detail", "More."}, []string{"Step two"}},
		{"detail", "### Detail\n", []string{"More."}, []string{"Step two"}},
		{"step-two", "## Step two ##\n", []string{"# a comment in a fence", "## not a heading either", "#NoSpace"}, []string{"Again."}},
		{"step-one-1", "## Step one\n\nAgain.", nil, []string{"three spaces"}},
		{"step-one-2", "## Step one\n", []string{"three spaces still count"}, nil},
		{"title", "# Title\n", []string{"Step one", "Step two", "three spaces"}, nil},
	}
	for _, tt := range tests {
		sec, err := runbooks.GuideSection(fsys, runbooks.GuideRef{File: "g.md", Anchor: tt.anchor})
		if err != nil {
			t.Errorf("%s: %v", tt.anchor, err)
			continue
		}
		if !strings.HasPrefix(sec, tt.prefix) || !strings.HasSuffix(sec, "\n") || strings.HasSuffix(sec, "\n\n") {
			t.Errorf("%s: section %q", tt.anchor, sec)
		}
		for _, s := range tt.contains {
			if !strings.Contains(sec, s) {
				t.Errorf("%s: section lacks %q", tt.anchor, s)
			}
		}
		for _, s := range tt.notContains {
			if strings.Contains(sec, s) {
				t.Errorf("%s: section runs into %q", tt.anchor, s)
			}
		}
	}
	whole, err := runbooks.GuideSection(fsys, runbooks.GuideRef{File: "g.md"})
	if err != nil || whole != guideSrc {
		t.Errorf("no anchor: %v, %d bytes", err, len(whole))
	}
	if _, err := runbooks.GuideSection(fsys, runbooks.GuideRef{File: "g.md", Anchor: "nope"}); err == nil || !strings.Contains(err.Error(), "g.md#nope: no heading with that anchor") {
		t.Errorf("missing anchor: %v", err)
	}
	if _, err := runbooks.GuideSection(fsys, runbooks.GuideRef{File: "other.md", Anchor: "x"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := runbooks.GuideSection(nil, runbooks.GuideRef{File: "g.md"}); err == nil {
		t.Error("nil file system accepted")
	}
}

func TestGuideRefString(t *testing.T) {
	if s := (runbooks.GuideRef{File: "a.md", Anchor: "b"}).String(); s != "a.md#b" {
		t.Error(s)
	}
	if s := (runbooks.GuideRef{File: "a.md"}).String(); s != "a.md" {
		t.Error(s)
	}
}
