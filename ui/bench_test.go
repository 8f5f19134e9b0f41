package ui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/ui/components/logpane"
)

// embedded is the shipped runbook, the one `runbook` opens by default.
func embedded(t testing.TB) *runbooks.Runbook {
	t.Helper()
	names := runbooks.Names()
	if len(names) == 0 {
		t.Fatal("no runbook is built in")
	}
	rb, err := runbooks.LoadEmbedded(names[0], runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatalf("load the built-in runbook %s: %v", names[0], err)
	}
	return rb
}

// The acceptance screen: the built-in runbook at 120×40 shows the
// timeline, the first step's rendered guide and the clocks on its first
// full frame.
func TestEmbeddedFirstFrame(t *testing.T) {
	rb := embedded(t)
	f := openLab(t, rb, "")
	f.clock.Set(rb.Schedule.Start.Add(-30 * time.Minute))
	m := sized(t, f.model(false), 120, 40)
	s := screen(m)
	first := rb.Phases[0].Steps[0]
	md, err := runbooks.GuideSection(rb.Guides, first.Guide)
	if err != nil {
		t.Fatal(err)
	}
	heading := runbooks.Headings([]byte(md))[0].Text
	for _, want := range []string{rb.Phases[0].Title, "Step 1/", "finish ", "buffer ", heading} {
		if !strings.Contains(s, want) {
			t.Errorf("first frame lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "Rendering guide") {
		t.Error("the guide was not rendered on the first full frame")
	}
}

// firstFrame is New + what Init asks for the first frame (guide render,
// action descriptions; not the clock's tick or the output drain) + the
// first WindowSizeMsg + View.
func firstFrame(b *testing.B, f *fixture) {
	m := New(Options{Session: f.sess, Clock: f.clock, Operator: "ana", Output: f.out})
	m = settle(b, m, m.selectedCmds())
	m, cmd := update(b, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	m = settle(b, m, cmd)
	if strings.Contains(m.View().Content, "Rendering guide") {
		b.Fatal("the guide is not rendered")
	}
	if v := m.View(); !strings.Contains(v.Content, "Timeline") {
		b.Fatal("no full frame")
	}
}

func reportMedian(b *testing.B, d []time.Duration, unit string) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2])/1e6, "median-"+unit)
}

// BenchmarkModelFirstFrame: from New to the first full frame of the
// built-in runbook, guide rendered by glamour, at 120×40 — the model only:
// no process start, package init, runbook load or session open. What an
// operator waits for is BenchmarkFirstFrameProcess in cmd/runbook.
func BenchmarkModelFirstFrame(b *testing.B) {
	f := openLab(b, embedded(b), "")
	var d []time.Duration
	for b.Loop() {
		t0 := time.Now()
		firstFrame(b, f)
		d = append(d, time.Since(t0))
	}
	reportMedian(b, d, "ms")
}

// streamFrames drives the model as the program would while a producer
// writes rate lines a second through the Output sink: each frame is one
// drained batch, then Update and View; Update+View is what is timed.
func streamFrames(b *testing.B, m Model, o *Output, rate int, dur time.Duration) (Model, []time.Duration, int) {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// Catch up with the rate however late the ticker fires.
			due := int(time.Since(start).Seconds() * float64(rate))
			for ; n < due; n++ {
				o.Send("s.250", "compiling unit "+strconv.Itoa(n)+" of the generated window: ok, 3 warnings, 0 errors")
			}
		}
	}()
	var frames []time.Duration
	lines := 0
	nextTick := time.Now().Add(time.Second)
	for ctx.Err() == nil {
		msg, ok := o.drainCmd()().(outputMsg)
		if !ok {
			break
		}
		lines += len(msg.lines)
		t0 := time.Now()
		m, _ = update(b, m, msg)
		_ = m.View()
		frames = append(frames, time.Since(t0))
		if time.Now().After(nextTick) {
			// The once-a-second clock frame: a fresh snapshot and the
			// timing of all 500 steps.
			// The snapshot is taken by the tick command, off the program's
			// goroutine: not part of the frame.
			tick := tickMsg{snap: m.sess.Snapshot(), now: m.clock.Now()}
			t0 = time.Now()
			m, _ = update(b, m, tick)
			_ = m.View()
			frames = append(frames, time.Since(t0))
			nextTick = nextTick.Add(time.Second)
		}
	}
	return m, frames, lines
}

