package ui

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/actions"
)

// evilRunbook has a title, a phase and step title, a checklist, a target
// value, a guide and a command's output that each carry escape sequences: a
// clipboard write (OSC 52), a screen clear, a window title change, a bell.
// The loader refuses control characters in a runbook's own strings, so
// those are planted after loading: the UI must stay safe whatever reaches
// it (a target's value comes from the environment, a guide and output from
// anywhere).
func evilRunbook(t *testing.T) *runbooks.Runbook {
	t.Helper()
	fsys := fstest.MapFS{
		"rb.yaml": {Data: []byte(`id: evil
title: "Evil TITLE window"
schedule: {date: "2025-10-24", timezone: UTC, start: "08:00"}
targets:
  app_url: {kind: url, env: EVIL_URL_UNSET, default: "http://localhost:8001/"}
phases:
  - id: p
    title: "Phase PHASE red"
    slot: "08:00-09:00"
    checkpoint: false
    steps:
      - id: p.one
        title: "Step STEP one"
        budget: 5m
        guide: g.md#one
        checklist: ["tick CHECK this"]
        do:
          - shell:
              argv: [sh, -c, "printf 'out \\033]52;c;aGk=\\007 \\033[2J \\033[31mred\\n'"]
          - http.check: {path: /health}
`)},
		"g.md": {Data: []byte("# One\n\nRead \x1b]8;;http://evil\x07this\x1b]8;;\x07 and \x1b[2J clear.\n")},
	}
	rb, err := runbooks.Load(fsys, "rb.yaml", runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	rb.Title = strings.Replace(rb.Title, "TITLE", "\x1b]0;owned\x07", 1)
	rb.Phases[0].Title = strings.Replace(rb.Phases[0].Title, "PHASE", "\x1b[31m", 1)
	st := &rb.Phases[0].Steps[0]
	st.Title = strings.Replace(st.Title, "STEP", "\x1b]52;c;aGk=\x07", 1)
	st.Checklist[0] = strings.Replace(st.Checklist[0], "CHECK", "\x1b[2J", 1)
	rb.Targets[0].Default += "\x1b[2J"
	return rb
}

// sgr is the only escape sequence a frame may hold: the styles' colours.
var sgr = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// No escape sequence from a runbook, a target or a command's output
// reaches the rendered frame: only the UI's own colours remain.
func TestNoForeignEscapeReachesTheFrame(t *testing.T) {
	f := openLab(t, evilRunbook(t), "")
	m := sized(t, f.model(false), 120, 40)
	_ = f.sess.Start(context.Background(), "p.one")
	m = drainOutput(t, m, f.out)
	m = press(t, m, "n")
	m = typeText(t, m, "note \x1b[2J here")
	m = press(t, m, "enter")
	for _, view := range []string{"", "f", "o"} {
		mm := m
		if view != "" {
			mm = press(t, m, view)
		}
		frame := mm.View().Content
		rest := sgr.ReplaceAllString(frame, "")
		if i := strings.IndexFunc(rest, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 }); i >= 0 {
			t.Errorf("view %q: a control character reached the frame at %d: %q", view, i, rest[max(i-30, 0):min(i+30, len(rest))])
		}
		if !strings.Contains(plainSGR(frame), "Evil") {
			t.Errorf("view %q: the frame lost the text around the escapes:\n%s", view, plainSGR(frame))
		}
	}
	if !strings.Contains(plainSGR(press(t, m, "o").View().Content), "out ") {
		t.Error("the command's output is not in the output view")
	}
}

func plainSGR(s string) string { return sgr.ReplaceAllString(s, "") }
