package steps

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// snapFields is every field of the run's state and whether the fold
// snapshot carries it. A field added to Run, StepState, Note or Approval
// fails TestFoldSnapshotKnowsEveryField until it is encoded (or said not
// to be folded from the journal) in foldsnap.go and listed here.
var snapFields = map[string]map[string]bool{
	"Run": {"Runbook": true, "Digest": true, "StartedAt": true, "Finished": true, "FinishedAt": true,
		"Operator": true, "Host": true, "Rehearsal": true, "Date": true, "Resumes": true, "LastSeq": true,
		"LastAt": true, "Steps": true, "LastCommit": true, "LastCommitStep": true, "owed": true, "NoteRef": true,
		// Share is set by Session.Snapshot, never by the fold.
		"Share": false},
	"StepState": {"Status": true, "Attempts": true, "StartedAt": true, "FinishedAt": true, "Active": true,
		"activeFrom": true, "lastAt": true, "recheck": true, "LastErr": true, "Reason": true, "Actor": true,
		"Notes": true, "Checked": true, "Commit": true, "Manual": true, "InFlight": true, "Undone": true,
		"MarkedDone": true, "CancelledBy": true, "Seq": true, "Approvals": true, "ApprovalAsked": true,
		"DoHost": true, "Saved": true},
	"Note":     {"At": true, "By": true, "Text": true, "Host": true, "Via": true},
	"Approval": {"By": true, "Host": true, "At": true, "Reason": true, "Via": true},
}

func TestFoldSnapshotKnowsEveryField(t *testing.T) {
	for _, v := range []any{Run{}, StepState{}, Note{}, Approval{}} {
		typ := reflect.TypeOf(v)
		known := snapFields[typ.Name()]
		for i := range typ.NumField() {
			if _, ok := known[typ.Field(i).Name]; !ok {
				t.Errorf("%s.%s is new: encode it in foldsnap.go (or say why the fold never sets it) and list it in snapFields", typ.Name(), typ.Field(i).Name)
			}
		}
		if len(known) != typ.NumField() {
			t.Errorf("snapFields lists %d fields of %s, which has %d", len(known), typ.Name(), typ.NumField())
		}
	}
}

