package steps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sliceDecode is the journal reader as it was before reads streamed: the
// whole file in memory, split at newlines, a record judged last when no
// byte follows it. The streaming scan must agree with it on every input.
func sliceDecode(path string, data []byte) ([]Event, *TornTail, error) {
	var events []Event
	var off int64
	line := 0
	for len(data) > 0 {
		line++
		i := bytes.IndexByte(data, '\n')
		last := i < 0
		var rec []byte
		if last {
			rec, data = data, nil
		} else {
			rec, data = data[:i], data[i+1:]
			last = len(data) == 0
		}
		ev, reason, newer := decodeRecord(rec, nil)
		if newer != 0 {
			return nil, nil, &NewerFormatError{Path: path, Line: line, Version: newer}
		}
		if reason == "" && i < 0 {
			reason = "has no end of line"
		}
		if reason == "" && ev.Seq != uint64(len(events))+1 {
			reason = fmt.Sprintf("has sequence %d where %d was expected", ev.Seq, len(events)+1)
		}
		if reason != "" {
			if last {
				n := len(rec)
				if i >= 0 {
					n++
				}
				return events, &TornTail{Line: line, Offset: off, Bytes: n, Reason: reason}, nil
			}
			return nil, nil, &CorruptError{Path: path, Line: line, Reason: reason}
		}
		events = append(events, ev)
		off += int64(len(rec)) + 1
	}
	return events, nil, nil
}

