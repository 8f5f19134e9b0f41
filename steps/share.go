package steps

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/steps/store"
)

// RecordSink is where a run's records go, in order, as the journal's
// checksummed lines (record ends with its newline). It has two
// implementations: the local journal (*Journal: verified, written and
// fsynced, always first) and the shared store (the session's mirror of a
// steps/store.Store, second). The driver writes every record to the local
// journal, then to the store; a run opened on another machine copies the
// store's records into its local journal through the same interface.
type RecordSink interface {
	WriteRecord(ctx context.Context, seq uint64, record []byte) error
}

var (
	_ RecordSink = (*Journal)(nil)
	_ RecordSink = (*shared)(nil)
)

// SharedStore is what the driver needs of the shared-run store;
// *store.Store (PostgreSQL) is its implementation.
type SharedStore interface {
	store.Sink
	CreateRun(ctx context.Context, id, runbook string, rehearsal bool) (bool, error)
	Runs(ctx context.Context) ([]store.Run, error)
	Records(ctx context.Context, run string, after uint64, limit int) ([]store.Record, error)
	Acquire(ctx context.Context, run string, h store.Holder) (store.Lease, error)
	TakeOver(ctx context.Context, run string, h store.Holder, opt store.TakeOver) (now, was store.Lease, err error)
	Heartbeat(ctx context.Context, l *store.Lease) error
	Release(ctx context.Context, l store.Lease) error
	SetState(ctx context.Context, l store.Lease, state string) error
}

var _ SharedStore = (*store.Store)(nil)

// Share makes a session write its run to a shared store as well
// (Options.Share; nil: the run is local only).
type Share struct {
	// Store is the shared store; the session closes it on Close when it
	// has a Close method.
	Store SharedStore
	// Run is the store's run to join when the local journal is empty
	// (--run). Empty: the runbook's newest run of the same kind
	// (rehearsal or real) when it is not finished, else a new run.
	Run string
	// LeaseTimeout is how old the holder's heartbeat must be before
	// Options.TakeOver may take the run over (default 30 s). The driver
	// renews its lease every fifth of it (at most every 5 s) and keeps
	// its value with the lease: a take-over waits for the longer of the
	// holder's and its own.
	LeaseTimeout time.Duration
	// Force takes the run over at once from the holder it names (the
	// holder's operator name), however fresh its heartbeat. Journaled.
	Force string
	// Wait bounds how long a step's start waits to be in the store before
	// its side effect begins (default 3 s); past it the run goes on
	// locally and the backlog is pushed when the store is back.
	Wait time.Duration
	// Notice receives what the operator should know and need not stop
	// for (the store away, back), from the session's goroutines.
	Notice func(string)
}

// Defaults of Share.
const (
	DefaultLeaseTimeout = 30 * time.Second
	DefaultShareWait    = 3 * time.Second
)

// ShareStatus is how a run stands with the shared store, for headers.
type ShareStatus struct {
	Run    string    // the store's run id ("": local only)
	Holder string    // who drives it: this session's lease
	Behind int       // records in the local journal the store lacks yet
	Since  time.Time // when the oldest of them was written
	// Stopped says why this session may no longer write the run (it was
	// taken over, the store refused it); empty while it may.
	Stopped string
}

// String is the status in a few words: "" when the store has everything.
func (s ShareStatus) String() string {
	switch {
	case s.Stopped != "":
		return s.Stopped
	case s.Behind > 0:
		return fmt.Sprintf("not shared since %s (%d events)", s.Since.Format("15:04"), s.Behind)
	}
	return ""
}

// RunID is a run's id in the store, derivable on any machine from the
// run's first record: the runbook id, the first record's UTC time to the
// millisecond, and whether it is a rehearsal.
func RunID(runbook string, started time.Time, rehearsal bool) string {
	id := runbook + "-" + started.UTC().Format("20060102T150405.000Z")
	if rehearsal {
		id += "-rehearsal"
	}
	return id
}

// DivergedError is a local journal and the store's run that differ at a
// record: two drivers wrote the run apart (this machine was taken over,
// or its state directory holds another run). Nothing is written.
type DivergedError struct {
	Run     string
	Journal string
	Seq     uint64
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("the local journal %s and the store's run %s differ at record %d: this machine's journal is not the shared run's (it was taken over while this machine was away, or the state directory holds another run); keep a copy of the journal, move it aside, and open again to continue from the store", e.Journal, e.Run, e.Seq)
}

