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