// walkJournal is a journal of n records that a real fold accepts, drawn
// at random from every event kind with every field set now and then: the
// events the fold refuses are left out, as a session never writes them.
func walkJournal(t testing.TB, seed uint64, n int) []byte {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 7))
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	at := time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)
	run := NewRun()
	var evs []Event
	add := func(ev Event) bool {
		at = at.Add(time.Duration(1+rnd.IntN(90)) * time.Second)
		ev.At, ev.Seq = at, uint64(len(evs)+1)
		if _, err := run.Apply(ev); err != nil {
			return false
		}
		evs = append(evs, ev)
		return true
	}
	add(Event{Kind: EvRunStarted, Runbook: "walk", Digest: "d1", Actor: "ana", Host: "ops-1", PID: 7, Date: "2025-10-24", Rehearsal: true})
	ids := []string{"a", "b", "c", "d", "e"}
	kinds := EventKinds()
	for len(evs) < n {
		id := pick(ids...)
		k := kinds[rnd.IntN(len(kinds))]
		if rnd.IntN(4) > 0 {
			// Mostly what the step's status allows, so steps go far.
			var legal []EventKind
			for kind, from := range allowed {
				if slices.Contains(from, run.Step(id).Status) {
					legal = append(legal, kind)
				}
			}
			slices.Sort(legal)
			if len(legal) > 0 { // a skipped step allows none
				k = legal[rnd.IntN(len(legal))]
			}
		}
		if k == EvRunStarted {
			continue
		}
		ev := Event{Kind: k, Step: id, Actor: pick("ana", "ben", "headless --confirm-manual")}
		switch k {
		case EvRunResumed:
			ev.Step, ev.Host, ev.PID = "", pick("ops-1", "ops-2"), 9
			if rnd.IntN(3) == 0 {
				ev.Digest = pick("d1", "d2")
			}
		case EvRunFinished:
			ev.Step = ""
		case EvStepStarted:
			ev.Attempt = run.Step(id).Attempts + 1
			ev.Host = pick("ops-1", "ops-2")
		case EvStepAwaiting, EvStepConfirmed:
			ev.Action = rnd.IntN(2)
			ev.Reason = pick("", "seen on the console")
		case EvStepSucceeded, EvUndoFinished:
			ev.NoCheckpoint = rnd.IntN(4) == 0
			ev.Host, ev.Saved = pick("ops-1", "ops-2"), pick("", SavedFiles, SavedNone)
		case EvStepFailed, EvUndoFailed:
			ev.Err = pick("exit 1", "502 Bad Gateway")
			ev.Host, ev.Saved = pick("ops-1", "ops-2"), pick("", SavedFiles, SavedNone)
		case EvStepMarkedDone, EvStepSkipped:
			ev.Reason = pick("done by hand", "not needed today")
		case EvStepDirty:
			ev.Note = pick("running", "verifying", "undoing")
		case EvNote:
			ev.Note = pick("waiting for the upstream", "P95 140 ms", "ok")
			if rnd.IntN(3) == 0 {
				ev.Host, ev.Via, ev.Ref = "ben-laptop", ViaStore, uint64(len(evs))
			}
		case EvChecklistTick:
			ev.Item, ev.Checked = rnd.IntN(4), rnd.IntN(3) > 0
		case EvCheckpoint:
			ev.Commit = pick("", fmt.Sprintf("%040x", rnd.Uint64()))
		case EvStepCancelled:
			ev.Note = "cancel asked"
		case EvApprovalAsked:
			ev.Note = "needs 1 approval"
		case EvStepApproved:
			ev.Host, ev.Reason, ev.Via = "ben-laptop", "looked at the diff", pick(ViaStore, ViaDriver)
			ev.Given = at.Add(-time.Minute)
		}
		add(ev)
	}
	var buf bytes.Buffer
	if err := WriteEvents(&buf, evs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// foldBytes folds journal bytes from a snapshot taken after k records.
func foldFromSnap(t *testing.T, data []byte, k int) *Run {
	t.Helper()
	evs, torn, err := DecodeJournal("j", data)
	if err != nil || torn != nil {
		t.Fatalf("decode: %v %v", err, torn)
	}
	head, err := Fold(evs[:k])
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	var last []byte
	for range k {
		i := bytes.IndexByte(data[off:], '\n')
		last = data[off : off+int64(i)+1]
		off += int64(i) + 1
	}
	snap := encodeFoldSnap(head, "key", scanPos{Off: off, N: uint64(k), Last: len(last)}, last)
	run, pos, ok := decodeFoldSnap(snap, "key")
	if !ok {
		t.Fatalf("snapshot after %d records does not decode", k)
	}
	if pos.Off != off || pos.N != uint64(k) || !bytes.Equal(pos.rec, last) {
		t.Fatalf("snapshot after %d records ends at %d/%d, want %d/%d", k, pos.Off, pos.N, off, k)
	}
	if !reflect.DeepEqual(run, head) {
		t.Fatalf("snapshot after %d records decodes to another run:\n%+v\nwant\n%+v", k, run, head)
	}
	for _, ev := range evs[k:] {
		if _, err := run.Apply(ev); err != nil {
			t.Fatalf("fold after the snapshot at %d: %v", k, err)
		}
	}
	return run
}

func TestFoldSnapshotThenTailIsTheWholeFold(t *testing.T) {
	for seed := range uint64(4) {
		data := walkJournal(t, seed, 600)
		want, torn, err := FoldJournal("j", data)
		if err != nil || torn != nil {
			t.Fatalf("fold: %v %v", err, torn)
		}
		for _, k := range []int{1, 2, 3, 17, 100, 299, 300, 599, 600} {
			if got := foldFromSnap(t, data, k); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: snapshot at %d then the rest:\n%+v\nthe whole fold:\n%+v", seed, k, got, want)
			}
		}
		// The walk is only a test of the encoding if it sets what the
		// encoding carries.
		if seed == 0 {
			requireEveryFieldSet(t, want)
		}
	}
}

