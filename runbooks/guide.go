package runbooks

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"unicode"
)

// Heading is one ATX heading of a guide.
type Heading struct {
	Level  int
	Text   string
	Anchor string
	Offset int // byte offset of the heading line
}

// Headings lists the ATX headings of markdown source (outside code fences)
// with GitHub-style anchors; repeated anchors get -1, -2, ... as on GitHub.
func Headings(src []byte) []Heading {
	var out []Heading
	seen := map[string]int{}
	fence := ""
	off := 0
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		start := off
		off += len(line) + 1
		t := strings.TrimLeft(string(line), " ")
		if len(string(line))-len(t) > 3 {
			continue
		}
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			if fence == "" {
				fence = t[:3]
			} else if strings.HasPrefix(t, fence) {
				fence = ""
			}
			continue
		}
		if fence != "" || !strings.HasPrefix(t, "#") {
			continue
		}
		level := len(t) - len(strings.TrimLeft(t, "#"))
		rest := t[level:]
		if level > 6 || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		text := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(rest), "#"))
		a := Slug(text)
		if n, dup := seen[a]; dup {
			seen[a] = n + 1
			a = fmt.Sprintf("%s-%d", a, n+1)
		} else {
			seen[a] = 0
		}
		out = append(out, Heading{Level: level, Text: text, Anchor: a, Offset: start})
	}
	return out
}

// Slug makes a GitHub-style anchor: lower case, punctuation dropped, spaces
// to hyphens.
func Slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// GuideSection returns the markdown of the section a reference points at:
// from its heading to the next heading of the same or a higher level. An
// empty anchor returns the whole file.
func GuideSection(fsys fs.FS, ref GuideRef) (string, error) {
	if fsys == nil {
		return "", fmt.Errorf("guide %s: no guide directory", ref)
	}
	src, err := fs.ReadFile(fsys, ref.File)
	if err != nil {
		return "", fmt.Errorf("guide %s: %w", ref, err)
	}
	if ref.Anchor == "" {
		return string(src), nil
	}
	hs := Headings(src)
	for i, h := range hs {
		if h.Anchor != ref.Anchor {
			continue
		}
		end := len(src)
		for _, next := range hs[i+1:] {
			if next.Level <= h.Level {
				end = next.Offset
				break
			}
		}
		return strings.TrimRight(string(src[h.Offset:end]), "\n") + "\n", nil
	}
	return "", fmt.Errorf("guide %s: no heading with that anchor", ref)
}
