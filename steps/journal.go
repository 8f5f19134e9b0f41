package steps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// JournalVersion is the record format this build writes. Readers accept
// every version up to it; fields a version does not know are ignored, so a
// record only ever grows.
const JournalVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Journal is the append-only, checksummed event log of one run. Each record
// is one line: 8 hex digits of CRC-32C over the payload, a space, and the
// payload of tab-separated key=value fields. Append fsyncs before it
// returns, so the caller may start the next side effect.
type Journal struct {
	f      *os.File
	path   string
	seq    uint64
	redact *Redactor
	// Fault, when set, is called with each encoded record before it is
	// written and may return a shorter one: crash tests use it to leave a
	// torn record behind. Nil in normal use.
	Fault func(seq uint64, rec []byte) []byte
}

// TornTail describes an incomplete or corrupt last record found on open.
type TornTail struct {
	Line    int
	Offset  int64
	Bytes   int
	Reason  string
	SavedTo string // where the dropped bytes were kept (OpenJournal only)
}

func (t *TornTail) String() string {
	s := fmt.Sprintf("journal line %d (offset %d, %d bytes) %s: dropped", t.Line, t.Offset, t.Bytes, t.Reason)
	if t.SavedTo != "" {
		s += "; kept in " + t.SavedTo
	}
	return s
}

// CorruptError is damage before the last record: the journal is not trusted.
type CorruptError struct {
	Path   string
	Line   int
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal %s is damaged at line %d (%s); it is not trusted: keep a copy, then restore it from the last checkpoint or move it aside to start a new run", e.Path, e.Line, e.Reason)
}

// ReadJournal reads every record of a journal without changing it. A torn
// last record is returned as TornTail (and not as an event); damage earlier
// is a *CorruptError. A missing file is no events and no error.
func ReadJournal(path string) ([]Event, *TornTail, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	return DecodeJournal(path, data)
}

// DecodeJournal parses journal bytes (path is for messages).
func DecodeJournal(path string, data []byte) ([]Event, *TornTail, error) {
	events := make([]Event, 0, bytes.Count(data, []byte{'\n'}))
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
		ev, reason := decodeRecord(rec)
		if reason == "" && i < 0 {
			reason = "has no end of line"
		}
		if reason == "" && ev.Seq != uint64(len(events))+1 {
			reason = fmt.Sprintf("has sequence %d where %d was expected", ev.Seq, len(events)+1)
		}
		if reason != "" {
			if last {
				return events, &TornTail{Line: line, Offset: off, Bytes: len(rec) + boolInt(i >= 0), Reason: reason}, nil
			}
			return events, nil, &CorruptError{Path: path, Line: line, Reason: reason}
		}
		events = append(events, ev)
		off += int64(len(rec)) + 1
	}
	return events, nil, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// OpenJournal opens (or creates) a journal for appending. A torn last record
// is cut off and kept beside the journal in a .torn file, and reported.
func OpenJournal(path string, redact *Redactor) (*Journal, []Event, *TornTail, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("create state directory: %w", err)
	}
	events, torn, err := ReadJournal(path)
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open journal: %w", err)
	}
	if torn != nil {
		if err := cutTail(f, path, torn); err != nil {
			f.Close()
			return nil, nil, nil, err
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("open journal: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	if redact == nil {
		redact = NewRedactor()
	}
	return &Journal{f: f, path: path, seq: uint64(len(events)), redact: redact}, events, torn, nil
}

func cutTail(f *os.File, path string, torn *TornTail) error {
	bad := make([]byte, torn.Bytes)
	if _, err := f.ReadAt(bad, torn.Offset); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read torn journal tail: %w", err)
	}
	saved := fmt.Sprintf("%s.torn-%d", path, time.Now().UnixNano())
	if err := os.WriteFile(saved, bad, 0o600); err != nil {
		return fmt.Errorf("keep torn journal tail: %w", err)
	}
	torn.SavedTo = saved
	if err := f.Truncate(torn.Offset); err != nil {
		return fmt.Errorf("cut torn journal tail: %w", err)
	}
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	return nil
}

// Path is the journal file.
func (j *Journal) Path() string { return j.path }

// Seq is the sequence number of the last record written.
func (j *Journal) Seq() uint64 { return j.seq }

