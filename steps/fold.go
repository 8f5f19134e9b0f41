package steps

import (
	"fmt"
)

// RunFold folds a run's journal records one at a time as they arrive from
// somewhere other than the local journal file (the shared store, for a
// follower). Each record is the journal's own checksummed line: it is
// checked and decoded as the journal reader does, must carry the next
// sequence, and is applied with Run.Apply, so a follower's run is the
// same fold as the driver's.
type RunFold struct {
	name string // what the records are, for messages
	run  *Run
	in   *journalText
	n    uint64 // records folded
}

// NewRunFold is an empty fold; name says where the records come from.
func NewRunFold(name string) *RunFold {
	return &RunFold{name: name, run: NewRun(), in: newJournalText()}
}

// Add checks, decodes and folds one record (with or without its newline)
// and returns its event. A record that fails its checksum, is not the
// next in sequence, or is illegal for the run is an error and changes
// nothing.
func (f *RunFold) Add(rec []byte) (Event, error) {
	if n := len(rec); n > 0 && rec[n-1] == '\n' {
		rec = rec[:n-1]
	}
	ev, reason, newer := decodeRecord(rec, f.in)
	if newer != 0 {
		return Event{}, &NewerFormatError{Path: f.name, Line: int(f.n) + 1, Version: newer}
	}
	if reason == "" && ev.Seq != f.n+1 {
		reason = fmt.Sprintf("has sequence %d where %d was expected", ev.Seq, f.n+1)
	}
	if reason != "" {
		return Event{}, &CorruptError{Path: f.name, Line: int(f.n) + 1, Reason: reason}
	}
	if _, err := f.run.Apply(ev); err != nil {
		return Event{}, fmt.Errorf("%s record %d (%s): %w", f.name, ev.Seq, ev.Kind, err)
	}
	f.n++
	return ev, nil
}

// Seq is the sequence of the last record folded (0: none).
func (f *RunFold) Seq() uint64 { return f.n }

// Snapshot is a copy of the run so far, for a reader that keeps it while
// the fold goes on.
func (f *RunFold) Snapshot() *Run { return f.run.Clone() }