// IsShareFatal reports whether err is the store refusing this driver for
// good: fenced (taken over), a conflict, a gap, a missing grant, or a
// diverged journal. The run must stop.
func IsShareFatal(err error) bool {
	var (
		c *store.ConflictError
		f *store.FencedError
		g *store.GapError
		p *store.PrivilegeError
		d *DivergedError
	)
	return errors.As(err, &c) || errors.As(err, &f) || errors.As(err, &g) || errors.As(err, &p) || errors.As(err, &d)
}

// WriteRecord appends a record written elsewhere (the store's copy of
// it) to the local journal, byte for byte: its checksum and sequence are
// checked first, then it is written and fsynced.
func (j *Journal) WriteRecord(_ context.Context, seq uint64, rec []byte) error {
	if j.broken != nil {
		return fmt.Errorf("journal %s is not writable after an earlier failure (%v)", j.path, j.broken)
	}
	if seq != j.seq+1 {
		return fmt.Errorf("journal %s: record %d written where %d is next", j.path, seq, j.seq+1)
	}
	if len(rec) == 0 || rec[len(rec)-1] != '\n' {
		return fmt.Errorf("journal %s: record %d has no end of line", j.path, seq)
	}
	ev, reason, _ := decodeRecord(rec[:len(rec)-1], nil)
	if reason == "" && ev.Seq != seq {
		reason = fmt.Sprintf("has sequence %d", ev.Seq)
	}
	if reason != "" {
		return fmt.Errorf("journal %s: record %d %s", j.path, seq, reason)
	}
	if _, err := j.f.Write(rec); err != nil {
		return j.fail(fmt.Errorf("write journal %s: %w", j.path, err))
	}
	if err := j.f.Sync(); err != nil {
		return j.fail(fmt.Errorf("sync journal %s: %w", j.path, err))
	}
	j.seq = seq
	j.size += int64(len(rec))
	return nil
}

// shared is a session's hold on the store: its lease, its mirror, and
// the goroutines that send records and renew the lease.
type shared struct {
	opt    Share
	st     SharedStore
	run    string
	holder string
	mirror *store.Mirror
	notice func(string)
	now    func() time.Time
	// stopped is called once when the store refuses this driver for
	// good (the session cancels the running step).
	stopped func(error)

	mu      sync.Mutex
	lease   store.Lease
	queue   []queued // durable locally, not yet handed to the mirror
	pushed  uint64   // the last sequence handed to the mirror
	stored  uint64   // the last sequence the store holds
	behind  bool     // the last push failed: the store is away
	fatal   error
	changed chan struct{} // closed when stored, behind or fatal change

	wake chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup

	saved savedSync // the copies of steps' save directories (share_saved.go)
}

type queued struct {
	seq  uint64
	data []byte
}

// WriteRecord hands a record that is durable locally to the store: it
// is queued and sent in order by the sender goroutine (see await).
func (sh *shared) WriteRecord(_ context.Context, seq uint64, rec []byte) error {
	sh.mu.Lock()
	if sh.fatal != nil {
		sh.mu.Unlock()
		return sh.fatal
	}
	sh.queue = append(sh.queue, queued{seq: seq, data: rec})
	sh.mu.Unlock()
	sh.poke()
	return nil
}

func (sh *shared) poke() {
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

// refuses is the error that stops every write once the store refused
// this driver (nil while it may write).
func (sh *shared) refuses() error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.fatal
}

func (sh *shared) signal() {
	close(sh.changed)
	sh.changed = make(chan struct{})
}

// setFatal stops the driver for good (once).
func (sh *shared) setFatal(err error) {
	sh.mu.Lock()
	if sh.fatal != nil {
		sh.mu.Unlock()
		return
	}
	sh.fatal = err
	sh.signal()
	sh.mu.Unlock()
	if sh.stopped != nil {
		sh.stopped(err)
	}
}

// sendLoop sends queued records in order, and the backlog when poked
// while the store is away.
func (sh *shared) sendLoop() {
	defer sh.wg.Done()
	for {
		select {
		case <-sh.stop:
			return
		case <-sh.wake:
		}
		sh.send(sh.opt.Wait)
	}
}

