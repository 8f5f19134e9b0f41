package termsafe

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Phase 1 — TLS", "Phase 1 — TLS"},
		{"OSC 0 title, BEL", "a\x1b]0;owned\x07b", "ab"},
		{"OSC 0 title, ST", "a\x1b]0;owned\x1b\\b", "ab"},
		{"OSC 8 hyperlink", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"OSC 52 clipboard", "x\x1b]52;c;cm0gLXJmIH4=\x07y", "xy"},
		{"unterminated OSC eats the rest", "ok\x1b]52;c;AAAA", "ok"},
		{"CSI clear screen", "\x1b[2J\x1b[Hhello", "hello"},
		{"CSI cursor moves", "a\x1b[10;20Hb\x1b[5Ac", "abc"},
		{"SGR colours", "\x1b[1;31mred\x1b[0m", "red"},
		{"CSI private mode", "\x1b[?1049hx", "x"},
		{"broken CSI stops at a control", "\x1b[12\nz", `\x0az`},
		{"two-byte ESC c (reset)", "a\x1bcb", "ab"},
		{"charset designation", "a\x1b(Bb", "ab"},
		{"DCS", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
		{"lone ESC at end", "a\x1b", "a"},
		{"C1 CSI rune", "a\u009b2Jb", "ab"},
		{"C1 OSC rune, ST rune", "a\u009d0;t\u009cb", "ab"},
		{"C1 NEL shown", "a\u0085b", `a\x85b`},
		{"BEL shown", "ding\x07", `ding\x07`},
		{"backspace shown", "pass\bword", `pass\x08word`},
		{"newline shown on one line", "a\nb", `a\x0ab`},
		{"carriage return shown", "50%\r100%", `50%\x0d100%`},
		{"DEL shown", "a\x7fb", `a\x7fb`},
		{"NUL shown", "a\x00b", `a\x00b`},
		{"RLO override", "invoice\u202excod.exe", `invoice\u202excod.exe`},
		{"isolates", "\u2066x\u2069", `\u2066x\u2069`},
		{"RLM", "a\u200fb", `a\u200fb`},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Line(tc.in)
			if got != tc.want {
				t.Fatalf("Line(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !Safe(got) {
				t.Fatalf("Line(%q) = %q is not Safe", tc.in, got)
			}
		})
	}
}

func TestTextKeepsLayout(t *testing.T) {
	in := "line one\r\n\tindented\x1b[31m red\x1b[0m\nbell\x07"
	want := "line one\n\tindented red\nbell\\x07"
	if got := Text(in); got != want {
		t.Fatalf("Text = %q, want %q", got, want)
	}
}

func TestSafeFastPath(t *testing.T) {
	s := strings.Repeat("ordinary text, ünïcödé too ", 10)
	if !Safe(s) || Line(s) != s {
		t.Fatal("ordinary text changed")
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{"\x1b]0;x\x07", "\x1b[2J", "a\u202eb", "\xff", "\u009d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, got := range []string{Line(s), strings.ReplaceAll(strings.ReplaceAll(Text(s), "\n", ""), "\t", "")} {
			if !Safe(got) {
				t.Fatalf("output %q of %q is not safe", got, s)
			}
			if strings.ContainsRune(got, 0x1b) {
				t.Fatalf("ESC survived in %q", got)
			}
		}
	})
}

func TestFlat(t *testing.T) {
	for in, want := range map[string]string{
		"one line":                          "one line",
		"lease lost\ntaken over by bob":     "lease lost · taken over by bob",
		"a\r\n\r\n  b  \n":                  "a · b",
		"bell\a\nnext":                      `bell\x07 · next`,
		"osc \x1b]0;title\x07\nsecond line": "osc  · second line",
	} {
		if got := Flat(in); got != want {
			t.Errorf("Flat(%q) = %q, want %q", in, got, want)
		}
	}
}
