package steps

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
)

// foldSnapFormat names the encoding below; bump it whenever the encoding
// or the fold's rules change (the caller's key also changes with the
// binary, so a new build never trusts an old snapshot).
const foldSnapFormat = "runbook-fold/1\n"

// foldSnapEvery is how many records a read must fold beyond its snapshot
// before it stores a new one: enough that the saving outweighs the write.
const foldSnapEvery = 1024

// ReadRunCached is ReadRun for a reader that comes back (status, report):
// it starts from the fold snapshot cache holds for path (the run a read
// folded the journal to, and where in the journal that read ended) when
// that snapshot still holds, folds only the records after it, and stores
// a new snapshot when it folded many. The result is ReadRun's.
func ReadRunCached(path string, cache runbooks.Cache, key string) (*Run, *TornTail, error) {
	return readRunCached(path, cache, key, false)
}

// ReadRunCachedNoNotes is ReadRunCached for a reader that shows no note
// (status, unless as JSON): every step's Notes is nil, and a snapshot's
// notes are read past, not held — on a long, troubled window they are
// most of the run. What it stores is a whole snapshot, notes included.
func ReadRunCachedNoNotes(path string, cache runbooks.Cache, key string) (*Run, *TornTail, error) {
	run, torn, err := readRunCached(path, cache, key, true)
	if err != nil {
		return nil, nil, err
	}
	for _, st := range run.Steps {
		st.Notes = nil
	}
	return run, torn, nil
}

func readRunCached(path string, cache runbooks.Cache, key string, noNotes bool) (*Run, *TornTail, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return NewRun(), nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	run, torn, _, err := foldFile(f, path, cache, key, noNotes)
	return run, torn, err
}

// foldFile folds the journal open in f from its start, through the fold
// snapshot cache holds for path (nil: none), and returns the run, its
// torn tail and where the whole records end.
//
// A snapshot is used when it was written under the same key (the
// caller's: the binary's identity), the journal still holds, at the
// snapshot's end, byte for byte the record the snapshot ended with, and
// every record before it still passes its checksum in sequence (a scan
// of the bytes, without decoding or folding them). A damaged record
// anywhere makes the snapshot unused, so the fold from the start reports
// it as it always does. What passes is what was folded: the journal only
// grows by appends, and a torn tail is only ever cut.
//
// noNotes reads past a snapshot's notes (the caller drops the rest): the
// run then lacks them, so when it would store a new snapshot it folds the
// journal again, whole, to store one that has them.
func foldFile(f *os.File, path string, cache runbooks.Cache, key string, noNotes bool) (*Run, *TornTail, scanPos, error) {
	var slot string
	var snap []byte
	if cache != nil {
		slot = foldSlot(path)
		snap = cache.Get(slot)
	}
	var run *Run
	c, pos, ok := openFoldSnap(snap, key)
	if ok && snapStillHolds(f, pos) {
		// The journal's records are checked while the run decodes: on a
		// long journal each takes milliseconds, and f is not read here
		// until both are done.
		intact := make(chan bool, 1)
		go func() { intact <- prefixIntact(f, pos) }()
		c.noNotes = noNotes
		run, ok = c.finish(pos)
		ok = <-intact && ok
	} else {
		ok = false
	}
	if !ok {
		run, pos = NewRun(), scanPos{}
	}
	if _, err := f.Seek(pos.Off, io.SeekStart); err != nil {
		return nil, nil, scanPos{}, fmt.Errorf("read journal: %w", err)
	}
	torn, end, err := scanJournalFrom(path, bufio.NewReaderSize(f, journalBuffer), pos, func(ev Event) error {
		if _, err := run.Apply(ev); err != nil {
			return fmt.Errorf("journal %s record %d (%s): %w", path, ev.Seq, ev.Kind, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, scanPos{}, err
	}
	if cache != nil && end.N-pos.N >= foldSnapEvery {
		if noNotes && pos.N > 0 {
			// Notes were read past: fold again, whole, to store them.
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return nil, nil, scanPos{}, fmt.Errorf("read journal: %w", err)
			}
			return foldFile(f, path, cache, key, false)
		}
		if last, ok := readLastRecord(f, end); ok {
			cache.Put(slot, encodeFoldSnap(run, key, end, last))
		}
	}
	return run, torn, end, nil
}

// prefixIntact reads the journal up to pos and checks that it is pos.N
// whole records, each passing its checksum, numbered 1 to pos.N: the
// journal's own checks, without decoding a record.
func prefixIntact(f *os.File, pos scanPos) bool {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, pos.Off), journalBuffer)
	var long []byte
	for n := uint64(1); ; n++ {
		rec, err := readLine(br, &long)
		if len(rec) == 0 && err == io.EOF {
			return n == pos.N+1
		}
		if err != nil || n > pos.N || !recordIntact(rec[:len(rec)-1], n) {
			return false
		}
	}
}

