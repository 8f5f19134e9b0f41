package ui

import (
	"errors"
	"strings"
	"testing"
)

// TestStatusLineShowsAJoinedErrorOnOneLine: an error of several lines (a
// lost lease joined with the store's reason) reads as its parts on the
// status line, not as escaped newlines.
func TestStatusLineShowsAJoinedErrorOnOneLine(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	err := errors.Join(errors.New("the run was taken over by bob on ben-laptop at 10:42"), errors.New("exit 3"))
	m.setStatus(levelBad, "a.step: %v", err)
	got := screen(m)
	if strings.Contains(got, `\x0a`) || !strings.Contains(got, "at 10:42 · exit 3") {
		t.Fatalf("status line of a two-line error:\n%s", got)
	}
}

// TestStoppedSessionOnlyLooks: once the store says this session no
// longer drives the run (taken over), acting keys are refused with the
// reason and the footer offers only what looks.
func TestStoppedSessionOnlyLooks(t *testing.T) {
	f := openLab(t, nil, "")
	m := sized(t, f.model(false), 120, 40)
	before := len(f.journal(t))
	m.run.Share.Stopped = "taken over by bob on ben-laptop at 10:42:00: this session is stopped"
	if help := m.helpLine(); strings.Contains(help, "run") || strings.Contains(help, "undo") || !strings.Contains(help, "quit") {
		t.Fatalf("footer of a stopped session: %s", help)
	}
	for _, k := range []string{"enter", "r", "v", "u", "m", "s"} {
		m = press(t, m, k)
		if m.dlg != nil || !strings.Contains(m.status, "no longer drives the run (taken over by bob") {
			t.Fatalf("%s in a stopped session: dialog %v, status %q", k, m.dlg != nil, m.status)
		}
	}
	if after := len(f.journal(t)); after != before {
		t.Fatalf("a stopped session journaled %d records", after-before)
	}
	m = press(t, m, "down")
	m = press(t, m, "?")
	if m.over != ovHelp {
		t.Fatal("help does not open in a stopped session")
	}
}
