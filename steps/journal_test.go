package steps

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// fullEvent sets every field of an event of kind k to a value that is not
// its zero value, so a field the codec forgets shows up as a difference.
func fullEvent(k EventKind, i int) Event {
	return Event{
		Kind:         k,
		At:           time.Date(2025, 10, 24, 8, i, 7, 123456789, time.UTC),
		Step:         fmt.Sprintf("step-%d", i),
		Attempt:      i + 1,
		Action:       i + 2,
		Item:         i + 3,
		Checked:      true,
		Actor:        "ana@ops",
		Reason:       "why " + k.String(),
		Note:         "a note for " + k.String(),
		Err:          "do 1 (shell): exit 1",
		Commit:       "9f2c1e07d4b3a2910e8f6c5d4b3a2910e8f6c5d4",
		NoCheckpoint: true,
		Runbook:      "phase1-security-hardening",
		Digest:       "0123456789abcdef",
		Host:         "ops-laptop",
		PID:          40000 + i,
		Rehearsal:    true,
		Date:         "2025-10-24",
		Via:          ViaStore,
		Given:        time.Date(2025, 10, 24, 8, i, 1, 5, time.UTC),
		Until:        time.Date(2025, 10, 24, 8, i, 2, 7, time.UTC),
		Ref:          uint64(70 + i),
		Saved:        SavedFiles,
	}
}