// Append redacts, numbers, writes and fsyncs one event, and returns it as
// written.
func (j *Journal) Append(ev Event) (Event, error) {
	ev.Seq = j.seq + 1
	ev = j.redact.Event(ev)
	rec := AppendRecord(nil, ev)
	if j.Fault != nil {
		rec = j.Fault(ev.Seq, rec)
	}
	if _, err := j.f.Write(rec); err != nil {
		return ev, fmt.Errorf("write journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return ev, fmt.Errorf("sync journal %s: %w", j.path, err)
	}
	j.seq = ev.Seq
	return ev, nil
}

// Close closes the file.
func (j *Journal) Close() error { return j.f.Close() }

// AppendRecord encodes one event as a journal line (with its newline).
func AppendRecord(dst []byte, ev Event) []byte {
	p := make([]byte, 0, 128)
	p = append(p, "v="...)
	p = strconv.AppendInt(p, JournalVersion, 10)
	p = append(p, "\tseq="...)
	p = strconv.AppendUint(p, ev.Seq, 10)
	p = append(p, "\tat="...)
	p = strconv.AppendInt(p, ev.At.UnixNano(), 10)
	p = append(p, "\tk="...)
	p = append(p, ev.Kind.String()...)
	p = field(p, "s", ev.Step)
	p = intField(p, "att", ev.Attempt)
	p = intField(p, "act", ev.Action)
	p = intField(p, "item", ev.Item)
	if ev.Checked {
		p = append(p, "\tchk=1"...)
	}
	p = field(p, "by", ev.Actor)
	p = field(p, "why", ev.Reason)
	p = field(p, "note", ev.Note)
	p = field(p, "err", ev.Err)
	p = field(p, "commit", ev.Commit)
	p = field(p, "rb", ev.Runbook)
	p = field(p, "dig", ev.Digest)
	p = field(p, "host", ev.Host)
	p = intField(p, "pid", ev.PID)
	if ev.Rehearsal {
		p = append(p, "\treh=1"...)
	}
	var crc [8]byte
	sum := crc32.Checksum(p, castagnoli)
	const hexd = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		crc[i] = hexd[sum&0xf]
		sum >>= 4
	}
	dst = append(dst, crc[:]...)
	dst = append(dst, ' ')
	dst = append(dst, p...)
	return append(dst, '\n')
}

func intField(p []byte, k string, v int) []byte {
	if v == 0 {
		return p
	}
	p = append(p, '\t')
	p = append(p, k...)
	p = append(p, '=')
	return strconv.AppendInt(p, int64(v), 10)
}

func field(p []byte, k, v string) []byte {
	if v == "" {
		return p
	}
	p = append(p, '\t')
	p = append(p, k...)
	p = append(p, '=')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			p = append(p, '\\', '\\')
		case '\t':
			p = append(p, '\\', 't')
		case '\n':
			p = append(p, '\\', 'n')
		case '\r':
			p = append(p, '\\', 'r')
		default:
			p = append(p, c)
		}
	}
	return p
}

func unescape(v []byte) string {
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 't':
				c = '\t'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			default:
				c = v[i]
			}
		}
		out = append(out, c)
	}
	return string(out)
}

// decodeRecord parses one line (without newline); reason is empty on
// success and says what is wrong otherwise.
func decodeRecord(rec []byte) (Event, string) {
	var ev Event
	if len(rec) < 10 || rec[8] != ' ' {
		return ev, "is not a record"
	}
	want, err := strconv.ParseUint(string(rec[:8]), 16, 32)
	if err != nil {
		return ev, "has no checksum"
	}
	payload := rec[9:]
	if uint32(want) != crc32.Checksum(payload, castagnoli) {
		return ev, "fails its checksum"
	}
	version := -1
	for len(payload) > 0 {
		var kv []byte
		if i := bytes.IndexByte(payload, '\t'); i >= 0 {
			kv, payload = payload[:i], payload[i+1:]
		} else {
			kv, payload = payload, nil
		}
		eq := bytes.IndexByte(kv, '=')
		if eq < 0 {
			return ev, "has a field without '='"
		}
		k, v := string(kv[:eq]), kv[eq+1:]
		var perr error
		switch k {
		case "v":
			version, perr = strconv.Atoi(string(v))
			if perr == nil && version > JournalVersion {
				return ev, fmt.Sprintf("was written by a newer runbook (format %d, this build reads up to %d)", version, JournalVersion)
			}
		case "seq":
			ev.Seq, perr = strconv.ParseUint(string(v), 10, 64)
		case "at":
			var ns int64
			ns, perr = strconv.ParseInt(string(v), 10, 64)
			ev.At = time.Unix(0, ns).UTC()
		case "k":
			var ok bool
			if ev.Kind, ok = parseEventKind(string(v)); !ok {
				return ev, fmt.Sprintf("has unknown kind %q", v)
			}
		case "s":
			ev.Step = unescape(v)
		case "att":
			ev.Attempt, perr = strconv.Atoi(string(v))
		case "act":
			ev.Action, perr = strconv.Atoi(string(v))
		case "item":
			ev.Item, perr = strconv.Atoi(string(v))
		case "chk":
			ev.Checked = string(v) == "1"
		case "by":
			ev.Actor = unescape(v)
		case "why":
			ev.Reason = unescape(v)
		case "note":
			ev.Note = unescape(v)
		case "err":
			ev.Err = unescape(v)
		case "commit":
			ev.Commit = unescape(v)
		case "rb":
			ev.Runbook = unescape(v)
		case "dig":
			ev.Digest = unescape(v)
		case "host":
			ev.Host = unescape(v)
		case "pid":
			ev.PID, perr = strconv.Atoi(string(v))
		case "reh":
			ev.Rehearsal = string(v) == "1"
		default:
			// A field from a later version of the same format: ignored.
		}
		if perr != nil {
			return ev, fmt.Sprintf("has a bad %s field", k)
		}
	}
	if version < 0 {
		return ev, "has no version"
	}
	if ev.Kind == EvInvalid {
		return ev, "has no kind"
	}
	return ev, ""
}

// WriteEvents writes events as a fresh journal (for tests and tools).
func WriteEvents(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	var buf []byte
	for _, ev := range events {
		buf = AppendRecord(buf[:0], ev)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