// send pushes what is queued (and the backlog) within wait per record
// while the store answers; once it does not, the rest is only queued in
// the mirror (a cancelled context), for the next attempt.
func (sh *shared) send(wait time.Duration) {
	sh.mu.Lock()
	recs := sh.queue
	sh.queue = nil
	away := sh.behind
	sh.mu.Unlock()
	var err error
	last := uint64(0)
	tried := false
	for _, r := range recs {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		if tried && err != nil {
			cancel() // the store did not answer in this pass: only queue
		}
		err = sh.mirror.Push(ctx, r.seq, r.data)
		cancel()
		tried = true
		last = r.seq
		if err != nil && IsShareFatal(err) {
			break
		}
	}
	if len(recs) == 0 {
		if !away {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err = sh.mirror.Flush(ctx)
		cancel()
	}
	sh.mu.Lock()
	if last > sh.pushed {
		sh.pushed = last
	}
	sh.mu.Unlock()
	sh.settle(err)
}

// settle records how the last push ended.
func (sh *shared) settle(err error) {
	if err != nil && IsShareFatal(err) {
		sh.setFatal(err)
		return
	}
	sh.mu.Lock()
	was := sh.behind
	if err == nil {
		sh.stored = sh.pushed
		sh.behind = false
	} else {
		sh.behind = true
	}
	sh.signal()
	sh.mu.Unlock()
	switch {
	case err != nil && !was:
		since, n := sh.mirror.Behind()
		var be *store.BehindError
		if errors.As(err, &be) {
			err = be.Err
		}
		sh.say(fmt.Sprintf("the store cannot be reached: not shared since %s (%d events); the run goes on locally and the backlog is pushed when the store is back (%v)", since.Format("15:04"), n, err))
	case err == nil && was:
		sh.say("the store is back: every event is shared again")
	}
}

func (sh *shared) say(s string) {
	if sh.notice != nil {
		sh.notice(s)
	}
}

// await waits, at most Share.Wait, until the store holds record seq (a
// step's start, before its side effect). It returns nil when it does or
// when the store is away (the run goes on locally): once a push attempt
// made while it waits has failed, it waits no longer, so an outage costs
// a step one attempt, not the whole bound. A refusal is returned.
func (sh *shared) await(ctx context.Context, seq uint64) error {
	timer := time.NewTimer(sh.opt.Wait)
	defer timer.Stop()
	sh.poke()
	for tried := false; ; tried = true {
		sh.mu.Lock()
		fatal, stored, behind, ch := sh.fatal, sh.stored, sh.behind, sh.changed
		sh.mu.Unlock()
		switch {
		case fatal != nil:
			return fatal
		case stored >= seq:
			return nil
		case tried && behind:
			return nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// heartbeatLoop renews the lease every interval; a lease taken over
// stops the driver even when it is idle. While the store is away it also
// pokes the sender to push the backlog.
func (sh *shared) heartbeatLoop(interval time.Duration) {
	defer sh.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-sh.stop:
			return
		case <-t.C:
		}
		sh.mu.Lock()
		l := sh.lease
		fatal := sh.fatal
		behind := sh.behind
		sh.mu.Unlock()
		if fatal != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(interval, time.Second))
		err := sh.st.Heartbeat(ctx, &l)
		cancel()
		switch {
		case err == nil:
			sh.mu.Lock()
			sh.lease.Heartbeat = l.Heartbeat
			sh.mu.Unlock()
		case IsShareFatal(err):
			sh.setFatal(err)
			return
		}
		if behind {
			sh.poke()
		}
	}
}

func (sh *shared) status() ShareStatus {
	st := ShareStatus{Run: sh.run, Holder: sh.holder}
	sh.mu.Lock()
	fatal := sh.fatal
	sh.mu.Unlock()
	if fatal != nil {
		st.Stopped = stoppedWords(fatal)
		return st
	}
	if !sh.isBehind() {
		// Records on their way while the store answers: not behind.
		return st
	}
	st.Since, st.Behind = sh.mirror.Behind()
	sh.mu.Lock()
	st.Behind += len(sh.queue)
	sh.mu.Unlock()
	if st.Since.IsZero() {
		st.Since = sh.now()
	}
	return st
}

func (sh *shared) isBehind() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.behind
}

// stoppedWords says in a header's words why the driver stopped.
func stoppedWords(err error) string {
	var f *store.FencedError
	if errors.As(err, &f) && f.Current != nil && f.Current.Epoch > f.Epoch {
		return fmt.Sprintf("taken over by %s on %s at %s: this session is stopped", f.Current.Holder, f.Current.Host, f.Current.Since.Local().Format("15:04:05"))
	}
	return "stopped by the store: " + err.Error()
}