// streamDecode scans data through a read buffer of the given size (small
// sizes force records across buffer refills and longer than the buffer).
func streamDecode(path string, data []byte, size int) ([]Event, *TornTail, error) {
	var events []Event
	torn, err := scanJournal(path, bufio.NewReaderSize(bytes.NewReader(data), size), func(ev Event) error {
		events = append(events, ev)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return events, torn, nil
}

func sameScan(t *testing.T, what string, data []byte) {
	t.Helper()
	want, wantTorn, wantErr := sliceDecode("j", data)
	for _, size := range []int{16, 100, journalBuffer} {
		got, torn, err := streamDecode("j", data, size)
		if !reflect.DeepEqual(err, wantErr) || !reflect.DeepEqual(torn, wantTorn) {
			t.Fatalf("%s (buffer %d): torn %+v err %v; the slice reader says torn %+v err %v", what, size, torn, err, wantTorn, wantErr)
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("%s (buffer %d): %d events; the slice reader has %d", what, size, len(got), len(want))
		}
	}
}

// Every cut of a journal (a crash at any byte), every flipped byte, blank
// lines and records longer than the read buffer: the streaming scan finds
// the same events, the same torn tail and the same damage as the slice
// reader did.
func TestStreamingScanAgreesWithSliceReader(t *testing.T) {
	var buf bytes.Buffer
	evs := sampleEvents(6)
	evs[3].Note = strings.Repeat("a long note\t", 40) // longer than the small buffers
	if err := WriteEvents(&buf, evs); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	for n := 0; n <= len(data); n++ {
		sameScan(t, fmt.Sprintf("cut at %d", n), data[:n])
	}
	for i := range data {
		flipped := bytes.Clone(data)
		flipped[i] ^= 0x20
		sameScan(t, fmt.Sprintf("byte %d flipped", i), flipped)
	}
	sameScan(t, "blank line at the end", append(bytes.Clone(data), '\n'))
	sameScan(t, "two blank lines at the end", append(bytes.Clone(data), '\n', '\n'))
	sameScan(t, "blank line inside", bytes.Replace(data, []byte("\n"), []byte("\n\n"), 1))
	newer := AppendRecord(nil, Event{Seq: 7, Kind: EvNote, Step: "a", At: t0})
	newer = bytes.Replace(newer[9:], []byte("v=1"), []byte("v=9"), 1)
	newer = fmt.Appendf(nil, "%08x %s", crc32c(string(newer[:len(newer)-1])), newer)
	sameScan(t, "newer record last", append(bytes.Clone(data), newer...))
	sameScan(t, "newer record cut", append(bytes.Clone(data), newer[:len(newer)-1]...))
	var ne *NewerFormatError
	if _, _, err := streamDecode("j", append(bytes.Clone(data), newer...), journalBuffer); !errors.As(err, &ne) || ne.Line != 7 {
		t.Fatalf("newer record: %v", err)
	}
}

// The fold as it reads reaches the run the slice fold reached, on the
// format fixture and on a long generated journal, through every reader:
// ReadRun, OpenJournal and FoldJournal; a torn tail is left out alike.
func TestStreamingFoldEqualsSliceFold(t *testing.T) {
	fixture, err := os.ReadFile("testdata/journal-v1.journal")
	if err != nil {
		t.Fatal(err)
	}
	var gen bytes.Buffer
	nSteps, nEvents := 500, 100_000
	if testing.Short() {
		nSteps, nEvents = 50, 10_000
	}
	if err := WriteEvents(&gen, benchJournal(nSteps, nEvents)); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"fixture":        fixture,
		"fixture torn":   fixture[:len(fixture)-5],
		"generated":      gen.Bytes(),
		"generated torn": gen.Bytes()[:gen.Len()-40],
	} {
		t.Run(name, func(t *testing.T) {
			events, wantTorn, err := sliceDecode("j", data)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Fold(events)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(name, "torn") && wantTorn == nil {
				t.Fatal("the cut journal has no torn tail")
			}
			path := filepath.Join(t.TempDir(), "journal")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			check := func(how string, got *Run, torn *TornTail, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if torn != nil {
					torn.SavedTo = "" // only OpenJournal keeps the tail
				}
				if !reflect.DeepEqual(torn, wantTorn) {
					t.Fatalf("%s: torn %+v; want %+v", how, torn, wantTorn)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: the run differs from the slice fold's", how)
				}
			}
			got, torn, err := FoldJournal(path, data)
			check("FoldJournal", got, torn, err)
			got, torn, err = ReadRun(path)
			check("ReadRun", got, torn, err)
			j, got, torn, err := OpenJournal(path, nil) // last: it cuts a torn tail
			check("OpenJournal", got, torn, err)
			if j.Seq() != uint64(len(events)) {
				t.Fatalf("OpenJournal: journal at seq %d; want %d", j.Seq(), len(events))
			}
			j.Close()
			first, ok, err := ReadFirstEvent(path)
			if err != nil || !ok || !reflect.DeepEqual(first, events[0]) {
				t.Fatalf("ReadFirstEvent = %+v %v %v; want %+v", first, ok, err, events[0])
			}
		})
	}
}

// ReadFirstEvent reads the first record alone: damage further on is not
// its business, a missing or empty journal or a torn first record is no
// event, and damage in the first record itself is an error.
func TestReadFirstEvent(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	evs := sampleEvents(3)
	if err := WriteEvents(&buf, evs); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	first := bytes.IndexByte(data, '\n') + 1
	damaged := bytes.Clone(data)
	damaged[first+12] ^= 0x20
	badFirst := bytes.Clone(data)
	badFirst[12] ^= 0x20
	for _, tt := range []struct {
		name string
		data []byte // nil: no file
		ok   bool
		err  bool
	}{
		{"missing", nil, false, false},
		{"empty", []byte{}, false, false},
		{"whole", data, true, false},
		{"damage after the first", damaged, true, false},
		{"first record only, torn", data[:first-1], false, false},
		{"first record damaged", badFirst, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ev, ok, err := ReadFirstEvent(path)
			var ce *CorruptError
			if ok != tt.ok || (err != nil) != tt.err || (tt.err && !errors.As(err, &ce)) {
				t.Fatalf("ok %v err %v; want ok %v, error %v", ok, err, tt.ok, tt.err)
			}
			if ok && !reflect.DeepEqual(ev, evs[0]) {
				t.Fatalf("first %+v; want %+v", ev, evs[0])
			}
		})
	}
}
