package ui

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/components/logpane"
)

// DefaultOutputCapacity is the channel size NewOutput uses for capacity <= 0.
const DefaultOutputCapacity = 8192

// maxBatch bounds the lines one outputMsg carries, and frameGap how long the
// drain waits for more lines after the first: output at any rate becomes at
// most about 60 messages a second, each one Update and one View.
const (
	maxBatch = 8192
	frameGap = 16 * time.Millisecond
)

// Output is the sink between the goroutine running a step and the program.
// The CLI passes Output.Send as steps.Options.Output; the model drains it
// with a command that re-arms itself. Send never blocks: when the program
// falls behind by a whole channel, lines are counted as dropped (the step's
// log file still has every line, and the pane says so).
type Output struct {
	ch      chan logpane.Line
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
}

// NewOutput makes a sink holding up to capacity lines in flight.
func NewOutput(capacity int) *Output {
	if capacity <= 0 {
		capacity = DefaultOutputCapacity
	}
	return &Output{ch: make(chan logpane.Line, capacity), done: make(chan struct{})}
}

// Send hands one line of a step's output to the program. Safe for
// concurrent use; after Close it does nothing.
func (o *Output) Send(step, line string) {
	if o == nil {
		return
	}
	select {
	case <-o.done:
		return
	default:
	}
	l := logpane.Line{Step: step, Text: termsafe.Line(sanitize(line))}
	select {
	case o.ch <- l:
	default:
		o.dropped.Add(1)
	}
}

// Close stops the drain command; call it after the program has exited.
func (o *Output) Close() {
	if o != nil {
		o.once.Do(func() { close(o.done) })
	}
}

// outputMsg is a batch of output lines.
type outputMsg struct {
	lines   []logpane.Line
	dropped uint64 // total dropped so far
}

// drainCmd waits for the first line, then gathers what arrives within one
// frame (or up to maxBatch lines) into one message.
func (o *Output) drainCmd() tea.Cmd {
	if o == nil {
		return nil
	}
	return func() tea.Msg {
		var first logpane.Line
		select {
		case first = <-o.ch:
		case <-o.done:
			return nil
		}
		batch := make([]logpane.Line, 1, 64)
		batch[0] = first
		timer := time.NewTimer(frameGap)
		defer timer.Stop()
		for len(batch) < maxBatch {
			select {
			case l := <-o.ch:
				batch = append(batch, l)
				continue
			case <-timer.C:
			case <-o.done:
			}
			break
		}
		return outputMsg{lines: batch, dropped: o.dropped.Load()}
	}
}

// sanitize makes a line of program output safe to place on the screen:
// escape sequences and control characters would move the cursor or
// recolour the panes.
func sanitize(s string) string {
	if strings.IndexByte(s, 0x1b) >= 0 {
		s = ansi.Strip(s)
	}
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			// dropped: \r, bells, backspaces, C1 controls
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
