package main

// Benchmarks of what an operator waits for, timed from outside as whole
// processes: start to the first full frame and q to exit under a real
// pseudo-terminal, and `runbook status` on a long journal. Each runs
// interleaved with its anchor (a floor program, cat) so that both see the
// same machine load, and prints the ratio with its goal:
//
//	go test ./cmd/runbook -run '^$' -bench . -benchtime 20x
//
// RUNBOOK_BENCH_BIN=path times another build of runbook instead of this
// tree's (a before/after comparison on one machine).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
)

// ptyProc is a process on the child side of a new pseudo-terminal; the
// parent side's output is collected, with escape sequences stripped, and
// watched for marker words.
type ptyProc struct {
	cmd     *exec.Cmd
	master  *os.File
	started time.Time

	w, h    int
	mu      sync.Mutex
	raw     []byte
	markers []string
	seen    chan time.Time // when every marker was on screen
	done    chan struct{}  // the reader saw the end of output
}

// openPty opens a pseudo-terminal pair of w×h cells with the Linux ioctls
// (what posix_openpt, unlockpt and ptsname do in C).
func openPty(w, h int) (master, tty *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(master.Fd())
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0)
	}
	if err == nil {
		err = unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(h), Col: uint16(w)})
	}
	if err == nil {
		tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, tty, nil
}

// startPty starts argv as the session leader of a new pseudo-terminal and
// watches its screen output for every marker.
func startPty(tb testing.TB, w, h int, env []string, markers []string, argv ...string) *ptyProc {
	tb.Helper()
	master, tty, err := openPty(w, h)
	if err != nil {
		tb.Skipf("no pseudo-terminal: %v", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	p := &ptyProc{cmd: cmd, master: master, w: w, h: h, markers: markers, seen: make(chan time.Time, 1), done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		tty.Close()
		master.Close()
		tb.Fatalf("start %v: %v", argv, err)
	}
	tty.Close()
	go p.read()
	return p
}

func (p *ptyProc) read() {
	defer close(p.done)
	buf := make([]byte, 64<<10)
	found := false
	for {
		n, err := p.master.Read(buf)
		if n > 0 {
			now := time.Now()
			p.mu.Lock()
			p.raw = append(p.raw, buf[:n]...)
			if !found {
				text := p.text()
				found = true
				for _, m := range p.markers {
					found = found && strings.Contains(text, m)
				}
				if found {
					p.seen <- now
				}
			}
			p.mu.Unlock()
		}
		if err != nil {
			return // EIO once the child side is closed
		}
	}
}

// text is the screen as drawn so far (p.mu held).
func (p *ptyProc) text() string {
	scr := newVScreen(p.w, p.h)
	scr.feed(p.raw)
	return scr.String()
}

func (p *ptyProc) screen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.text()
}

// frameAndQuit waits for the first full frame, types q and waits for the
// process to end; it returns both intervals.
func (p *ptyProc) frameAndQuit(tb testing.TB) (frame, quit time.Duration) {
	tb.Helper()
	defer p.master.Close()
	select {
	case at := <-p.seen:
		frame = at.Sub(p.started)
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		p.cmd.Wait()
		tb.Fatalf("%s: no full frame (%q) within 20s; screen:\n%.3000s", p.cmd.Path, p.markers, p.screen())
	}
	q := time.Now()
	if _, err := p.master.Write([]byte("q")); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		quit = time.Since(q)
		if err != nil {
			tb.Fatalf("%s: %v; screen:\n%.3000s", p.cmd.Path, err, p.screen())
		}
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		tb.Fatalf("%s: q did not quit within 20s", p.cmd.Path)
	}
	return frame, quit
}