// requireEveryFieldSet fails for a field snapFields says is carried that
// no step (or note, or approval) of run has set.
func requireEveryFieldSet(t *testing.T, run *Run) {
	t.Helper()
	seen := map[string]bool{}
	mark := func(typ string, v reflect.Value) {
		for i := range v.NumField() {
			if !v.Field(i).IsZero() {
				seen[typ+"."+v.Type().Field(i).Name] = true
			}
		}
	}
	mark("Run", reflect.ValueOf(*run))
	for _, s := range run.Steps {
		mark("StepState", reflect.ValueOf(*s))
		for _, n := range s.Notes {
			mark("Note", reflect.ValueOf(n))
		}
		for _, a := range s.Approvals {
			mark("Approval", reflect.ValueOf(a))
		}
	}
	// Some are set only at moments a finished walk may have passed: the
	// walk runs several seeds, and these are checked on prefixes too.
	for typ, fields := range snapFields {
		for f, carried := range fields {
			if carried && !seen[typ+"."+f] && !slices.Contains([]string{"Run.Finished", "Run.FinishedAt", "Run.owed", "StepState.activeFrom", "StepState.recheck", "StepState.Manual", "StepState.InFlight", "StepState.CancelledBy", "StepState.MarkedDone"}, typ+"."+f) {
				t.Errorf("the walk never set %s.%s: the round trip does not test it", typ, f)
			}
		}
	}
}

