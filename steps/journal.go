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
	"syscall"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
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
	size   int64 // bytes of whole records: where the next one starts
	broken error // a failed append: the journal refuses more
	redact *Redactor
	// fault is the crash tests' hook (Options.SetJournalFault, crashtest
	// builds only); empty in a release build.
	fault faultHook
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

// NewerFormatError is a record written by a newer runbook, in a journal
// format this build cannot read. It is never treated as a torn tail: the
// record is sound, and cutting it would lose another build's work.
type NewerFormatError struct {
	Path    string
	Line    int
	Version int
}

func (e *NewerFormatError) Error() string {
	return fmt.Sprintf("journal %s line %d was written by a newer runbook (journal format %d; this build reads formats up to %d): resume this run with that newer runbook", e.Path, e.Line, e.Version, JournalVersion)
}

// ReadJournal reads every record of a journal without changing it. A torn
// last record is returned as TornTail (and not as an event); damage earlier
// is a *CorruptError; a record of a newer format, anywhere, is a
// *NewerFormatError. A missing file is no events and no error.
func ReadJournal(path string) ([]Event, *TornTail, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	var events []Event
	torn, err := ScanJournal(path, f, func(ev Event) error {
		events = append(events, ev)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return events, torn, nil
}

// ReadRun reads a journal file and folds it as it reads, holding one
// record at a time (missing file: an empty run). Its torn tail and damage
// rules are ReadJournal's.
func ReadRun(path string) (*Run, *TornTail, error) {
	return ReadRunCached(path, nil, "")
}

// ReadFirstEvent reads only the first record of a journal: what a run
// began as (its runbook, its planned day) without folding the rest. ok is
// false when the journal is missing or holds no whole first record.
func ReadFirstEvent(path string) (ev Event, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	// The first record is short: a small buffer reads it in one call.
	errFirst := errors.New("first record read")
	_, err = scanJournal(path, bufio.NewReaderSize(f, 4096), func(first Event) error {
		ev, ok = first, true
		return errFirst
	})
	if err != nil && err != errFirst {
		return Event{}, false, err
	}
	return ev, ok, nil
}

// DecodeJournal parses journal bytes (path is for messages).
func DecodeJournal(path string, data []byte) ([]Event, *TornTail, error) {
	events := make([]Event, 0, bytes.Count(data, []byte{'\n'}))
	torn, err := ScanJournal(path, bytes.NewReader(data), func(ev Event) error {
		events = append(events, ev)
		return nil
	})
	return events, torn, err
}

// FoldJournal decodes journal bytes straight into a run, without holding
// every event.
func FoldJournal(path string, data []byte) (*Run, *TornTail, error) {
	return foldJournal(path, bytes.NewReader(data))
}

func foldJournal(path string, rd io.Reader) (*Run, *TornTail, error) {
	r := NewRun()
	torn, err := ScanJournal(path, rd, func(ev Event) error {
		if _, err := r.Apply(ev); err != nil {
			return fmt.Errorf("journal %s record %d (%s): %w", path, ev.Seq, ev.Kind, err)
		}
		return nil
	})
	return r, torn, err
}

// journalBuffer is the read buffer of a journal scan: records longer than
// it are still read whole, into a buffer of their own.
const journalBuffer = 64 << 10

// ScanJournal reads a journal a record at a time, in order, checking each
// record's checksum and calling fn with it; it keeps nothing of a record
// fn does not keep. A bad record that is the last one is a torn tail (its
// line, offset and size returned as TornTail); a bad record with another
// after it is a *CorruptError; a record of a newer format, anywhere, is a
// *NewerFormatError. An error from fn ends the scan and is returned.
func ScanJournal(path string, rd io.Reader, fn func(Event) error) (*TornTail, error) {
	return scanJournal(path, bufio.NewReaderSize(rd, journalBuffer), fn)
}

func scanJournal(path string, br *bufio.Reader, fn func(Event) error) (*TornTail, error) {
	torn, _, err := scanJournalFrom(path, br, scanPos{}, fn)
	return torn, err
}

// scanPos is a place between two records of a journal: Off bytes and N
// records in, the last of them Last bytes long (its newline included).
// A fold snapshot also keeps that last record itself (rec), to prove the
// journal still holds it there.
type scanPos struct {
	Off  int64
	N    uint64
	Last int
	rec  []byte
}

// readLine reads one line, its newline included: from br's buffer, or
// into *long when it is longer than that buffer.
func readLine(br *bufio.Reader, long *[]byte) ([]byte, error) {
	rec, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return rec, err
	}
	*long = append((*long)[:0], rec...)
	for err == bufio.ErrBufferFull {
		rec, err = br.ReadSlice('\n')
		*long = append(*long, rec...)
	}
	return *long, err
}

// scanJournalFrom is scanJournal over a reader that starts at pos (its
// lines, sequences and offsets count from there); it also returns where
// the whole records read end.
func scanJournalFrom(path string, br *bufio.Reader, pos scanPos, fn func(Event) error) (*TornTail, scanPos, error) {
	in := newJournalText()
	var long []byte // a record longer than the read buffer
	off, n, last := pos.Off, pos.N, pos.Last
	end := func() scanPos { return scanPos{Off: off, N: n, Last: last} }
	for line := int(pos.N) + 1; ; line++ {
		rec, err := readLine(br, &long)
		if err != nil && err != io.EOF {
			return nil, end(), fmt.Errorf("read journal: %w", err)
		}
		if len(rec) == 0 { // io.EOF after the last newline
			return nil, end(), nil
		}
		size := len(rec)
		ended := rec[size-1] == '\n'
		if ended {
			rec = rec[:size-1]
		}
		ev, reason, newer := decodeRecord(rec, in)
		if newer != 0 {
			return nil, end(), &NewerFormatError{Path: path, Line: line, Version: newer}
		}
		if reason == "" && !ended {
			reason = "has no end of line"
		}
		if reason == "" && ev.Seq != n+1 {
			reason = fmt.Sprintf("has sequence %d where %d was expected", ev.Seq, n+1)
		}
		if reason != "" {
			// rec is not used past here: Peek may move the buffer.
			if _, perr := br.Peek(1); perr == io.EOF {
				return &TornTail{Line: line, Offset: off, Bytes: size, Reason: reason}, end(), nil
			} else if perr != nil {
				return nil, end(), fmt.Errorf("read journal: %w", perr)
			}
			return nil, end(), &CorruptError{Path: path, Line: line, Reason: reason}
		}
		if err := fn(ev); err != nil {
			return nil, end(), err
		}
		n++
		off += int64(size)
		last = size
	}
}

// OpenJournal opens (or creates) a journal for appending, folding its
// records into the run as it reads them, once. A torn last record is cut
// off and kept beside the journal in a .torn file, and reported. A record
// the run cannot fold is an error.
func OpenJournal(path string, redact *Redactor) (*Journal, *Run, *TornTail, error) {
	return OpenJournalCached(path, redact, nil, "")
}

// OpenJournalCached is OpenJournal folding through the fold snapshots in
// cache (see foldFile): a long journal's records are still each checked,
// but only those past the snapshot are decoded and folded.
func OpenJournalCached(path string, redact *Redactor, cache runbooks.Cache, key string) (*Journal, *Run, *TornTail, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("create state directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open journal: %w", err)
	}
	run, torn, _, err := foldFile(f, path, cache, key, false)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	if torn != nil {
		if err := cutTail(f, path, torn); err != nil {
			f.Close()
			return nil, nil, nil, err
		}
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
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
	return &Journal{f: f, path: path, seq: run.LastSeq, size: size, redact: redact}, run, torn, nil
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

// Path is the journal file.
func (j *Journal) Path() string { return j.path }

// Seq is the sequence number of the last record written.
func (j *Journal) Seq() uint64 { return j.seq }

// Append redacts, numbers, writes and fsyncs one event, and returns it as
// written.
func (j *Journal) Append(ev Event) (Event, error) {
	if j.broken != nil {
		return ev, fmt.Errorf("journal %s is not writable after an earlier failure (%v): fix the cause and reopen the run", j.path, j.broken)
	}
	ev.Seq = j.seq + 1
	ev = j.redact.Event(ev)
	rec := AppendRecord(nil, ev)
	rec, die := j.fault.apply(ev.Seq, rec)
	if _, err := j.f.Write(rec); err != nil {
		return ev, j.fail(fmt.Errorf("write journal %s: %w", j.path, err))
	}
	if err := j.f.Sync(); err != nil {
		return ev, j.fail(fmt.Errorf("sync journal %s: %w", j.path, err))
	}
	if die {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns: the signal ends the process
	}
	j.seq = ev.Seq
	j.size += int64(len(rec))
	return ev, nil
}

// fail cuts a partly written record off (a full disk may take half of
// it), so the next open finds whole records only, and refuses further
// appends: what the caller thinks happened and what is on disk must not
// drift apart.
func (j *Journal) fail(err error) error {
	if terr := j.f.Truncate(j.size); terr == nil {
		j.f.Seek(j.size, io.SeekStart)
		j.f.Sync()
	}
	j.broken = err
	return err
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
	if ev.NoCheckpoint {
		p = append(p, "\tnocp=1"...)
	}
	p = field(p, "rb", ev.Runbook)
	p = field(p, "dig", ev.Digest)
	p = field(p, "host", ev.Host)
	p = intField(p, "pid", ev.PID)
	if ev.Rehearsal {
		p = append(p, "\treh=1"...)
	}
	p = field(p, "date", ev.Date)
	p = field(p, "via", ev.Via)
	if !ev.Given.IsZero() {
		p = append(p, "\tgiven="...)
		p = strconv.AppendInt(p, ev.Given.UnixNano(), 10)
	}
	if !ev.Until.IsZero() {
		p = append(p, "\tuntil="...)
		p = strconv.AppendInt(p, ev.Until.UnixNano(), 10)
	}
	if ev.Ref != 0 {
		p = append(p, "\tref="...)
		p = strconv.AppendUint(p, ev.Ref, 10)
	}
	p = field(p, "saved", ev.Saved)
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
// success and says what is wrong otherwise. newer is the version of a sound
// record of a newer format (0 otherwise).
//
// It runs once per record when a run is folded, so it avoids making strings
// it does not keep: keys are switched on in place, numbers parsed from the
// bytes, and text taken from in (nil: copied).
func decodeRecord(rec []byte, in *journalText) (ev Event, reason string, newer int) {
	if len(rec) < 10 || rec[8] != ' ' {
		return ev, "is not a record", 0
	}
	want, ok := parseHex32(rec[:8])
	if !ok {
		return ev, "has no checksum", 0
	}
	payload := rec[9:]
	if want != crc32.Checksum(payload, castagnoli) {
		return ev, "fails its checksum", 0
	}
	version := -1
	for len(payload) > 0 {
		var kv []byte
		if i := bytes.IndexByte(payload, '\t'); i >= 0 {
			kv, payload = payload[:i], payload[i+1:]
		} else {
			kv, payload = payload, nil
		}
		eq := -1 // keys are a few bytes: a plain loop beats IndexByte
		for i, c := range kv {
			if c == '=' {
				eq = i
				break
			}
		}
		if eq < 0 {
			return ev, "has a field without '='", 0
		}
		key, v := kv[:eq], kv[eq+1:]
		var perr error
		switch string(key) {
		case "v":
			version, perr = atoi(v)
			if perr == nil && version > JournalVersion {
				return ev, fmt.Sprintf("was written by a newer runbook (format %d, this build reads up to %d)", version, JournalVersion), version
			}
		case "seq":
			var n int64
			n, perr = parseInt(v)
			if n < 0 {
				perr = strconv.ErrRange
			}
			ev.Seq = uint64(n)
		case "at":
			var ns int64
			ns, perr = parseInt(v)
			ev.At = time.Unix(0, ns).UTC()
		case "k":
			var ok bool
			if ev.Kind, ok = parseEventKind(string(v)); !ok {
				return ev, fmt.Sprintf("has unknown kind %q", v), 0
			}
		case "s":
			ev.Step = in.get(v)
		case "att":
			ev.Attempt, perr = atoi(v)
		case "act":
			ev.Action, perr = atoi(v)
		case "item":
			ev.Item, perr = atoi(v)
		case "chk":
			ev.Checked = string(v) == "1"
		case "by":
			ev.Actor = in.get(v)
		case "why":
			ev.Reason = in.get(v)
		case "note":
			ev.Note = in.get(v)
		case "err":
			ev.Err = in.get(v)
		case "commit":
			ev.Commit = in.get(v)
		case "nocp":
			ev.NoCheckpoint = string(v) == "1"
		case "rb":
			ev.Runbook = in.get(v)
		case "dig":
			ev.Digest = in.get(v)
		case "host":
			ev.Host = in.get(v)
		case "pid":
			ev.PID, perr = atoi(v)
		case "reh":
			ev.Rehearsal = string(v) == "1"
		case "date":
			ev.Date = in.get(v)
		case "via":
			ev.Via = in.get(v)
		case "given":
			var ns int64
			ns, perr = parseInt(v)
			ev.Given = time.Unix(0, ns).UTC()
		case "until":
			var ns int64
			ns, perr = parseInt(v)
			ev.Until = time.Unix(0, ns).UTC()
		case "saved":
			ev.Saved = in.get(v)
		case "ref":
			var n int64
			n, perr = parseInt(v)
			if n < 0 {
				perr = strconv.ErrRange
			}
			ev.Ref = uint64(n)
		default:
			// A field from a later version of the same format: ignored.
		}
		if perr != nil {
			return ev, fmt.Sprintf("has a bad %s field", key), 0
		}
	}
	if version < 0 {
		return ev, "has no version", 0
	}
	if ev.Kind == EvInvalid {
		return ev, "has no kind", 0
	}
	return ev, "", 0
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

// journalText makes the strings of a scan's fields. A journal repeats
// the same few texts (step ids, actors, hosts, common notes) thousands of
// times: each is made once and handed out again, up to a bound, so a fold
// keeps one copy and the decoder allocates only for text it has not seen.
type journalText struct {
	seen map[string]string
}

// Bounds of the repeated texts a scan remembers: enough for every step of
// a long runbook and its usual notes, small beside the journal.
const (
	textSeenMax = 4096
	textSeenLen = 256
)

func newJournalText() *journalText {
	return &journalText{seen: make(map[string]string, 256)}
}

func (t *journalText) get(v []byte) string {
	if t == nil || len(v) > textSeenLen {
		return unescape(v)
	}
	if s, ok := t.seen[string(v)]; ok { // no allocation for the lookup
		return s
	}
	s := unescape(v)
	if len(t.seen) < textSeenMax {
		key := s // the same bytes unless v had escapes
		if len(s) != len(v) {
			key = string(v)
		}
		t.seen[key] = s
	}
	return s
}

// parseInt parses a decimal int64 from bytes; short numbers (all a journal
// writes) without allocating.
func parseInt(v []byte) (int64, error) {
	d := v
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 19 {
		return strconv.ParseInt(string(v), 10, 64)
	}
	var n uint64 // 19 digits always fit
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + uint64(c-'0')
	}
	neg := len(d) < len(v)
	switch {
	case neg && n <= 1<<63:
		return -int64(n), nil
	case !neg && n < 1<<63:
		return int64(n), nil
	}
	return 0, strconv.ErrRange
}

func atoi(v []byte) (int, error) {
	n, err := parseInt(v)
	if err == nil && int64(int(n)) != n {
		err = strconv.ErrRange
	}
	return int(n), err
}

func parseHex32(v []byte) (uint32, bool) {
	var n uint32
	for _, c := range v {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint32(c)
	}
	return n, true
}