func TestRecordRoundTripEveryKindEveryField(t *testing.T) {
	var want []Event
	var buf []byte
	for i, k := range EventKinds() {
		ev := fullEvent(k, i)
		ev.Seq = uint64(i + 1)
		want = append(want, ev)
		buf = AppendRecord(buf, ev)
	}
	// Guard: fullEvent really sets every field (a new field must be added
	// to it, and so to the codec).
	v := reflect.ValueOf(want[0])
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Fatalf("fullEvent leaves field %s zero", v.Type().Field(i).Name)
		}
	}
	got, torn, err := DecodeJournal("j", buf)
	if err != nil || torn != nil {
		t.Fatalf("decode: %v, torn %v", err, torn)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestRecordZeroFieldsAreOmittedAndReadBack(t *testing.T) {
	ev := Event{Seq: 1, Kind: EvStepSucceeded, At: time.Unix(0, 5).UTC(), Step: "a"}
	rec := AppendRecord(nil, ev)
	for _, k := range []string{"att=", "act=", "item=", "chk=", "by=", "why=", "note=", "err=", "commit=", "nocp=", "rb=", "dig=", "host=", "pid=", "reh=", "via=", "given=", "ref="} {
		if bytes.Contains(rec, []byte("\t"+k)) {
			t.Errorf("zero field %s written: %q", k, rec)
		}
	}
	got, _, err := DecodeJournal("j", rec)
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], ev) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestRecordKeepsAwkwardText(t *testing.T) {
	texts := []string{
		"tab\there",
		"new\nline",
		"carriage\rreturn",
		`back\slash`,
		`trailing backslash\`,
		`\\double`,
		`looks escaped: \t \n \\`,
		"key=value=more",
		"ünïcödé ✓ and \x00 a NUL",
		"\t\n\\\r",
		"  leading and trailing spaces  ",
	}
	var buf []byte
	for i, s := range texts {
		buf = AppendRecord(buf, Event{Seq: uint64(i + 1), Kind: EvNote, Step: s, Note: s, Err: s, Reason: s, Actor: s, Commit: s, Runbook: s, Digest: s, Host: s})
	}
	if n := bytes.Count(buf, []byte{'\n'}); n != len(texts) {
		t.Fatalf("%d lines for %d records: a newline leaked into a record", n, len(texts))
	}
	got, torn, err := DecodeJournal("j", buf)
	if err != nil || torn != nil {
		t.Fatalf("decode: %v %v", err, torn)
	}
	for i, s := range texts {
		ev := got[i]
		for name, v := range map[string]string{"step": ev.Step, "note": ev.Note, "err": ev.Err, "reason": ev.Reason, "actor": ev.Actor, "commit": ev.Commit, "runbook": ev.Runbook, "digest": ev.Digest, "host": ev.Host} {
			if v != s {
				t.Errorf("%s: got %q want %q", name, v, s)
			}
		}
	}
}

func TestRecordAtIsAnInstantInUTC(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatal("no time zone data (install tzdata):", err)
		}
		t.Skip("no time zone data (RUNBOOK_REQUIRE_SERVICES unset, so not a failure):", err)
	}
	at := time.Date(2025, 10, 24, 10, 0, 0, 1, berlin)
	got, _, err := DecodeJournal("j", AppendRecord(nil, Event{Seq: 1, Kind: EvRunFinished, At: at}))
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].At.Equal(at) || got[0].At.Location() != time.UTC {
		t.Fatalf("at %v", got[0].At)
	}
}

// writeJournal writes events as a journal file and returns its bytes.
func writeJournal(t *testing.T, path string, events []Event) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteEvents(&b, events); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sampleEvents(n int) []Event {
	evs := []Event{{Seq: 1, Kind: EvRunStarted, At: t0, Runbook: "rb", Actor: "ana"}}
	for i := 2; i <= n; i++ {
		evs = append(evs, Event{Seq: uint64(i), Kind: EvNote, Step: "a", At: t0.Add(time.Duration(i) * time.Second), Note: fmt.Sprintf("note %d", i)})
	}
	return evs
}

func TestJournalAppendAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "rb", "journal")
	j, run, torn, err := OpenJournal(path, nil)
	if err != nil || run.LastSeq != 0 || torn != nil {
		t.Fatalf("open new: %v %v %v", err, run, torn)
	}
	for i := 1; i <= 3; i++ {
		ev, err := j.Append(Event{Kind: EvNote, Step: "a", At: t0, Note: fmt.Sprint(i), Seq: 99})
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq != uint64(i) || j.Seq() != uint64(i) {
			t.Fatalf("append %d numbered %d (journal at %d)", i, ev.Seq, j.Seq())
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	j, run, torn, err = OpenJournal(path, nil)
	if err != nil || torn != nil || run.LastSeq != 3 {
		t.Fatalf("reopen: %v %v %d events", err, torn, run.LastSeq)
	}
	defer j.Close()
	ev, err := j.Append(Event{Kind: EvNote, Step: "a", At: t0, Note: "4"})
	if err != nil || ev.Seq != 4 {
		t.Fatalf("append after reopen: seq %d, %v", ev.Seq, err)
	}
	if j.Path() != path {
		t.Fatalf("path %s", j.Path())
	}
}

func TestReadJournalMissingFile(t *testing.T) {
	events, torn, err := ReadJournal(filepath.Join(t.TempDir(), "none"))
	if events != nil || torn != nil || err != nil {
		t.Fatalf("%v %v %v", events, torn, err)
	}
}

func TestTornTail(t *testing.T) {
	good := sampleEvents(3)
	last := AppendRecord(nil, Event{Seq: 4, Kind: EvStepStarted, Step: "a", At: t0, Attempt: 1})
	badSum := append([]byte(nil), last...)
	badSum[20] ^= 0x01 // one bit of the payload
	tests := []struct {
		name, reason string
		tail         []byte
	}{
		{"no newline", "has no end of line", last[:len(last)-1]},
		{"half a record", "fails its checksum", last[:len(last)/2]},
		{"a few bytes", "is not a record", last[:5]},
		{"bad checksum on the last line", "fails its checksum", badSum},
		{"sequence gap on the last line", "has sequence 9 where 4 was expected", AppendRecord(nil, Event{Seq: 9, Kind: EvNote, Step: "a", Note: "x"})},
		{"garbage", "is not a record", []byte("\x00\x00\x00\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "journal")
			head := writeJournal(t, path, good)
			if err := os.WriteFile(path, append(append([]byte(nil), head...), tt.tail...), 0o600); err != nil {
				t.Fatal(err)
			}

			// Reading reports the tail and changes nothing.
			events, torn, err := ReadJournal(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 3 || torn == nil {
				t.Fatalf("%d events, torn %v", len(events), torn)
			}
			if torn.Line != 4 || torn.Offset != int64(len(head)) || torn.Bytes != len(tt.tail) || !strings.Contains(torn.Reason, tt.reason) {
				t.Fatalf("torn %+v; want line 4 offset %d bytes %d reason %q", torn, len(head), len(tt.tail), tt.reason)
			}
			if data, _ := os.ReadFile(path); len(data) != len(head)+len(tt.tail) {
				t.Fatal("ReadJournal changed the file")
			}

			// Opening cuts it, keeps it aside, and appends after the
			// last sound record.
			j, run, torn, err := OpenJournal(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.LastSeq != 3 || torn == nil || torn.SavedTo == "" {
				t.Fatalf("open: %d events, torn %+v", run.LastSeq, torn)
			}
			if !strings.Contains(torn.String(), "dropped") || !strings.Contains(torn.String(), torn.SavedTo) {
				t.Errorf("report %q", torn.String())
			}
			saved, err := os.ReadFile(torn.SavedTo)
			if err != nil || !bytes.Equal(saved, tt.tail) {
				t.Fatalf("kept tail %q (%v); want %q", saved, err, tt.tail)
			}
			if filepath.Dir(torn.SavedTo) != dir {
				t.Errorf("tail kept in %s, not beside the journal", torn.SavedTo)
			}
			if data, _ := os.ReadFile(path); !bytes.Equal(data, head) {
				t.Fatalf("journal after cut is %d bytes; want the %d sound ones", len(data), len(head))
			}
			ev, err := j.Append(Event{Kind: EvNote, Step: "a", At: t0, Note: "after the cut"})
			if err != nil || ev.Seq != 4 {
				t.Fatalf("append: seq %d %v", ev.Seq, err)
			}
			j.Close()
			events, torn, err = ReadJournal(path)
			if err != nil || torn != nil || len(events) != 4 || events[3].Note != "after the cut" {
				t.Fatalf("after repair: %d events, torn %v, %v", len(events), torn, err)
			}
		})
	}
}

func TestCorruptMiddle(t *testing.T) {
	good := sampleEvents(4)
	recs := make([][]byte, len(good))
	for i, ev := range good {
		recs[i] = AppendRecord(nil, ev)
	}
	flip := func(b []byte) []byte { c := append([]byte(nil), b...); c[15] ^= 0x04; return c }
	gap := append([]Event(nil), good...)
	gap[2].Seq, gap[3].Seq = 4, 5
	tests := []struct {
		name   string
		data   []byte
		line   int
		reason string
	}{
		{"bad checksum on line 2", bytes.Join([][]byte{recs[0], flip(recs[1]), recs[2], recs[3]}, nil), 2, "fails its checksum"},
		{"sequence gap at line 3", func() []byte { var b bytes.Buffer; WriteEvents(&b, gap); return b.Bytes() }(), 3, "has sequence 4 where 3 was expected"},
		{"record repeated", bytes.Join([][]byte{recs[0], recs[1], recs[1], recs[2]}, nil), 3, "has sequence 2 where 3 was expected"},
		{"torn record followed by more", bytes.Join([][]byte{recs[0], recs[1][:10], []byte("\n"), recs[2], recs[3]}, nil), 2, "fails its checksum"},
		{"empty line", bytes.Join([][]byte{recs[0], []byte("\n"), recs[1]}, nil), 2, "is not a record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadJournal(path)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("ReadJournal: %v; want *CorruptError", err)
			}
			if ce.Line != tt.line || !strings.Contains(ce.Reason, tt.reason) || ce.Path != path {
				t.Fatalf("%+v; want line %d reason %q", ce, tt.line, tt.reason)
			}
			if !strings.Contains(err.Error(), "not trusted") {
				t.Errorf("message %q", err)
			}
			j, _, _, err := OpenJournal(path, nil)
			if !errors.As(err, &ce) || j != nil {
				t.Fatalf("OpenJournal: %v; want *CorruptError", err)
			}
			if data, _ := os.ReadFile(path); !bytes.Equal(data, tt.data) {
				t.Fatal("OpenJournal changed a damaged journal")
			}
			if m, _ := filepath.Glob(path + ".torn*"); len(m) != 0 {
				t.Fatalf("damaged journal cut: %v", m)
			}
		})
	}
}

func crc32c(s string) uint32 { return crc32.Checksum([]byte(s), castagnoli) }

// newerRecord is a sound record of journal format JournalVersion+1 with a
// field and a kind this build does not know.
func newerRecord(seq int) []byte {
	rec := AppendRecord(nil, Event{Seq: uint64(seq), Kind: EvNote, Step: "a", Note: "x"})
	payload := strings.Replace(string(rec[9:len(rec)-1]), fmt.Sprintf("v=%d", JournalVersion), fmt.Sprintf("v=%d", JournalVersion+1), 1)
	payload = strings.Replace(payload, "k=note", "k=step.paused", 1) + "\tnewfield=1"
	return []byte(fmt.Sprintf("%08x %s\n", crc32c(payload), payload))
}

func TestNewerFormatRefused(t *testing.T) {
	head := AppendRecord(AppendRecord(nil, Event{Seq: 1, Kind: EvRunStarted}), Event{Seq: 2, Kind: EvNote, Step: "a", Note: "x"})
	for _, tt := range []struct {
		name string
		data []byte
		line int
	}{
		{"last record", append(append([]byte(nil), head...), newerRecord(3)...), 3},
		{"middle record", bytes.Join([][]byte{
			AppendRecord(nil, Event{Seq: 1, Kind: EvRunStarted}),
			newerRecord(2),
			AppendRecord(nil, Event{Seq: 3, Kind: EvNote, Step: "a", Note: "x"}),
		}, nil), 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, torn, err := ReadJournal(path)
			var ne *NewerFormatError
			if !errors.As(err, &ne) || torn != nil {
				t.Fatalf("err %v torn %v; want *NewerFormatError", err, torn)
			}
			if ne.Line != tt.line || ne.Version != JournalVersion+1 {
				t.Fatalf("%+v", ne)
			}
			msg := err.Error()
			for _, want := range []string{"newer runbook", fmt.Sprintf("format %d", JournalVersion+1), fmt.Sprintf("up to %d", JournalVersion)} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if _, _, _, err := OpenJournal(path, nil); !errors.As(err, &ne) {
				t.Fatalf("OpenJournal: %v", err)
			}
			if data, _ := os.ReadFile(path); !bytes.Equal(data, tt.data) {
				t.Fatal("a newer journal was changed")
			}
		})
	}
}

func TestUnknownFieldOfSameVersionIgnored(t *testing.T) {
	payload := fmt.Sprintf("v=%d\tseq=1\tat=0\tk=note\ts=a\tnote=hi\tlater=field", JournalVersion)
	got, torn, err := DecodeJournal("j", []byte(fmt.Sprintf("%08x %s\n", crc32c(payload), payload)))
	if err != nil || torn != nil || len(got) != 1 || got[0].Note != "hi" {
		t.Fatalf("%+v %v %v", got, torn, err)
	}
}

func TestBadRecords(t *testing.T) {
	for _, tt := range []struct{ payload, reason string }{
		{"seq=1\tat=0\tk=note", "has no version"},
		{"v=1\tseq=1\tat=0", "has no kind"},
		{"v=1\tseq=1\tat=0\tk=step.exploded", `has unknown kind "step.exploded"`},
		{"v=1\tseq=one\tat=0\tk=note", "has a bad seq field"},
		{"v=1\tseq=1\tat=noon\tk=note", "has a bad at field"},
		{"v=1\tseq=1\tat=0\tk=note\tatt=x", "has a bad att field"},
		{"v=1\tseq=1\tat=0\tk=note\tpid=", "has a bad pid field"},
		{"v=1\tseq=1\tat=0\tk=note\tnoequals", "has a field without '='"},
		{"v=x\tseq=1\tat=0\tk=note", "has a bad v field"},
	} {
		rec := []byte(fmt.Sprintf("%08x %s", crc32c(tt.payload), tt.payload))
		_, reason, _ := decodeRecord(rec, nil)
		if !strings.Contains(reason, tt.reason) {
			t.Errorf("%q: reason %q; want %q", tt.payload, reason, tt.reason)
		}
	}
	for _, rec := range []string{"", "short", "zzzzzzzz v=1\tseq=1", "0000000 v=1\tseq=1\tk=note"} {
		if _, reason, _ := decodeRecord([]byte(rec), nil); reason == "" {
			t.Errorf("%q accepted", rec)
		}
	}
}

// The compatibility fixture: a journal written in format 1, by hand, with
// every event kind. It is kept forever: every later build must read it to
// the same events and the same state.
func TestJournalV1Fixture(t *testing.T) {
	const path = "testdata/journal-v1.journal"
	events, torn, err := ReadJournal(path)
	if err != nil || torn != nil {
		t.Fatalf("read %s: %v, torn %v", path, err, torn)
	}
	at := func(min int) time.Time { return time.Date(2025, 10, 24, 8, min, 0, 0, time.UTC) }
	want := []Event{
		{Seq: 1, At: at(0), Kind: EvRunStarted, Actor: "ana", Runbook: "fixture-window", Digest: "0123456789abcdef", Host: "ops-laptop", PID: 4242, Rehearsal: true},
		{Seq: 2, At: at(1), Kind: EvStepStarted, Step: "read-guide", Attempt: 1, Actor: "ana"},
		{Seq: 3, At: at(1), Kind: EvStepAwaiting, Step: "read-guide"},
		{Seq: 4, At: at(20), Kind: EvChecklistTick, Step: "read-guide", Item: 1, Checked: true, Actor: "ana"},
		{Seq: 5, At: at(25), Kind: EvNote, Step: "read-guide", Actor: "ana", Note: "line one\nline two\twith a tab, a \\ backslash and a = sign"},
		{Seq: 6, At: at(30), Kind: EvStepConfirmed, Step: "read-guide", Actor: "ana", Reason: "read twice"},
		{Seq: 7, At: at(30), Kind: EvStepVerifying, Step: "read-guide"},
		{Seq: 8, At: at(31), Kind: EvStepSucceeded, Step: "read-guide"},
		{Seq: 9, At: at(31), Kind: EvCheckpoint, Step: "read-guide", Commit: "9f2c1e07d4b3a2910e8f6c5d4b3a2910e8f6c5d4"},
		{Seq: 10, At: at(32), Kind: EvStepStarted, Step: "apply", Attempt: 1, Actor: "ana"},
		{Seq: 11, At: at(35), Kind: EvStepFailed, Step: "apply", Err: "do 1 (shell): true exited 1, expected 0"},
		{Seq: 12, At: at(40), Kind: EvStepStarted, Step: "apply", Attempt: 2, Actor: "ana"},
		{Seq: 13, At: at(90), Kind: EvRunResumed, Actor: "ben", Note: "journal line 13 (offset 1234, 17 bytes) has no end of line: dropped", Digest: "0123456789abcdef", Host: "ops-desk", PID: 777},
		{Seq: 14, At: at(90), Kind: EvStepDirty, Step: "apply", Note: "process ended while running"},
		{Seq: 15, At: at(95), Kind: EvStepMarkedDone, Step: "apply", Actor: "ben", Reason: "checked on the server by hand"},
		{Seq: 16, At: at(100), Kind: EvUndoStarted, Step: "apply", Actor: "ben"},
		{Seq: 17, At: at(101), Kind: EvUndoFailed, Step: "apply", Err: "exit 1"},
		{Seq: 18, At: at(102), Kind: EvUndoStarted, Step: "apply", Actor: "ben"},
		{Seq: 19, At: at(104), Kind: EvUndoFinished, Step: "apply"},
		{Seq: 20, At: at(105), Kind: EvStepSkipped, Step: "apply", Actor: "ben", Reason: "not needed after all"},
		{Seq: 21, At: at(106), Kind: EvStepSkipped, Step: "confirm", Actor: "ben", Reason: "team confirmed on the call"},
		{Seq: 22, At: at(107), Kind: EvRunFinished},
	}
	if len(events) != len(want) {
		t.Fatalf("%d events; want %d", len(events), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(events[i], want[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i+1, events[i], want[i])
		}
	}
	kinds := map[EventKind]bool{}
	for _, ev := range events {
		kinds[ev.Kind] = true
	}
	// Kinds added to format 1 after the fixture was written: a reader of
	// format 1 must still read the fixture, and these round-trip in
	// TestRecordRoundTripEveryKindEveryField.
	later := map[EventKind]bool{EvStepCancelled: true, EvApprovalAsked: true, EvStepApproved: true}
	if len(kinds)+len(later) != len(EventKinds()) && JournalVersion == 1 {
		t.Errorf("the fixture holds %d of the %d kinds of format 1 (%d added since)", len(kinds), len(EventKinds()), len(later))
	}

	run, err := Fold(events)
	if err != nil {
		t.Fatalf("fold: %v", err)
	}
	if !run.Finished || run.Resumes != 1 || run.Operator != "ben" || !run.Rehearsal || run.LastSeq != 22 {
		t.Errorf("run %+v", run)
	}
	rg := run.Step("read-guide")
	if rg.Status != Succeeded || rg.Elapsed(at(200)) != 30*time.Minute || !rg.Checked[1] || len(rg.Notes) != 1 || rg.Commit == "" {
		t.Errorf("read-guide %+v elapsed %s", rg, rg.Elapsed(at(200)))
	}
	ap := run.Step("apply")
	if ap.Status != Skipped || ap.Attempts != 2 || !ap.Undone || ap.Reason != "not needed after all" {
		t.Errorf("apply %+v", ap)
	}

	// As long as this build writes format 1, it must write the fixture
	// byte for byte: a change to the encoding needs a new version.
	if JournalVersion == 1 {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteEvents(&b, events); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), data) {
			t.Errorf("this build encodes format 1 differently from the fixture:\n%s", b.Bytes())
		}
	}
}

func TestAppendRedacts(t *testing.T) {
	const secret = "s3cr3t-Passw0rd-value"
	path := filepath.Join(t.TempDir(), "journal")
	j, _, _, err := OpenJournal(path, NewRedactor(secret))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ev, err := j.Append(Event{Kind: EvStepFailed, Step: "a", At: t0,
		Err:    "psql: connect postgres://app:" + secret + "@db/app failed",
		Note:   "used " + secret,
		Reason: "rotated " + secret,
		Actor:  "ana " + secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(Event{Kind: EvNote, Step: "a", At: t0, Note: "PGPASSWORD=another-one-9876 and token: abcdef123456"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ev.Err+ev.Note+ev.Reason+ev.Actor, secret) {
		t.Fatalf("Append returned the secret: %+v", ev)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, "another-one-9876", "abcdef123456"} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("%q is on disk:\n%s", s, data)
		}
	}
	if n := bytes.Count(data, []byte(Mask)); n < 6 {
		t.Errorf("%d masks on disk; want at least 6:\n%s", n, data)
	}
}

func TestParseNumbers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"-7", -7, true},
		{"1761292800000000000", 1761292800000000000, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false}, {"-", 0, false}, {"1x", 0, false}, {"+1", 0, false}, {" 1", 0, false},
	} {
		got, err := parseInt([]byte(tt.in))
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("parseInt(%q) = %d, %v", tt.in, got, err)
		}
	}
	for in, want := range map[string]uint32{"00000000": 0, "ffffffff": 0xffffffff, "DEADbeef": 0xdeadbeef} {
		if got, ok := parseHex32([]byte(in)); !ok || got != want {
			t.Errorf("parseHex32(%q) = %x %v", in, got, ok)
		}
	}
	if _, ok := parseHex32([]byte("0000000g")); ok {
		t.Error("parseHex32 accepted g")
	}
}

// A scan hands out one copy of a repeated text, decodes escapes, and
// remembers no text past its bounds.
func TestJournalTextIsReused(t *testing.T) {
	in := newJournalText()
	a, b := in.get([]byte("step-1")), in.get([]byte("step-1"))
	if a != "step-1" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("repeated text %q %q not one copy", a, b)
	}
	for range 2 {
		if got := in.get([]byte("x\\ty")); got != "x\ty" {
			t.Fatalf("escaped field %q", got)
		}
	}
	long := bytes.Repeat([]byte("n"), textSeenLen+1)
	if got := in.get(long); got != string(long) || len(in.seen) != 2 {
		t.Fatalf("long text %d bytes, %d remembered", len(got), len(in.seen))
	}
	for i := range textSeenMax + 10 {
		in.get([]byte(fmt.Sprint("note ", i)))
	}
	if len(in.seen) != textSeenMax {
		t.Fatalf("%d texts remembered; the bound is %d", len(in.seen), textSeenMax)
	}
	var none *journalText
	if got := none.get([]byte("step-1")); got != "step-1" {
		t.Fatalf("nil text %q", got)
	}
}

// FuzzRecord: any text in any field, any numbers, survive a round trip
// through the record format; and decoding arbitrary bytes never panics.
func FuzzRecord(f *testing.F) {
	f.Add("step-1", "a note\twith\ttabs", "err\nline", "ana", int64(1761292800000000000), 3, true, []byte("00000000 v=1"))
	f.Add(`back\slash\`, "", "\r\n", "", int64(-1), -5, false, []byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, step, note, errText, actor string, at int64, n int, b bool, junk []byte) {
		ev := Event{Seq: 1, Kind: EvNote, At: time.Unix(0, at).UTC(), Step: step, Note: note, Err: errText, Actor: actor, Reason: note, Commit: step, Attempt: n, Action: -n, Item: n, Checked: b, PID: n, Rehearsal: b}
		got, torn, err := DecodeJournal("fuzz", AppendRecord(nil, ev))
		if err != nil || torn != nil || len(got) != 1 {
			t.Fatalf("decode: %v, torn %v", err, torn)
		}
		if !reflect.DeepEqual(got[0], ev) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got[0], ev)
		}
		// Arbitrary bytes: a result or an error, never a panic, and never
		// an event from a record that fails its checksum.
		evs, _, _ := DecodeJournal("fuzz", junk)
		if len(evs) > bytes.Count(junk, []byte{'\n'}) {
			t.Fatalf("%d events from %d lines", len(evs), bytes.Count(junk, []byte{'\n'}))
		}
	})
}

// A write that fails part-way (a full disk) must not leave half a record
// for the next append to land after: the journal cuts it and refuses more.
func TestAppendFailureCutsPartialRecordAndRefusesMore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, _, _, err := OpenJournal(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(Event{Kind: EvRunStarted, At: time.Unix(1, 0), Runbook: "rb"}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	// Simulate a device that takes half a record and then fails.
	half := AppendRecord(nil, Event{Seq: 2, Kind: EvNote, Step: "s", Note: "x", At: time.Unix(2, 0)})
	j.f.Write(half[:len(half)/2])
	if err := j.fail(errors.New("no space left on device")); err == nil {
		t.Fatal("fail returned nil")
	}
	if data, _ := os.ReadFile(path); string(data) != string(good) {
		t.Fatalf("partial record not cut:\n%q\nwant\n%q", data, good)
	}
	if _, err := j.Append(Event{Kind: EvNote, Step: "s", Note: "y", At: time.Unix(3, 0)}); err == nil || !strings.Contains(err.Error(), "not writable after an earlier failure") {
		t.Fatalf("append after failure: %v", err)
	}
	j.Close()
	events, torn, err := ReadJournal(path)
	if err != nil || torn != nil || len(events) != 1 {
		t.Fatalf("reread: %d events, torn %v, err %v", len(events), torn, err)
	}
}

// FoldJournal streams; it must reach the same run as decoding everything
// and folding it.
func TestFoldJournalEqualsDecodeThenFold(t *testing.T) {
	data, err := os.ReadFile("testdata/journal-v1.journal")
	if err != nil {
		t.Fatal(err)
	}
	events, torn, err := DecodeJournal("v1", data)
	if err != nil || torn != nil {
		t.Fatal(torn, err)
	}
	want, err := Fold(events)
	if err != nil {
		t.Fatal(err)
	}
	got, torn, err := FoldJournal("v1", data)
	if err != nil || torn != nil {
		t.Fatal(torn, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FoldJournal = %+v\nwant %+v", got, want)
	}
	// A torn tail is reported the same way, and not folded.
	got, torn, err = FoldJournal("v1", data[:len(data)-5])
	if err != nil || torn == nil || got.LastSeq != uint64(len(events)-1) {
		t.Fatalf("torn: last seq %d, torn %v, err %v", got.LastSeq, torn, err)
	}
}