// TakenOver says who took the run over from a fenced driver, and when,
// even when that driver has released the lease since ("" when err is
// not a take-over).
func TakenOver(err error) string {
	var f *store.FencedError
	if !errors.As(err, &f) || f.Current == nil || f.Current.Epoch <= f.Epoch {
		return ""
	}
	c := f.Current
	s := fmt.Sprintf("run %s was taken over by %s on %s (pid %d) at %s (lease epoch %d); this driver (epoch %d) is fenced: it wrote nothing more and stops",
		f.Run, c.Holder, c.Host, c.PID, c.Since.UTC().Format(time.RFC3339), c.Epoch, f.Epoch)
	if c.Released {
		s += "; " + c.Holder + " has since released the run"
	}
	return s
}

// close stops the goroutines, pushes what is left (bounded), records the
// run's state and releases the lease when everything is shared.
func (sh *shared) close(state string) error {
	select {
	case <-sh.stop:
		return nil
	default:
	}
	close(sh.stop)
	sh.wg.Wait()
	defer func() {
		if c, ok := sh.st.(interface{ Close() }); ok {
			c.Close()
		}
	}()
	if sh.refuses() != nil {
		return nil // taken over: nothing of ours to release
	}
	sh.send(sh.opt.Wait)
	if err := sh.refuses(); err != nil {
		return err
	}
	if sh.isBehind() {
		_, n := sh.mirror.Behind()
		return fmt.Errorf("the store could not be reached: %d events of run %s are in the local journal only; they are pushed the next time the run opens with the store (the lease is kept until then)", n, sh.run)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sh.opt.Wait)
	defer cancel()
	sh.mu.Lock()
	l := sh.lease
	sh.mu.Unlock()
	var errs []error
	if state != "" {
		errs = append(errs, sh.st.SetState(ctx, l, state))
	}
	errs = append(errs, sh.st.Release(ctx, l))
	return errors.Join(errs...)
}

// setState records the run's state in the store (best effort: a store
// away is not a reason to fail the run's end).
func (sh *shared) setState(state string) {
	sh.mu.Lock()
	l := sh.lease
	sh.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), sh.opt.Wait)
	defer cancel()
	if err := sh.st.SetState(ctx, l, state); err != nil && IsShareFatal(err) {
		sh.setFatal(err)
	}
}