// buildFloor builds the floor program of the start-up benchmark.
func buildFloor(tb testing.TB) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "floor")
	// Built as runbook is: the two differ in what they do, not in how
	// they were linked.
	if err := goBuild(out, "./testdata/floor"); err != nil {
		tb.Fatalf("build the floor program: %v", err)
	}
	return out
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// ratioLine reports ours against the anchor as metrics and prints the
// comparison with its goal.
func ratioLine(b *testing.B, what string, ours, anchor []time.Duration, anchorName string, goal float64) {
	o, a := median(ours), median(anchor)
	r := float64(o) / float64(a)
	verdict := "meets"
	if r > goal {
		verdict = "MISSES"
	}
	b.Logf("%s: %.2f× %s (goal ≤ %.1f×, %s): median %.1f ms against %.1f ms over %d interleaved runs",
		what, r, anchorName, goal, verdict, ms1(o), ms1(a), len(ours))
}

func ms1(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchBin is the runbook binary the process benchmarks time: the release
// build, as `make build` makes it (no crash hooks), unless
// RUNBOOK_BENCH_BIN names another.
func benchBin(tb testing.TB) string {
	if b := os.Getenv("RUNBOOK_BENCH_BIN"); b != "" {
		return b
	}
	return releaseBin(tb)
}

var release struct {
	once sync.Once
	path string
	err  error
}

// releaseBin builds the release binary once per test process, beside bin.
func releaseBin(tb testing.TB) string {
	tb.Helper()
	release.once.Do(func() {
		release.path = filepath.Join(filepath.Dir(bin), "runbook-release")
		release.err = goBuild(release.path, ".")
	})
	if release.err != nil {
		tb.Fatal(release.err)
	}
	return release.path
}

// BenchmarkFirstFrameProcess: `runbook` (the shipped runbook, state
// already there, as on any reopening) from exec to its first full frame at
// 120×40 — timeline, the first step's guide rendered by glamour, the help
// line — and from q to the end of the process; interleaved with the floor
// program showing the same guide section. Goal: first frame ≤ 1.2× the
// floor.
func BenchmarkFirstFrameProcess(b *testing.B) {
	floor := buildFloor(b)
	rb, err := runbooks.LoadEmbedded(runbooks.Names()[0], runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		b.Fatal(err)
	}
	first := rb.Phases[0].Steps[0]
	md, err := runbooks.GuideSection(rb.Guides, first.Guide)
	if err != nil {
		b.Fatal(err)
	}
	guide := filepath.Join(b.TempDir(), "guide.md")
	if err := os.WriteFile(guide, []byte(md), 0o644); err != nil {
		b.Fatal(err)
	}
	// Every word of the section's first line of text is on screen only
	// once the guide is rendered (the heading also names the step in the
	// timeline); "quit" ends the help line, the last line drawn.
	var text string
	for _, l := range strings.Split(md, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			text = l
			break
		}
	}
	var words []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') }) {
		if len(w) >= 4 && !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	if len(words) < 3 {
		b.Fatalf("the guide's first line %q has too few words to recognise", text)
	}
	state := b.TempDir()
	env := []string{"TERM=xterm-256color", "COLORTERM=truecolor"}
	runbookArgv := []string{benchBin(b), "--state", state, "--date", "today", "--operator", "ana"}
	rbMarkers := append([]string{"Timeline", "quit"}, words...)
	floorMarkers := append([]string{"Guide", "quit"}, words...)
	// Once outside the clock: the run is started and journaled, so every
	// timed start is a reopening.
	startPty(b, 120, 40, env, rbMarkers, runbookArgv...).frameAndQuit(b)
	var rbFrame, rbQuit, flFrame, flQuit []time.Duration
	i := 0
	for b.Loop() {
		run := func(ours bool) {
			if ours {
				f, q := startPty(b, 120, 40, env, rbMarkers, runbookArgv...).frameAndQuit(b)
				rbFrame, rbQuit = append(rbFrame, f), append(rbQuit, q)
			} else {
				f, q := startPty(b, 120, 40, env, floorMarkers, floor, guide).frameAndQuit(b)
				flFrame, flQuit = append(flFrame, f), append(flQuit, q)
			}
		}
		// Alternate who goes first, so neither always runs on a warmer
		// cache.
		run(i%2 == 0)
		run(i%2 != 0)
		i++
	}
	b.ReportMetric(ms1(median(rbFrame)), "frame-ms")
	b.ReportMetric(ms1(median(flFrame)), "floor-frame-ms")
	b.ReportMetric(float64(median(rbFrame))/float64(median(flFrame)), "frame-ratio")
	b.ReportMetric(ms1(median(rbQuit)), "quit-ms")
	b.ReportMetric(ms1(median(flQuit)), "floor-quit-ms")
	ratioLine(b, "first full frame", rbFrame, flFrame, "the bubbletea+glamour floor", 1.2)
	ratioLine(b, "quit (q to exit)", rbQuit, flQuit, "the floor", 1.2)
}