// recordIntact tells whether rec (without its newline) passes its
// checksum and carries sequence seq, as decodeRecord would find.
func recordIntact(rec []byte, seq uint64) bool {
	if len(rec) < 10 || rec[8] != ' ' {
		return false
	}
	want, ok := parseHex32(rec[:8])
	if !ok || want != crc32.Checksum(rec[9:], castagnoli) {
		return false
	}
	for payload := rec[9:]; len(payload) > 0; {
		kv := payload
		if i := bytes.IndexByte(payload, '\t'); i >= 0 {
			kv, payload = payload[:i], payload[i+1:]
		} else {
			payload = nil
		}
		if v, found := bytes.CutPrefix(kv, []byte("seq=")); found {
			n, err := parseInt(v)
			return err == nil && n >= 0 && uint64(n) == seq
		}
	}
	return false
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

// The encoding: the format line, the key, a string table (a long journal
// repeats the same actors, hosts and notes), then the snapshot's end and
// the run, as uvarint-framed fields. Times are a presence mark and Unix
// nanoseconds in UTC, as the journal decodes them. One walk over the run
// (snapCoder.run) both writes and reads, so the two cannot drift apart.

// snapCoder writes (dec false) or reads (dec true) a snapshot's fields.
type snapCoder struct {
	dec bool
	b   []byte // written so far, or left to read
	err error
	// noNotes: reading, every step's notes are read past, not kept.
	noNotes bool

	strs map[string]uint64 // writing: the table's index of each string
	tab  []string          // the string table
}

var errSnap = errors.New("fold snapshot: bad encoding")

func (c *snapCoder) fail() {
	c.err, c.b = errSnap, nil
}

func (c *snapCoder) uint64(v *uint64) {
	if !c.dec {
		c.b = binary.AppendUvarint(c.b, *v)
		return
	}
	x, n := binary.Uvarint(c.b)
	if n <= 0 {
		c.fail()
		return
	}
	*v, c.b = x, c.b[n:]
}

// int64 codes a signed number zig-zag, as encoding/binary's varints.
func (c *snapCoder) int64(v *int64) {
	x := uint64(*v<<1) ^ uint64(*v>>63)
	c.uint64(&x)
	*v = int64(x>>1) ^ -int64(x&1)
}

func (c *snapCoder) int(v *int) {
	x := int64(*v)
	c.int64(&x)
	*v = int(x)
}

func (c *snapCoder) status(v *Status) {
	x := uint64(*v)
	c.uint64(&x)
	*v = Status(x)
}

func (c *snapCoder) duration(v *time.Duration) {
	x := int64(*v)
	c.int64(&x)
	*v = time.Duration(x)
}

func (c *snapCoder) bool(v *bool) {
	var x uint64
	if *v {
		x = 1
	}
	c.uint64(&x)
	*v = x == 1
}

func (c *snapCoder) str(v *string) {
	if !c.dec {
		i, ok := c.strs[*v]
		if !ok {
			i = uint64(len(c.tab))
			c.strs[*v] = i
			c.tab = append(c.tab, *v)
		}
		c.uint64(&i)
		return
	}
	var i uint64
	c.uint64(&i)
	if i >= uint64(len(c.tab)) {
		c.fail()
		return
	}
	*v = c.tab[i]
}

func (c *snapCoder) time(v *time.Time) {
	set := !v.IsZero()
	c.bool(&set)
	if !set {
		*v = time.Time{}
		return
	}
	ns := v.UnixNano()
	c.int64(&ns)
	*v = time.Unix(0, ns).UTC()
}

// count codes a length; read, it is checked against what is left (every
// element takes a byte at least), so damage cannot ask for a huge
// allocation.
func (c *snapCoder) count(n int) int {
	x := uint64(n)
	c.uint64(&x)
	if c.dec && x > uint64(len(c.b)) {
		c.fail()
		return 0
	}
	return int(x)
}

// snapSlice codes a slice, nil and empty told apart, each element by one.
func snapSlice[T any](c *snapCoder, s *[]T, one func(*T)) {
	present := *s != nil
	c.bool(&present)
	n := c.count(len(*s))
	if c.dec {
		*s = nil
		if present {
			*s = make([]T, n)
		} else if n != 0 {
			c.fail()
		}
	}
	for i := range *s {
		one(&(*s)[i])
	}
}

// snapSkip reads past a slice snapSlice wrote, each element decoded into
// one scratch value and dropped.
func snapSkip[T any](c *snapCoder, one func(*T)) {
	var present bool
	c.bool(&present)
	n := c.count(0)
	if !present && n != 0 {
		c.fail()
	}
	var scratch T
	for range n {
		if c.err != nil {
			return
		}
		one(&scratch)
	}
}

// run is the walk over everything the fold sets (see snapFields in the
// tests: a new field fails them until it is coded here).
func (c *snapCoder) run(r *Run) {
	c.str(&r.Runbook)
	c.str(&r.Digest)
	c.time(&r.StartedAt)
	c.bool(&r.Finished)
	c.time(&r.FinishedAt)
	c.str(&r.Operator)
	c.str(&r.Host)
	c.bool(&r.Rehearsal)
	c.str(&r.Date)
	c.int(&r.Resumes)
	c.uint64(&r.LastSeq)
	c.time(&r.LastAt)
	c.str(&r.LastCommit)
	c.str(&r.LastCommitStep)
	snapSlice(c, &r.owed, c.str)
	c.uint64(&r.NoteRef)
	n := c.count(len(r.Steps))
	if !c.dec {
		for id, s := range r.Steps {
			c.str(&id)
			c.stepState(s)
		}
		return
	}
	states := make([]StepState, n)
	for i := range states {
		var id string
		c.str(&id)
		c.stepState(&states[i])
		r.Steps[id] = &states[i]
	}
}

func (c *snapCoder) stepState(s *StepState) {
	c.status(&s.Status)
	c.int(&s.Attempts)
	c.time(&s.StartedAt)
	c.time(&s.FinishedAt)
	c.duration(&s.Active)
	c.time(&s.activeFrom)
	c.time(&s.lastAt)
	c.bool(&s.recheck)
	c.str(&s.LastErr)
	c.str(&s.Reason)
	c.str(&s.Actor)
	note := func(n *Note) {
		c.time(&n.At)
		c.str(&n.By)
		c.str(&n.Text)
		c.str(&n.Host)
		c.str(&n.Via)
	}
	if c.dec && c.noNotes {
		snapSkip(c, note)
	} else {
		snapSlice(c, &s.Notes, note)
	}
	c.checked(&s.Checked)
	c.str(&s.Commit)
	c.int(&s.Manual)
	c.status(&s.InFlight)
	c.bool(&s.Undone)
	c.bool(&s.MarkedDone)
	c.str(&s.CancelledBy)
	c.uint64(&s.Seq)
	snapSlice(c, &s.Approvals, func(a *Approval) {
		c.str(&a.By)
		c.str(&a.Host)
		c.time(&a.At)
		c.str(&a.Reason)
		c.str(&a.Via)
	})
	c.time(&s.ApprovalAsked)
	c.str(&s.DoHost)
	c.str(&s.Saved)
}

// checked codes a checklist's ticks, nil and empty told apart.
func (c *snapCoder) checked(m *map[int]bool) {
	present := *m != nil
	c.bool(&present)
	n := c.count(len(*m))
	if !c.dec {
		for k, v := range *m {
			c.int(&k)
			c.bool(&v)
		}
		return
	}
	*m = nil
	if present {
		*m = make(map[int]bool, n)
	} else if n != 0 {
		c.fail()
		return
	}
	for range n {
		var k int
		var v bool
		c.int(&k)
		c.bool(&v)
		if *m != nil {
			(*m)[k] = v
		}
	}
}

// end codes where the snapshot ends: the journal offset, the records
// folded and the last record's bytes.
func (c *snapCoder) end(pos *scanPos) {
	off := uint64(pos.Off)
	c.uint64(&off)
	pos.Off = int64(off)
	c.uint64(&pos.N)
	n := c.count(len(pos.rec))
	if !c.dec {
		c.b = append(c.b, pos.rec...)
		return
	}
	if c.err != nil {
		return
	}
	pos.rec, pos.Last, c.b = c.b[:n:n], n, c.b[n:]
}

// encodeFoldSnap encodes run, folded from a journal up to end, whose
// last record is last.
func encodeFoldSnap(run *Run, key string, end scanPos, last []byte) []byte {
	body := &snapCoder{strs: map[string]uint64{}}
	end.rec = last
	body.end(&end)
	body.run(run)
	// The header and string table go before the body they serve.
	out := make([]byte, 0, len(foldSnapFormat)+len(key)+len(body.b)+64)
	out = append(out, foldSnapFormat...)
	out = binary.AppendUvarint(out, uint64(len(key)))
	out = append(out, key...)
	out = binary.AppendUvarint(out, uint64(len(body.tab)))
	for _, s := range body.tab {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return append(out, body.b...)
}

// decodeFoldSnap decodes a snapshot written under key; ok is false for
// anything else (no snapshot, another key or format, damage).
func decodeFoldSnap(data []byte, key string) (run *Run, pos scanPos, ok bool) {
	c, pos, ok := openFoldSnap(data, key)
	if !ok {
		return nil, scanPos{}, false
	}
	if run, ok = c.finish(pos); !ok {
		return nil, scanPos{}, false
	}
	return run, pos, true
}

// openFoldSnap decodes a snapshot's head: its key, string table and end
// (which is all a check against the journal needs); finish decodes the
// run that follows.
func openFoldSnap(data []byte, key string) (c *snapCoder, pos scanPos, ok bool) {
	if !bytes.HasPrefix(data, []byte(foldSnapFormat)) {
		return nil, scanPos{}, false
	}
	// One string for the whole snapshot: every string of the run is a
	// slice of it, so a long journal's text costs one allocation.
	all := string(data)
	c = &snapCoder{dec: true, b: data[len(foldSnapFormat):]}
	text := func() string { // a length-framed string
		n := c.count(0)
		if c.err != nil {
			return ""
		}
		at := len(data) - len(c.b)
		c.b = c.b[n:]
		return all[at : at+n]
	}
	if text() != key || c.err != nil {
		return nil, scanPos{}, false
	}
	c.tab = make([]string, c.count(0))
	for i := range c.tab {
		c.tab[i] = text()
	}
	c.end(&pos)
	if c.err != nil {
		return nil, scanPos{}, false
	}
	return c, pos, true
}

// finish decodes the run of a snapshot whose head openFoldSnap read.
func (c *snapCoder) finish(pos scanPos) (*Run, bool) {
	run := NewRun()
	c.run(run)
	if c.err != nil || len(c.b) != 0 || run.LastSeq != pos.N {
		return nil, false
	}
	return run, true
}
