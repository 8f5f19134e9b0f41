// Package termsafe makes text that runbook did not write itself safe to put
// on a terminal, in a report or in a commit message.
//
// A runbook's title, a target's value, a command's output and a container's
// log line can all carry escape sequences. Printed raw they can set the
// terminal's title (OSC 0), plant a hyperlink (OSC 8), write to the
// clipboard (OSC 52), clear the screen or move the cursor (CSI), or reorder
// what the reader sees (Unicode bidi overrides). Every such text goes
// through this package on its way to the screen, the report or a commit;
// runbook's own styling is added after, never before.
//
// Escape sequences are removed whole (colour codes from a tool's output
// carry no meaning once the text is restyled). Any other control
// character, C1 control, bidi override or isolate is shown escaped, e.g.
// `\x07` or `\u202e`, so the reader can see that something was there.
// Invalid UTF-8 becomes U+FFFD.
package termsafe

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Line returns s made safe for one line of a terminal: escape sequences
// removed, and every control character, newlines and tabs included, shown
// escaped.
func Line(s string) string { return clean(s, false) }

// Flat returns s made safe for one line as Line does, with its line
// breaks shown as " · " instead of escaped: for a message of several lines
// (a joined error) shown on one, whose breaks separate its parts. Blank
// lines and the white space around each break go.
func Flat(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return Line(s)
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return Line(strings.Join(parts, " · "))
}

// Text returns s made safe for a terminal, keeping its newlines and tabs
// (a carriage return before a newline is dropped). Everything else is
// treated as in Line.
func Text(s string) string { return clean(s, true) }

// Safe reports whether s would pass through Line unchanged.
func Safe(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

func clean(s string, multiline bool) string {
	if Safe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteRune(utf8.RuneError)
		case r == 0x1b:
			n = escLen(s[i:])
		case r == 0x9b || r == 0x9d || r == 0x90 || r == 0x98 || r == 0x9e || r == 0x9f:
			// C1 introducers (CSI, OSC, DCS, SOS, PM, APC) as runes: the
			// 8-bit forms some terminals still honour.
			n = c1Len(s[i:], r, n)
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case multiline && r == '\r' && i+1 < len(s) && s[i+1] == '\n':
			// CRLF line ends: keep the newline only.
		case unsafeRune(r):
			b.WriteString(escape(r))
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unsafeRune: C0 controls, DEL, C1 controls, and the bidi controls that
// reorder what a reader sees (embeddings, overrides, isolates, marks that
// are invisible but change order).
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

func escape(r rune) string {
	if r < 0x100 {
		return `\x` + hex2(byte(r))
	}
	return `\u` + strconv.FormatInt(int64(r), 16)
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

// escLen returns the length of the escape sequence starting at s[0] == ESC.
// An unterminated string sequence runs to the end of s: whatever follows an
// unterminated OSC is its payload, not text.
func escLen(s string) int {
	if len(s) < 2 {
		return 1
	}
	switch s[1] {
	case '[': // CSI: parameters and intermediates, then one final byte.
		for j := 2; j < len(s); j++ {
			if c := s[j]; c >= 0x40 && c <= 0x7e {
				return j + 1
			} else if c < 0x20 || c > 0x7e {
				return j
			}
		}
		return len(s)
	case ']', 'P', 'X', '^', '_': // OSC, DCS, SOS, PM, APC: until BEL or ST.
		return stringEnd(s, 2)
	default:
		// Two-byte sequences (ESC c, ESC 7, ESC =) and the charset
		// designations (ESC ( B): intermediates 0x20-0x2f, then a final byte.
		j := 1
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < len(s) {
			j++
		}
		return j
	}
}

// c1Len handles 8-bit C1 introducers encoded as UTF-8 runes.
func c1Len(s string, r rune, n int) int {
	if r == 0x9b { // CSI
		for j := n; j < len(s); j++ {
			if c := s[j]; c >= 0x40 && c <= 0x7e {
				return j + 1
			} else if c < 0x20 || c > 0x7e {
				return j
			}
		}
		return len(s)
	}
	return stringEnd(s, n)
}

// stringEnd finds the end of a control string starting at s[from]: BEL,
// ESC \ (ST) or the C1 ST rune.
func stringEnd(s string, from int) int {
	for j := from; j < len(s); j++ {
		switch {
		case s[j] == 0x07:
			return j + 1
		case s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\':
			return j + 2
		case s[j] == 0xc2 && j+1 < len(s) && s[j+1] == 0x9c:
			return j + 2
		}
	}
	return len(s)
}