// openShared joins the run to the store before anything is recorded: it
// names the run (from the local journal's first record, or the store's
// run to join, or a new one starting now), takes the lease (or takes it
// over), copies the store's records the local journal lacks into it,
// pushes the ones the store lacks, and starts the sender and the
// heartbeat. It returns the journal note of a take-over ("" when none).
func (s *Session) openShared(now time.Time) (note string, err error) {
	opt := *s.opt.Share
	defer func() {
		if c, ok := opt.Store.(interface{ Close() }); ok && err != nil {
			c.Close() // the session will not: it never had the store
		}
	}()
	if opt.LeaseTimeout <= 0 {
		opt.LeaseTimeout = DefaultLeaseTimeout
	}
	if opt.Wait <= 0 {
		opt.Wait = DefaultShareWait
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := opt.Store
	rb := s.opt.Runbook
	var id string
	switch {
	case s.run.LastSeq > 0:
		id = RunID(rb.ID, s.run.StartedAt, s.run.Rehearsal)
		if opt.Run != "" && opt.Run != id {
			return "", fmt.Errorf("--run %s: the local journal %s holds run %s; use another --state to open %s", opt.Run, s.journal.Path(), id, opt.Run)
		}
	case opt.Run != "":
		id = opt.Run
		if _, found, err := findRun(ctx, st, func(r store.Run) bool { return r.ID == id }); err != nil {
			return "", err
		} else if !found {
			return "", fmt.Errorf("no run %q in the store", id)
		}
	default:
		r, found, err := findRun(ctx, st, func(r store.Run) bool { return r.Runbook == rb.ID && r.Rehearsal == s.opt.Rehearsal })
		if err != nil {
			return "", err
		}
		if found && r.State != "finished" && r.State != "rolled back" {
			id = r.ID
		} else {
			id = RunID(rb.ID, now, s.opt.Rehearsal)
		}
	}
	if _, err := st.CreateRun(ctx, id, rb.ID, s.opt.Rehearsal); err != nil {
		return "", err
	}
	h := store.Holder{Operator: s.opt.Operator, Host: s.opt.Host, PID: s.opt.PID, StaleAfter: opt.LeaseTimeout}
	lease, note, err := s.takeLease(ctx, st, id, h, opt)
	if err != nil {
		return "", err
	}
	sh := &shared{
		opt: opt, st: st, run: id, lease: lease, notice: opt.Notice, now: s.opt.Clock.Now,
		holder:  fmt.Sprintf("%s on %s", h.Operator, h.Host),
		changed: make(chan struct{}), wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	release := func() {
		c, cancel := context.WithTimeout(context.Background(), opt.Wait)
		defer cancel()
		st.Release(c, lease)
	}
	last, backlog, err := s.syncRecords(ctx, st, id)
	if err != nil {
		release()
		return "", err
	}
	if _, err := s.restoreSaved(ctx, sh); err != nil {
		release()
		return "", err
	}
	sh.mirror = store.NewMirror(st, id, lease.Epoch, last, s.opt.Clock.Now)
	sh.queue = append(sh.queue, backlog...)
	sh.stored, sh.pushed = last, last
	if len(backlog) > 0 {
		sh.send(opt.Wait)
		if err := sh.refuses(); err != nil {
			release()
			return "", err
		}
	}
	sh.stopped = s.shareStopped
	s.shared = sh
	interval := min(max(opt.LeaseTimeout/5, 50*time.Millisecond), 5*time.Second)
	sh.wg.Add(2)
	go sh.sendLoop()
	go sh.heartbeatLoop(interval)
	return note, nil
}

func findRun(ctx context.Context, st SharedStore, match func(store.Run) bool) (store.Run, bool, error) {
	runs, err := st.Runs(ctx)
	if err != nil {
		return store.Run{}, false, err
	}
	for _, r := range runs { // newest first
		if match(r) {
			return r, true, nil
		}
	}
	return store.Run{}, false, nil
}

// takeLease acquires the run's lease, or takes it over when the session
// was told to (stale heartbeat, or forced naming the holder). A holder
// that is this host's dead process (whose state-directory lock this
// session took over) is replaced at once.
func (s *Session) takeLease(ctx context.Context, st SharedStore, id string, h store.Holder, opt Share) (store.Lease, string, error) {
	if opt.Force == "" {
		l, err := st.Acquire(ctx, id, h)
		var held *store.HeldError
		if err == nil || !errors.As(err, &held) {
			return l, "", err
		}
		dead := s.Recovered.TookOver
		sameDead := dead.PID != 0 && held.Lease.Host == s.opt.Host && held.Lease.PID == dead.PID
		switch {
		case sameDead:
			opt.Force = held.Lease.Holder
		case !s.opt.TakeOver:
			return store.Lease{}, "", held
		}
	}
	now, was, err := st.TakeOver(ctx, id, h, store.TakeOver{StaleAfter: opt.LeaseTimeout, Force: opt.Force})
	if err != nil {
		return store.Lease{}, "", err
	}
	if was.Epoch == 0 || was.Released {
		return now, "", nil
	}
	age := now.Since.Sub(was.Heartbeat).Round(100 * time.Millisecond)
	how := fmt.Sprintf("its heartbeat was %s old (limit %s)", age, opt.LeaseTimeout)
	if opt.Force != "" {
		how = fmt.Sprintf("forced, naming %s; its heartbeat was %s old", opt.Force, age)
	}
	note := fmt.Sprintf("took the run over from %s on %s (pid %d, lease epoch %d, since %s): %s; now lease epoch %d",
		was.Holder, was.Host, was.PID, was.Epoch, was.Since.UTC().Format(time.RFC3339), how, now.Epoch)
	return now, note, nil
}

// syncBatch is how many of the store's records one read brings.
const syncBatch = 1000

// syncRecords compares the local journal with the store's records of
// run id, reading both as streams: records both hold must be the same
// bytes; the store's records the journal lacks are written to it
// (checked, fsynced) and folded; the journal's records the store lacks
// are returned to be pushed. last is the last sequence the store holds.
func (s *Session) syncRecords(ctx context.Context, st SharedStore, id string) (last uint64, backlog []queued, err error) {
	path := s.journal.Path()
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, journalBuffer)
	localLast := s.journal.Seq()
	var seq uint64
	for {
		recs, err := st.Records(ctx, id, seq, syncBatch)
		if err != nil {
			return 0, nil, err
		}
		for _, r := range recs {
			seq = r.Seq
			if seq <= localLast {
				line, err := br.ReadBytes('\n')
				if err != nil {
					return 0, nil, fmt.Errorf("read journal %s: %w", path, err)
				}
				if !bytes.Equal(line, r.Data) {
					return 0, nil, &DivergedError{Run: id, Journal: path, Seq: seq}
				}
				continue
			}
			if err := s.pull(ctx, r); err != nil {
				return 0, nil, err
			}
		}
		if len(recs) < syncBatch {
			break
		}
	}
	last = seq
	for n := seq + 1; n <= localLast; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return 0, nil, fmt.Errorf("read journal %s: %w", path, err)
		}
		backlog = append(backlog, queued{seq: n, data: line})
	}
	return last, backlog, nil
}