// TestWalkSetsTheMomentaryFields: the fields a finished walk may have
// cleared are set at some prefix, where the round trip is also checked.
func TestWalkSetsTheMomentaryFields(t *testing.T) {
	data := walkJournal(t, 0, 600)
	evs, _, err := DecodeJournal("j", data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	run := NewRun()
	for i, ev := range evs {
		if _, err := run.Apply(ev); err != nil {
			t.Fatal(err)
		}
		hit := false
		check := func(name string, set bool) {
			if set && !want[name] {
				want[name], hit = true, true
			}
		}
		check("Run.Finished", run.Finished)
		check("Run.owed", len(run.owed) > 0)
		for _, s := range run.Steps {
			check("activeFrom", !s.activeFrom.IsZero())
			check("recheck", s.recheck)
			check("Manual", s.Manual != 0)
			check("InFlight", s.InFlight != 0)
			check("CancelledBy", s.CancelledBy != "")
			check("MarkedDone", s.MarkedDone)
		}
		if hit {
			if got := foldFromSnap(t, data, i+1); !reflect.DeepEqual(got, mustFold(t, data)) {
				t.Fatalf("snapshot at %d (where %v first held) then the rest differs from the whole fold", i+1, want)
			}
		}
	}
	for _, f := range []string{"Run.Finished", "Run.owed", "activeFrom", "recheck", "Manual", "InFlight", "CancelledBy", "MarkedDone"} {
		if !want[f] {
			t.Errorf("the walk never set %s", f)
		}
	}
}

func mustFold(t *testing.T, data []byte) *Run {
	t.Helper()
	run, _, err := FoldJournal("j", data)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// mapCache is a FoldCache in memory that counts its writes.
type mapCache struct {
	m    map[string][]byte
	puts int
}

func (c *mapCache) Get(slot string) []byte { return c.m[slot] }
func (c *mapCache) Put(slot string, data []byte) {
	c.m[slot] = data
	c.puts++
}

// walkedJournal is where a test writes a journal, and the records of a
// random legal walk of n of them to write there.
func walkedJournal(t *testing.T, seed uint64, n int) (path string, lines [][]byte) {
	t.Helper()
	lines = bytes.SplitAfter(walkJournal(t, seed, n), []byte("\n"))
	return filepath.Join(t.TempDir(), "journal"), lines[:len(lines)-1]
}

func TestReadRunCached(t *testing.T) {
	path, lines := walkedJournal(t, 11, 3000)
	write := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	same := func(what string, cache *mapCache, key string) (*Run, *TornTail) {
		t.Helper()
		want, wantTorn, wantErr := ReadRun(path)
		got, torn, err := ReadRunCached(path, cache, key)
		if !reflect.DeepEqual(err, wantErr) || !reflect.DeepEqual(torn, wantTorn) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: ReadRunCached gave torn %+v, err %v; ReadRun torn %+v, err %v (runs equal: %v)",
				what, torn, err, wantTorn, wantErr, reflect.DeepEqual(got, want))
		}
		return got, torn
	}
	cache := &mapCache{m: map[string][]byte{}}

	// Below foldSnapEvery records nothing is stored.
	write(bytes.Join(lines[:500], nil))
	same("500 records", cache, "k1")
	if cache.puts != 0 {
		t.Fatalf("a read of 500 records stored %d snapshots", cache.puts)
	}
	write(bytes.Join(lines[:2000], nil))
	same("2000 records, no snapshot", cache, "k1")
	if cache.puts != 1 {
		t.Fatalf("a read of 2000 records stored %d snapshots, want 1", cache.puts)
	}
	// Appends are folded from the snapshot on.
	write(bytes.Join(lines, nil))
	same("3000 records from the snapshot at 2000", cache, "k1")
	if cache.puts != 1 {
		t.Fatalf("a read of 1000 records past the snapshot stored %d more, want none", cache.puts-1)
	}

	// The snapshot is used: its records are checked, not folded again.
	// Planted in the cached run, a mark shows in what is read.
	marked := bytes.Clone(cache.m[foldSlot(path)])
	if i := bytes.Index(marked, []byte("walk")); i < 0 {
		t.Fatal("the snapshot does not hold the runbook's name")
	} else {
		copy(marked[i:], "WALK")
	}
	marks := &mapCache{m: map[string][]byte{foldSlot(path): marked}}
	if run, _, err := ReadRunCached(path, marks, "k1"); err != nil || run.Runbook != "WALK" {
		t.Fatalf("the snapshot was not used: runbook %q, %v", run.Runbook, err)
	}
	// ... but not under another key (another binary); that read stores
	// its own, so it gets a copy.
	copied := &mapCache{m: map[string][]byte{foldSlot(path): marked}}
	if run, _, err := ReadRunCached(path, copied, "k2"); err != nil || run.Runbook != "walk" {
		t.Fatalf("a snapshot stored under another key was used: runbook %q, %v", run.Runbook, err)
	}
	// A byte changed inside its prefix (not its last record) is found:
	// the snapshot is not used and the read says what ReadRun says.
	damaged := bytes.Join(lines, nil)
	i := bytes.Index(damaged, lines[10])
	damaged[i+20] ^= 1
	write(damaged)
	if _, _, err := ReadRun(path); err == nil {
		t.Fatal("ReadRun took a damaged record")
	}
	same("damage inside the snapshot's prefix", marks, "k1")
	// So is a record renumbered with a checksum to match.
	write(bytes.Join(lines, nil))
	renumbered := bytes.Join(lines, nil)
	j := bytes.Index(renumbered, lines[10])
	rec := bytes.Replace(lines[10][9:len(lines[10])-1], []byte("seq=11\t"), []byte("seq=12\t"), 1)
	fixed := fmt.Appendf(nil, "%08x %s\n", crc32.Checksum(rec, castagnoli), rec)
	renumbered = append(renumbered[:j:j], append(fixed, renumbered[j+len(lines[10]):]...)...)
	write(renumbered)
	same("a record renumbered inside the prefix", marks, "k1")

	// A torn tail past the snapshot is reported where ReadRun reports it.
	torn := append(bytes.Join(lines[:2500], nil), lines[2500][:30]...)
	write(torn)
	if _, tt := same("torn after the snapshot", cache, "k1"); tt == nil || tt.Line != 2501 {
		t.Fatalf("torn tail %+v, want line 2501", tt)
	}
	// Damage past the snapshot, followed by more records, is refused
	// with the same line.
	bad := bytes.Join(lines, nil)
	k := bytes.Index(bad, lines[2600])
	bad[k+20] ^= 1
	write(bad)
	_, _, err := ReadRunCached(path, cache, "k1")
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Line != 2601 {
		t.Fatalf("damage at record 2601 after the snapshot: %v", err)
	}

	// A journal cut below the snapshot's end (its torn tail cut by the
	// session), or whose record there changed, is folded from the start.
	write(bytes.Join(lines[:1500], nil))
	same("journal shorter than the snapshot", cache, "k1")
	other := walkJournal(t, 12, 3000)
	write(other)
	same("another journal at the same path", cache, "k1")

	// A missing journal is an empty run.
	os.Remove(path)
	if run, tt, err := ReadRunCached(path, cache, "k1"); err != nil || tt != nil || run.LastSeq != 0 {
		t.Fatalf("missing journal: %v %v %v", run, tt, err)
	}
}