// statusFixture writes a runbook of nSteps manual steps and a journal of
// nEvents for it, in the mix a long, troubled window produces (failed
// attempts, retries, manual waits with checklist ticks, dirty steps and
// resumes, undos, many notes), and returns the runbook file and the
// state directory.
func statusFixture(tb testing.TB, nSteps, nEvents int) (file, state string) {
	tb.Helper()
	if nSteps > 23*25 {
		tb.Fatal("statusFixture: one phase an hour, 25 steps each: at most 575 steps")
	}
	dir := tb.TempDir()
	var y strings.Builder
	y.WriteString("id: bench-window\ntitle: A long window\nschedule: {date: \"2025-10-24\", timezone: UTC}\nphases:\n")
	ids := make([]string, nSteps)
	for i := range nSteps {
		if i%25 == 0 {
			fmt.Fprintf(&y, "  - id: p%02d\n    title: Phase %d\n    slot: \"%02d:00-%02d:00\"\n    steps:\n", i/25, i/25, i/25%24, i/25%24+1)
		}
		ids[i] = fmt.Sprintf("s%03d", i)
		fmt.Fprintf(&y, "      - id: %s\n        title: Step %d\n        budget: 1m\n        guide: guide.md#the-step\n        checklist: [a, b, c, d]\n        do:\n          - manual: {prompt: Do step %d}\n", ids[i], i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "guide.md"), []byte("# The step\n\nDo it.\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	file = filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(file, []byte(y.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	rb, err := runbooks.Load(os.DirFS(dir), "bench.yaml", runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		tb.Fatalf("load the generated runbook: %v", err)
	}

	evs := make([]steps.Event, 0, nEvents)
	at := time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)
	add := func(ev steps.Event) {
		at = at.Add(time.Second)
		ev.At, ev.Seq = at, uint64(len(evs)+1)
		evs = append(evs, ev)
	}
	add(steps.Event{Kind: steps.EvRunStarted, Runbook: rb.ID, Actor: "ana", Host: "ops-laptop", PID: 4242, Date: "2025-10-24"})
	per := (nEvents - 1) / nSteps
	for _, id := range ids {
		start, attempt := len(evs), 0
		for len(evs)-start+12 <= per-6 {
			attempt++
			add(steps.Event{Kind: steps.EvStepStarted, Step: id, Attempt: attempt, Actor: "ana"})
			switch attempt % 3 {
			case 0:
				add(steps.Event{Kind: steps.EvStepAwaiting, Step: id})
				for k := range 6 {
					add(steps.Event{Kind: steps.EvChecklistTick, Step: id, Item: k % 4, Checked: k < 4, Actor: "ana"})
				}
				add(steps.Event{Kind: steps.EvStepConfirmed, Step: id, Actor: "ben", Reason: "checked on the console"})
				add(steps.Event{Kind: steps.EvStepFailed, Step: id, Err: "verify 1 (http): GET https://127.0.0.1:8443/health: 502 Bad Gateway"})
			case 1:
				add(steps.Event{Kind: steps.EvStepFailed, Step: id, Err: "do 1 (shell): docker compose up -d exited 1, expected 0"})
			case 2:
				add(steps.Event{Kind: steps.EvStepDirty, Step: id, Note: "process ended while running"})
				add(steps.Event{Kind: steps.EvRunResumed, Actor: "ana", Host: "ops-laptop", PID: 4243})
				add(steps.Event{Kind: steps.EvUndoStarted, Step: id, Actor: "ana"})
				add(steps.Event{Kind: steps.EvUndoFinished, Step: id})
			}
			add(steps.Event{Kind: steps.EvNote, Step: id, Actor: "ana", Note: fmt.Sprintf("attempt %d: upstream restarted, waiting for the health check to settle before trying again", attempt)})
			add(steps.Event{Kind: steps.EvNote, Step: id, Actor: "ben", Note: "P95 was 140 ms during the attempt; cache cold"})
		}
		for len(evs)-start < per-4 {
			add(steps.Event{Kind: steps.EvNote, Step: id, Actor: "ana", Note: "filler note to reach the planned size"})
		}
		attempt++
		add(steps.Event{Kind: steps.EvStepStarted, Step: id, Attempt: attempt, Actor: "ana"})
		add(steps.Event{Kind: steps.EvStepAwaiting, Step: id})
		add(steps.Event{Kind: steps.EvStepConfirmed, Step: id, Actor: "ana", Reason: "done"})
		add(steps.Event{Kind: steps.EvStepSucceeded, Step: id})
	}
	for len(evs) < nEvents {
		add(steps.Event{Kind: steps.EvNote, Step: ids[0], Actor: "ana", Note: "closing note"})
	}
	state = filepath.Join(dir, "state")
	if err := os.MkdirAll(steps.RunDir(state, rb.ID), 0o700); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := steps.WriteEvents(&buf, evs); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(steps.JournalPath(state, rb.ID), buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return file, state
}

// timedProc runs argv to its end with its output to /dev/null and returns
// the wall time.
func timedProc(tb testing.TB, argv ...string) time.Duration {
	tb.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer null.Close()
	cmd.Stdout = null
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	if err != nil {
		tb.Fatalf("%v: %v\n%s", argv, err, stderr.String())
	}
	return d
}

// peakRSS is argv's peak resident set in bytes, read by GNU time (Debian's
// time package): a child started from Go shares the test's memory until it
// execs, so its own rusage reports the test's peak, not the program's. ok
// is false when /usr/bin/time is missing: no figure beats a wrong one.
func peakRSS(tb testing.TB, argv ...string) (int64, bool) {
	tb.Helper()
	gnuTime, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		return 0, false
	}
	f, err := os.CreateTemp(tb.TempDir(), "rss")
	if err != nil {
		tb.Fatal(err)
	}
	f.Close()
	cmd := exec.Command(gnuTime, append([]string{"-f", "%M", "-o", f.Name()}, argv...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%v: %v\n%.2000s", argv, err, out)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		tb.Fatalf("GNU time's figure %q: %v", data, err)
	}
	return kb * 1024, true
}

// reportPeak prints a process's peak resident memory against its goal.
// before, when not nil, runs ahead of each of the three measured runs.
func reportPeak(b *testing.B, what, metric string, before func(), argv ...string) {
	b.Helper()
	var peak int64
	for range 3 {
		if before != nil {
			before()
		}
		rss, ok := peakRSS(b, argv...)
		if !ok {
			b.Logf("%s peak resident memory: not measured (needs /usr/bin/time: apt-get install time)", what)
			return
		}
		peak = max(peak, rss)
	}
	mb := float64(peak) / (1 << 20)
	b.ReportMetric(mb, metric+"-peak-rss-MB")
	verdict := "meets"
	if mb > 32 {
		verdict = "MISSES"
	}
	b.Logf("%s peak resident memory: %.1f MB (goal ≤ 32 MB, %s)", what, mb, verdict)
}

// BenchmarkStatus100kProcess: `runbook status` on a 100,000-event journal
// (500 steps, ≈10 MB) as a process, interleaved with `cat` of the same
// file, both as a reader that comes back (its fold snapshot there) and as
// the first read. Goals: ≤ 3× cat, ≤ 32 MB peak resident memory. The resume of the
// same run — `run --headless` reopening it (journal folded, lock taken,
// the resume journaled) and finding every step done — is timed in the
// same rounds and reported against cat too, and `runbook --version`
// (start-up alone) in the same rounds, to show what start-up costs of it.
func BenchmarkStatus100kProcess(b *testing.B) {
	file, state := statusFixture(b, 500, 100_000)
	journal := steps.JournalPath(state, "bench-window")
	fi, err := os.Stat(journal)
	if err != nil {
		b.Fatal(err)
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		b.Skip("no cat to compare with")
	}
	// Once outside the clock, and to check the fold: every step done.
	out, err := exec.Command(benchBin(b), "status", "-f", file, "--state", state).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "500/500 steps done") {
		b.Fatalf("status: %v\n%.2000s", err, out)
	}
	resumeArgv := []string{benchBin(b), "run", "--headless", "-f", file, "--state", state, "--operator", "ana"}
	if out, err := exec.Command(resumeArgv[0], resumeArgv[1:]...).CombinedOutput(); err != nil {
		b.Fatalf("resume: %v\n%.2000s", err, out)
	}
	// status keeps a fold snapshot (steps.ReadRunCached) and reads only
	// what was appended since; "first read" is status with none there:
	// the journal written by another machine, or a new binary.
	dropSnapshots := func() {
		snaps, _ := filepath.Glob(filepath.Join(state, ".cache", "fold-*"))
		for _, s := range snaps {
			if err := os.Remove(s); err != nil {
				b.Fatal(err)
			}
		}
	}
	var ours, anchor, resume, first, startup []time.Duration
	i := 0
	for b.Loop() {
		for k := range 5 {
			switch (i + k) % 5 {
			case 0:
				ours = append(ours, timedProc(b, benchBin(b), "status", "-f", file, "--state", state))
			case 1:
				anchor = append(anchor, timedProc(b, cat, journal))
			case 2:
				resume = append(resume, timedProc(b, resumeArgv...))
			case 3:
				dropSnapshots()
				first = append(first, timedProc(b, benchBin(b), "status", "-f", file, "--state", state))
			case 4:
				// The program's own start-up: every package's init, then
				// nothing (see "Start-up" in ARCHITECTURE.md).
				startup = append(startup, timedProc(b, benchBin(b), "--version"))
			}
		}
		i++
	}
	if snaps, _ := filepath.Glob(filepath.Join(state, ".cache", "fold-*")); len(snaps) != 1 {
		b.Errorf("status kept %d fold snapshots, want 1", len(snaps))
	}
	b.ReportMetric(ms1(median(ours)), "status-ms")
	b.ReportMetric(ms1(median(anchor)), "cat-ms")
	b.ReportMetric(float64(median(ours))/float64(median(anchor)), "ratio")
	ratioLine(b, fmt.Sprintf("status on a 100k-event journal (%.1f MB)", float64(fi.Size())/(1<<20)), ours, anchor, "cat", 3)
	reportPeak(b, "status", "status", nil, benchBin(b), "status", "-f", file, "--state", state)
	// What of status is start-up and what is reading the journal: cat
	// starts in about a millisecond, runbook in tens (its libraries'
	// init), so the ratio to cat is mostly start-up.
	b.ReportMetric(ms1(median(startup)), "version-ms")
	b.Logf("status beyond start-up: %.1f ms over `runbook --version` (%.1f ms), %.2f× it",
		ms1(median(ours)-median(startup)), ms1(median(startup)), float64(median(ours))/float64(median(startup)))
	b.ReportMetric(ms1(median(first)), "first-status-ms")
	ratioLine(b, "status, first read of that journal (no fold snapshot yet)", first, anchor, "cat", 3)
	reportPeak(b, "status, first read,", "first-status", dropSnapshots, benchBin(b), "status", "-f", file, "--state", state)
	b.ReportMetric(ms1(median(resume)), "resume-ms")
	ratioLine(b, "resume of the same run (run --headless, every step done)", resume, anchor, "cat", 3)
	reportPeak(b, "resume", "resume", nil, resumeArgv...)
}