// pull writes one of the store's records into the local journal and
// folds it, as if it had been read from there.
func (s *Session) pull(ctx context.Context, r store.Record) error {
	if err := s.journal.WriteRecord(ctx, r.Seq, r.Data); err != nil {
		return fmt.Errorf("copy the store's run %s: %w", r.Run, err)
	}
	ev, _, _ := decodeRecord(bytes.TrimSuffix(r.Data, []byte{'\n'}), nil)
	if _, err := s.run.Apply(ev); err != nil {
		return fmt.Errorf("the store's run %s record %d (%s): %w", r.Run, ev.Seq, ev.Kind, err)
	}
	return nil
}

// shareStopped: the store refused this driver for good. The step running
// now is cancelled: a driver taken over must not act.
func (s *Session) shareStopped(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.cancel(&CancelledError{By: "runbook (" + stoppedWords(err) + ")", At: s.opt.Clock.Now()})
	}
}

// shareRecord hands a record the local journal has made durable to the
// store (nothing without one). Called with s.mu held, in order.
func (s *Session) shareRecord(ev Event) {
	if s.shared == nil {
		return
	}
	s.shared.WriteRecord(context.Background(), ev.Seq, AppendRecord(nil, ev))
}

// shareRefuses is the store's refusal that stops every write (nil: none,
// or no store).
func (s *Session) shareRefuses() error {
	if s.shared == nil {
		return nil
	}
	return s.shared.refuses()
}

// awaitShared waits (bounded) until the store holds every record so far:
// called before a step's side effect.
func (s *Session) awaitShared(ctx context.Context) error {
	if s.shared == nil {
		return nil
	}
	s.mu.Lock()
	seq := uint64(0)
	if s.journal != nil {
		seq = s.journal.Seq()
	}
	s.mu.Unlock()
	return s.shared.await(ctx, seq)
}

// ShareStatus is how the run stands with the shared store (zero: local
// only).
func (s *Session) ShareStatus() ShareStatus {
	if s.shared == nil {
		return ShareStatus{}
	}
	return s.shared.status()
}

// closeShared ends the session's hold on the store.
func (s *Session) closeShared() error {
	if s.shared == nil {
		return nil
	}
	state := "running"
	if r := s.Snapshot(); r.Finished {
		state = "finished"
	} else if rolledBack(r) {
		state = "rolled back"
	}
	s.syncPendingSaved()
	return s.shared.close(state)
}

// rolledBack: every step the run did work on is undone.
func rolledBack(r *Run) bool {
	undone := false
	for _, st := range r.Steps {
		switch st.Status {
		case Undone:
			undone = true
		case Pending, Skipped:
		default:
			return false
		}
	}
	return undone
}

// checkShared holds a journal copied from the store to the rules a local
// one meets at open: the same runbook, the same kind of run.
func (s *Session) checkShared() error {
	run := s.run
	if run.Runbook != "" && run.Runbook != s.opt.Runbook.ID {
		return fmt.Errorf("the store's run %s belongs to runbook %q, not %q", s.shared.run, run.Runbook, s.opt.Runbook.ID)
	}
	if run.LastSeq > 0 && run.Rehearsal != s.opt.Rehearsal {
		return &RehearsalMismatchError{Journal: s.journal.Path(), Rehearsal: run.Rehearsal, Started: run.StartedAt}
	}
	s.Recovered.RunbookChanged = run.Digest != "" && run.Digest != s.opt.Runbook.Digest
	return nil
}