// BenchmarkStream500 measures Update+View per frame on a 500-step runbook
// while a step prints 10,000 lines a second.
func BenchmarkStream500(b *testing.B) {
	f := openLab(b, generated(b, 500), "")
	m := sized(b, f.model(false), 120, 40)
	m.timeline.Select("s.250")
	m = settle(b, m, m.needSelected())
	var all []time.Duration
	lines := 0
	start := time.Now()
	for b.Loop() {
		var frames []time.Duration
		var n int
		m, frames, n = streamFrames(b, m, f.out, 10000, 2*time.Second)
		all = append(all, frames...)
		lines += n
	}
	secs := time.Since(start).Seconds()
	slices.Sort(all)
	p := func(q float64) float64 { return float64(all[min(int(q*float64(len(all))), len(all)-1)]) / 1e6 }
	b.ReportMetric(p(0.50), "p50-ms/frame")
	b.ReportMetric(p(0.99), "p99-ms/frame")
	b.ReportMetric(float64(all[len(all)-1])/1e6, "max-ms/frame")
	b.ReportMetric(float64(len(all))/secs, "frames/s")
	b.ReportMetric(float64(lines)/secs, "lines/s")
	b.ReportMetric(float64(f.out.dropped.Load()), "dropped")
}

// vmRSS reads the resident set size of this process, in bytes.
func vmRSS(tb testing.TB) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				tb.Fatalf("parse %q: %v", l, err)
			}
			return float64(kb) * 1024
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkMillionLines streams a million lines into the 500-step model
// (every line delivered: the producer waits for room rather than
// dropping) and reports the process's resident memory afterwards.
func BenchmarkMillionLines(b *testing.B) {
	f := openLab(b, generated(b, 500), "")
	m := sized(b, f.model(false), 120, 40)
	const total = 1_000_000
	for b.Loop() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range total {
				f.out.ch <- logpane.Line{Step: "s.1", Text: sanitize(fmt.Sprintf("line %d: a typical line of build output, about eighty characters long.", i))}
			}
		}()
		got := 0
		for got < total {
			msg := f.out.drainCmd()().(outputMsg)
			got += len(msg.lines)
			m, _ = update(b, m, msg)
			_ = m.View()
		}
		<-done
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if m.out.Total() < total {
		b.Fatalf("only %d lines reached the pane", m.out.Total())
	}
	b.ReportMetric(vmRSS(b)/(1<<20), "rss-MB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(m.out.Len()), "lines-kept")
}

// runProgram starts a real program on the model and returns it once its
// first frame is ready.
func runProgram(b *testing.B, m Model) (*tea.Program, chan error) {
	p := tea.NewProgram(m, tea.WithInput(&bytes.Buffer{}), tea.WithOutput(io.Discard),
		tea.WithWindowSize(120, 40), tea.WithoutSignals(), tea.WithFilter(probeFilter))
	errc := make(chan error, 1)
	go func() {
		_, err := p.Run()
		errc <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		reply := make(chan bool, 1)
		p.Send(probeMsg{cond: guideReady, reply: reply})
		select {
		case ok := <-reply:
			if ok {
				return p, errc
			}
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			b.Fatal("the program never drew its first frame")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkProgramQuitIdle: from the q key to the end of Program.Run, in
// process (the whole process's quit is BenchmarkFirstFrameProcess's).
func BenchmarkProgramQuitIdle(b *testing.B) {
	f := openLab(b, nil, "")
	var d []time.Duration
	for b.Loop() {
		p, errc := runProgram(b, f.model(false))
		t0 := time.Now()
		p.Send(keyMsg("q"))
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	reportMedian(b, d, "ms")
	b.ReportMetric(float64(slices.Max(d))/1e6, "max-ms")
}

// BenchmarkQuitRunning: q and y while a shell step runs, to the end of
// Program.Run — the step is killed and its failure journaled (fsynced)
// before the program may exit.
func BenchmarkQuitRunning(b *testing.B) {
	rb := slowRunbook(b)
	var d []time.Duration
	for b.Loop() {
		f := openLab(b, rb, "")
		p, errc := runProgram(b, f.model(false))
		p.Send(keyMsg("enter"))
		for up := false; !up; { // the step's process is up once it prints
			reply := make(chan bool, 1)
			p.Send(probeMsg{cond: func(m Model) bool { return m.out.Total() >= 2 }, reply: reply})
			up = <-reply
		}
		p.Send(keyMsg("q"))
		t0 := time.Now()
		p.Send(keyMsg("y"))
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
		if st := f.sess.Snapshot().Step("p.wait"); !strings.Contains(st.LastErr, "interrupted") {
			b.Fatalf("step not journaled as interrupted: %s %q", st.Status, st.LastErr)
		}
	}
	reportMedian(b, d, "ms")
	b.ReportMetric(float64(slices.Max(d))/1e6, "max-ms")
}

// BenchmarkTickFrame500 is the once-a-second frame on a 500-step runbook:
// the timing of every step computed again and every pane redrawn.
func BenchmarkTickFrame500(b *testing.B) {
	f := openLab(b, generated(b, 500), "")
	m := sized(b, f.model(false), 120, 40)
	var d []time.Duration
	for b.Loop() {
		tick := tickMsg{snap: m.sess.Snapshot(), now: m.clock.Now()}
		t0 := time.Now()
		m, _ = update(b, m, tick)
		_ = m.View()
		d = append(d, time.Since(t0))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100])/1e6, "p99-ms")
}