// TestFoldSnapshotDamageIsNoSnapshot: a damaged snapshot (cut short, a
// byte changed anywhere) never panics, and what it decodes to is either
// refused or rejected by the check against the journal.
func TestFoldSnapshotDamageIsNoSnapshot(t *testing.T) {
	data := walkJournal(t, 3, 200)
	run := mustFold(t, data)
	lines := bytes.SplitAfter(data, []byte("\n"))
	last := lines[len(lines)-2]
	snap := encodeFoldSnap(run, "key", scanPos{Off: int64(len(data)), N: run.LastSeq, Last: len(last)}, last)
	for n := range len(snap) {
		if _, _, ok := decodeFoldSnap(snap[:n], "key"); ok {
			t.Fatalf("a snapshot cut to %d of %d bytes decoded", n, len(snap))
		}
	}
	for i := range len(snap) {
		b := bytes.Clone(snap)
		b[i] ^= 0x55
		decodeFoldSnap(b, "key") // must not panic
		if c, pos, ok := openFoldSnap(b, "key"); ok {
			c.noNotes = true // nor when its notes are read past
			c.finish(pos)
		}
	}
	for n := range len(snap) {
		if c, pos, ok := openFoldSnap(snap[:n], "key"); ok {
			c.noNotes = true
			if _, ok := c.finish(pos); ok {
				t.Fatalf("a snapshot cut to %d of %d bytes decoded without its notes", n, len(snap))
			}
		}
	}
	if _, _, ok := decodeFoldSnap(snap, "other"); ok {
		t.Fatal("a snapshot decoded under another key")
	}
}

// withoutNotes is run with every step's notes dropped, as
// ReadRunCachedNoNotes gives it.
func withoutNotes(run *Run) *Run {
	for _, st := range run.Steps {
		st.Notes = nil
	}
	return run
}

// A reader that shows no note gets the run without any, from the
// snapshot (its notes read past) and from the records after it alike;
// what it stores is a whole snapshot, from which a reader of notes gets
// the whole run.
func TestReadRunCachedNoNotes(t *testing.T) {
	path, lines := walkedJournal(t, 17, 3000)
	cache := &mapCache{m: map[string][]byte{}}
	check := func(what string, n, wantPuts int) {
		t.Helper()
		if err := os.WriteFile(path, bytes.Join(lines[:n], nil), 0o600); err != nil {
			t.Fatal(err)
		}
		full, _, err := ReadRun(path)
		if err != nil {
			t.Fatal(err)
		}
		notes := 0
		for _, st := range full.Steps {
			notes += len(st.Notes)
		}
		if notes == 0 {
			t.Fatalf("%s: the journal holds no note: the test shows nothing", what)
		}
		got, _, err := ReadRunCachedNoNotes(path, cache, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, withoutNotes(full)) {
			t.Fatalf("%s: the run read without notes differs from the whole fold's (notes aside)", what)
		}
		if cache.puts != wantPuts {
			t.Fatalf("%s: %d snapshots stored, want %d", what, cache.puts, wantPuts)
		}
		// What is stored holds the notes: a reader of notes, from it, gets
		// the whole run.
		whole, _, err := ReadRunCached(path, cache, "k")
		if err != nil {
			t.Fatal(err)
		}
		want, _, _ := ReadRun(path)
		if !reflect.DeepEqual(whole, want) {
			t.Fatalf("%s: a reader of notes, after it, does not get the whole run", what)
		}
	}
	check("1100 records, no snapshot yet", 1100, 1)
	check("1500 records: the snapshot's notes read past", 1500, 1)
	check("3000 records: 1900 past the snapshot, stored again whole", 3000, 2)
}
