package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

var nowFigures = regexp.MustCompile(`"(as_of|projected_finish|buffer_seconds)": [^,\n]*`)

// TestStatusFromAFoldSnapshot: status keeps a fold snapshot of a long
// journal in the state's .cache and, once records are appended, reads
// from it what it would read from the whole journal.
func TestStatusFromAFoldSnapshot(t *testing.T) {
	file, state := statusFixture(t, 40, 3000)
	journal := steps.JournalPath(state, "bench-window")
	status := func(what string) string {
		t.Helper()
		r := runbook(t, nil, "status", "--json", "-f", file, "--state", state)
		if r.code != 0 {
			t.Fatalf("%s: status exited %d: %s", what, r.code, r.err)
		}
		// The run never finished: its figures are as of now, which moves
		// between two calls.
		return nowFigures.ReplaceAllString(r.out, `"$1": "(now)"`)
	}
	snapshots := func() []string {
		s, _ := filepath.Glob(filepath.Join(state, ".cache", "fold-*"))
		return s
	}
	// Plain status shows no note and reads none (the snapshot's are read
	// past); whatever it stores, status --json still shows them all.
	plain := func(what string) {
		t.Helper()
		if r := runbook(t, nil, "status", "-f", file, "--state", state); r.code != 0 || !strings.Contains(r.out, "s039") {
			t.Fatalf("%s: plain status exited %d: %s%s", what, r.code, r.out, r.err)
		}
	}
	plain("first read, without notes")
	first := status("first read")
	if n := len(snapshots()); n != 1 {
		t.Fatalf("status of a 3000-record journal kept %d fold snapshots, want 1", n)
	}
	if !strings.Contains(first, `"notes"`) {
		t.Fatal("status --json shows no note: the fixture has many")
	}
	plain("from the snapshot, without notes")
	if again := status("from the snapshot"); again != first {
		t.Fatalf("status from the snapshot differs from the first read:\n%s\nfirst:\n%s", again, first)
	}

	// Records appended after the snapshot: a note and a dirty-making
	// start on the first step.
	f, err := os.OpenFile(journal, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := steps.ReadRun(journal)
	if err != nil {
		t.Fatal(err)
	}
	at := run.LastAt
	var evs []steps.Event
	for i, kind := range []steps.EventKind{steps.EvNote, steps.EvUndoStarted, steps.EvNote} {
		at = at.Add(time.Second)
		evs = append(evs, steps.Event{Seq: run.LastSeq + uint64(i) + 1, At: at, Kind: kind, Step: "s000", Actor: "ben", Note: "appended after the snapshot"})
	}
	var tail []byte
	for _, ev := range evs {
		tail = steps.AppendRecord(tail, ev)
	}
	if _, err := f.Write(tail); err != nil {
		t.Fatal(err)
	}
	f.Close()
	plain("snapshot and tail, without notes")
	withTail := status("snapshot and tail")
	if !strings.Contains(withTail, "appended after the snapshot") {
		t.Fatal("status --json does not show the note appended after the snapshot")
	}
	for _, s := range snapshots() {
		os.Remove(s)
	}
	if whole := status("whole journal"); whole != withTail {
		t.Fatalf("status from the snapshot and the appended records:\n%s\nfrom the whole journal:\n%s", withTail, whole)
	}
	if withTail == first {
		t.Fatal("the appended records changed nothing in the status: the test proves nothing")
	}
}
