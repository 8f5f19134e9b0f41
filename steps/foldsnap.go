package steps

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// FoldCache keeps fold snapshots between processes: the run a journal
// folded to, and where in the journal that fold ended. Both methods are
// advisory, as for the runbook load cache: Get returns nil when it has
// nothing, and a Put that fails is only a missed saving.
type FoldCache interface {
	Get(slot string) []byte
	Put(slot string, data []byte)
}

// foldSnapFormat names the encoding below; bump it whenever the encoding
// or the fold's rules change (the caller's key also changes with the
// binary, so a new build never trusts an old snapshot).
const foldSnapFormat = "runbook-fold/1\n"

// foldSnapEvery is how many records a read must fold beyond its snapshot
// before it stores a new one: enough that the saving outweighs the write.
const foldSnapEvery = 1024

// ReadRunCached is ReadRun for a reader that comes back (status, report):
// it starts from the snapshot cache holds for path when that snapshot is
// still a prefix of the journal, folds only the records after it, and
// stores a new snapshot when it folded many. The result is ReadRun's.
//
// A snapshot is trusted when it was written under the same key (the
// caller's: the binary's identity) and the journal still holds, at the
// snapshot's end, byte for byte the record the snapshot ended with. The
// journal only grows by appends and a torn tail is only ever cut, so
// that record proves the prefix. Damage inside the prefix made after the
// snapshot (a disk fault, a hand edit) is therefore not seen here; the
// session that opens the run reads every record again and refuses it.
func ReadRunCached(path string, cache FoldCache, key string) (*Run, *TornTail, error) {
	if cache == nil {
		return ReadRun(path)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return NewRun(), nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	slot := foldSlot(path)
	run, pos, ok := decodeFoldSnap(cache.Get(slot), key)
	if ok && !snapStillHolds(f, pos) {
		run, pos, ok = nil, scanPos{}, false
	}
	if !ok {
		run, pos = NewRun(), scanPos{}
	}
	if _, err := f.Seek(pos.Off, io.SeekStart); err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	torn, end, err := scanJournalFrom(path, bufio.NewReaderSize(f, journalBuffer), pos, func(ev Event) error {
		if _, err := run.Apply(ev); err != nil {
			return fmt.Errorf("journal %s record %d (%s): %w", path, ev.Seq, ev.Kind, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if end.N-pos.N >= foldSnapEvery {
		if last, ok := readLastRecord(f, end); ok {
			cache.Put(slot, encodeFoldSnap(run, key, end, last))
		}
	}
	return run, torn, nil
}

// foldSlot names a journal's snapshot in the cache: one per journal file.
func foldSlot(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	sum := sha256.Sum256([]byte(path))
	return "fold-" + hex.EncodeToString(sum[:12])
}

// readLastRecord reads the record that ends at pos (newline included).
func readLastRecord(f *os.File, pos scanPos) ([]byte, bool) {
	if pos.N == 0 || pos.Last <= 0 || int64(pos.Last) > pos.Off {
		return nil, false
	}
	rec := make([]byte, pos.Last)
	if _, err := f.ReadAt(rec, pos.Off-int64(pos.Last)); err != nil {
		return nil, false
	}
	return rec, true
}

// snapStillHolds tells whether f still holds, ending at pos, the record a
// snapshot ended with (pos.rec), at the start of a line.
func snapStillHolds(f *os.File, pos scanPos) bool {
	if pos.N == 0 {
		return true
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() < pos.Off {
		return false
	}
	n := int64(pos.Last)
	start := pos.Off - n
	if start < 0 {
		return false
	}
	from := start
	if from > 0 {
		from-- // the newline before it
	}
	got := make([]byte, pos.Off-from)
	if _, err := f.ReadAt(got, from); err != nil {
		return false
	}
	if start > 0 {
		if got[0] != '\n' {
			return false
		}
		got = got[1:]
	}
	return bytes.Equal(got, pos.rec)
}

// The encoding: the format line, then uvarint-framed fields. Strings go
// through a table (a long journal repeats the same actors, hosts and
// notes), times as a presence byte and Unix nanoseconds in UTC, as the
// journal decodes them. The order of fields below is the encoding.

type snapWriter struct {
	b    []byte
	strs map[string]uint64
	tab  []string
}

func (w *snapWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *snapWriter) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *snapWriter) bool(v bool) {
	if v {
		w.uint(1)
	} else {
		w.uint(0)
	}
}
func (w *snapWriter) str(s string) {
	i, ok := w.strs[s]
	if !ok {
		i = uint64(len(w.tab))
		w.strs[s] = i
		w.tab = append(w.tab, s)
	}
	w.uint(i)
}
func (w *snapWriter) time(t time.Time) {
	if t.IsZero() {
		w.uint(0)
		return
	}
	w.uint(1)
	w.int(t.UnixNano())
}

type snapReader struct {
	b   []byte
	tab []string
	err error
}

var errSnap = errors.New("fold snapshot: bad encoding")

func (r *snapReader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errSnap, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}
func (r *snapReader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errSnap, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}
func (r *snapReader) bool() bool { return r.uint() == 1 }
func (r *snapReader) str() string {
	i := r.uint()
	if i >= uint64(len(r.tab)) {
		r.err = errSnap
		return ""
	}
	return r.tab[i]
}
func (r *snapReader) time() time.Time {
	if r.uint() == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.int()).UTC()
}

// count reads a length and checks it against what is left, so a damaged
// snapshot cannot ask for a huge allocation.
func (r *snapReader) count() int {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errSnap, nil
		return 0
	}
	return int(n)
}

// encodeFoldSnap encodes run, folded from a journal up to end, whose
// last record is last.
func encodeFoldSnap(run *Run, key string, end scanPos, last []byte) []byte {
	w := &snapWriter{strs: map[string]uint64{}}
	w.uint(uint64(end.Off))
	w.uint(end.N)
	w.uint(uint64(len(last)))
	w.b = append(w.b, last...)
	w.str(run.Runbook)
	w.str(run.Digest)
	w.time(run.StartedAt)
	w.bool(run.Finished)
	w.time(run.FinishedAt)
	w.str(run.Operator)
	w.str(run.Host)
	w.bool(run.Rehearsal)
	w.str(run.Date)
	w.uint(uint64(run.Resumes))
	w.uint(run.LastSeq)
	w.time(run.LastAt)
	w.str(run.LastCommit)
	w.str(run.LastCommitStep)
	w.bool(run.owed != nil)
	w.uint(uint64(len(run.owed)))
	for _, s := range run.owed {
		w.str(s)
	}
	w.uint(run.NoteRef)
	w.uint(uint64(len(run.Steps)))
	for id, s := range run.Steps {
		w.str(id)
		encodeStepState(w, s)
	}
	body := w.b
	// The string table goes before the body it serves.
	out := make([]byte, 0, len(foldSnapFormat)+len(key)+len(body)+64)
	out = append(out, foldSnapFormat...)
	out = binary.AppendUvarint(out, uint64(len(key)))
	out = append(out, key...)
	out = binary.AppendUvarint(out, uint64(len(w.tab)))
	for _, s := range w.tab {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return append(out, body...)
}

func encodeStepState(w *snapWriter, s *StepState) {
	w.uint(uint64(s.Status))
	w.uint(uint64(s.Attempts))
	w.time(s.StartedAt)
	w.time(s.FinishedAt)
	w.int(int64(s.Active))
	w.time(s.activeFrom)
	w.time(s.lastAt)
	w.bool(s.recheck)
	w.str(s.LastErr)
	w.str(s.Reason)
	w.str(s.Actor)
	w.bool(s.Notes != nil)
	w.uint(uint64(len(s.Notes)))
	for _, n := range s.Notes {
		w.time(n.At)
		w.str(n.By)
		w.str(n.Text)
		w.str(n.Host)
		w.str(n.Via)
	}
	w.bool(s.Checked != nil)
	w.uint(uint64(len(s.Checked)))
	for i, v := range s.Checked {
		w.int(int64(i))
		w.bool(v)
	}
	w.str(s.Commit)
	w.int(int64(s.Manual))
	w.uint(uint64(s.InFlight))
	w.bool(s.Undone)
	w.bool(s.MarkedDone)
	w.str(s.CancelledBy)
	w.uint(s.Seq)
	w.bool(s.Approvals != nil)
	w.uint(uint64(len(s.Approvals)))
	for _, a := range s.Approvals {
		w.str(a.By)
		w.str(a.Host)
		w.time(a.At)
		w.str(a.Reason)
		w.str(a.Via)
	}
	w.time(s.ApprovalAsked)
	w.str(s.DoHost)
	w.str(s.Saved)
}

// decodeFoldSnap decodes a snapshot written under key; ok is false for
// anything else (no snapshot, another key or format, damage).
func decodeFoldSnap(data []byte, key string) (run *Run, pos scanPos, ok bool) {
	if !bytes.HasPrefix(data, []byte(foldSnapFormat)) {
		return nil, scanPos{}, false
	}
	// One string for the whole snapshot: every string in the run is a
	// slice of it, so a long journal's text costs one allocation.
	all := string(data)
	r := &snapReader{b: data[len(foldSnapFormat):]}
	at := func() int { return len(data) - len(r.b) }
	n := r.count()
	if r.err != nil || all[at():at()+n] != key {
		return nil, scanPos{}, false
	}
	r.b = r.b[n:]
	r.tab = make([]string, r.count())
	for i := range r.tab {
		n := r.count()
		if r.err != nil {
			return nil, scanPos{}, false
		}
		r.tab[i] = all[at() : at()+n]
		r.b = r.b[n:]
	}
	pos.Off = int64(r.uint())
	pos.N = r.uint()
	n = r.count()
	if r.err != nil {
		return nil, scanPos{}, false
	}
	pos.rec = data[at() : at()+n : at()+n]
	pos.Last = n
	r.b = r.b[n:]

	run = NewRun()
	run.Runbook = r.str()
	run.Digest = r.str()
	run.StartedAt = r.time()
	run.Finished = r.bool()
	run.FinishedAt = r.time()
	run.Operator = r.str()
	run.Host = r.str()
	run.Rehearsal = r.bool()
	run.Date = r.str()
	run.Resumes = int(r.uint())
	run.LastSeq = r.uint()
	run.LastAt = r.time()
	run.LastCommit = r.str()
	run.LastCommitStep = r.str()
	owed := r.bool()
	if k := r.count(); owed {
		run.owed = make([]string, k)
		for i := range run.owed {
			run.owed[i] = r.str()
		}
	}
	run.NoteRef = r.uint()
	steps := r.count()
	states := make([]StepState, steps)
	for i := range states {
		id := r.str()
		decodeStepState(r, &states[i])
		run.Steps[id] = &states[i]
	}
	if r.err != nil || len(r.b) != 0 || run.LastSeq != pos.N {
		return nil, scanPos{}, false
	}
	return run, pos, true
}

func decodeStepState(r *snapReader, s *StepState) {
	s.Status = Status(r.uint())
	s.Attempts = int(r.uint())
	s.StartedAt = r.time()
	s.FinishedAt = r.time()
	s.Active = time.Duration(r.int())
	s.activeFrom = r.time()
	s.lastAt = r.time()
	s.recheck = r.bool()
	s.LastErr = r.str()
	s.Reason = r.str()
	s.Actor = r.str()
	notes := r.bool()
	if k := r.count(); notes {
		s.Notes = make([]Note, k)
		for i := range s.Notes {
			n := &s.Notes[i]
			n.At = r.time()
			n.By, n.Text, n.Host, n.Via = r.str(), r.str(), r.str(), r.str()
		}
	}
	checked := r.bool()
	if k := r.count(); checked {
		s.Checked = make(map[int]bool, k)
		for range k {
			i := int(r.int())
			s.Checked[i] = r.bool()
		}
	}
	s.Commit = r.str()
	s.Manual = int(r.int())
	s.InFlight = Status(r.uint())
	s.Undone = r.bool()
	s.MarkedDone = r.bool()
	s.CancelledBy = r.str()
	s.Seq = r.uint()
	approvals := r.bool()
	if k := r.count(); approvals {
		s.Approvals = make([]Approval, k)
		for i := range s.Approvals {
			a := &s.Approvals[i]
			a.By, a.Host = r.str(), r.str()
			a.At = r.time()
			a.Reason, a.Via = r.str(), r.str()
		}
	}
	s.ApprovalAsked = r.time()
	s.DoHost = r.str()
	s.Saved = r.str()
}
