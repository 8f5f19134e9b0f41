package steps

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func foldFixture(t *testing.T) []byte {
	t.Helper()
	at := time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)
	evs := []Event{
		{Seq: 1, At: at, Kind: EvRunStarted, Runbook: "rb", Actor: "ana", Host: "a", Date: "2025-10-24"},
		{Seq: 2, At: at.Add(time.Minute), Kind: EvStepStarted, Step: "one", Attempt: 1},
		{Seq: 3, At: at.Add(2 * time.Minute), Kind: EvStepFailed, Step: "one", Err: "boom"},
		{Seq: 4, At: at.Add(3 * time.Minute), Kind: EvNote, Step: "one", Note: "looked at it"},
		{Seq: 5, At: at.Add(4 * time.Minute), Kind: EvStepStarted, Step: "one", Attempt: 2},
		{Seq: 6, At: at.Add(5 * time.Minute), Kind: EvStepSucceeded, Step: "one"},
	}
	var buf bytes.Buffer
	if err := WriteEvents(&buf, evs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Records folded one at a time make the run the journal reader makes of
// the same bytes.
func TestRunFoldAgreesWithJournalFold(t *testing.T) {
	data := foldFixture(t)
	want, torn, err := FoldJournal("j", data)
	if err != nil || torn != nil {
		t.Fatalf("fold journal: %v %v", err, torn)
	}
	f := NewRunFold("store run x")
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if i%2 == 1 {
			line = bytes.TrimSuffix(line, []byte("\n")) // with or without its newline
		}
		ev, err := f.Add(line)
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if ev.Seq != uint64(i+1) {
			t.Fatalf("record %d decoded as seq %d", i+1, ev.Seq)
		}
	}
	if got := f.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Fatalf("fold differs:\n got %+v\nwant %+v", got, want)
	}
	if f.Seq() != 6 {
		t.Fatalf("Seq = %d, want 6", f.Seq())
	}
}

// A damaged record, a gap or an illegal event is refused and changes
// nothing.
func TestRunFoldRefusesBadRecords(t *testing.T) {
	lines := bytes.SplitAfter(foldFixture(t), []byte("\n"))
	f := NewRunFold("store run x")
	if _, err := f.Add(lines[0]); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := f.Add(lines[2]); !errors.As(err, &ce) {
		t.Fatalf("gap: got %v, want a CorruptError", err)
	}
	bad := bytes.Clone(lines[1])
	bad[len(bad)-3] ^= 1
	if _, err := f.Add(bad); !errors.As(err, &ce) {
		t.Fatalf("flipped byte: got %v, want a CorruptError", err)
	}
	// step.succeeded of a step that never started is illegal.
	var buf bytes.Buffer
	WriteEvents(&buf, []Event{{Seq: 1, Kind: EvRunStarted}, {Seq: 2, Kind: EvStepSucceeded, Step: "one"}})
	illegal := bytes.SplitAfter(buf.Bytes(), []byte("\n"))[1]
	if _, err := f.Add(illegal); err == nil {
		t.Fatal("an illegal event was folded")
	}
	if f.Seq() != 1 || len(f.Snapshot().Steps) != 0 {
		t.Fatalf("a refused record changed the fold: seq %d, steps %v", f.Seq(), f.Snapshot().Steps)
	}
	if _, err := f.Add(lines[1]); err != nil {
		t.Fatalf("the right next record after refusals: %v", err)
	}
}
