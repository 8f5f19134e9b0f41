package steps

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps/termsafe"
)

// output returns the line writer for a step: each complete line is redacted,
// appended to the step's log file and handed to Options.Output.
func (s *Session) output(step string) *lineWriter {
	w := newLineWriter(step, s.opt.Redactor, s.opt.Output)
	dir := filepath.Join(RunDir(s.opt.StateDir, s.opt.Runbook.ID), "logs")
	if err := os.MkdirAll(dir, 0o700); err == nil {
		f, err := os.OpenFile(filepath.Join(dir, step+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err == nil {
			w.log = f
			fmt.Fprintf(f, "--- %s\n", s.opt.Clock.Now().UTC().Format(time.RFC3339))
		}
	}
	return w
}

// LogPath is the output log of a step.
func (s *Session) LogPath(step string) string {
	return filepath.Join(RunDir(s.opt.StateDir, s.opt.Runbook.ID), "logs", step+".log")
}

type lineWriter struct {
	// tap splits the output into lines (the one line splitter, shared
	// with the actions) and calls emit with each, under its own lock.
	tap  LineTap
	step string
	red  *Redactor
	sink func(step, line string)
	log  *os.File
	// inKey: inside a PEM private key block, whose body lines carry no
	// marker of their own and are masked until its END line.
	inKey bool
}

// newLineWriter is a line writer with no log file yet.
func newLineWriter(step string, red *Redactor, sink func(step, line string)) *lineWriter {
	w := &lineWriter{step: step, red: red, sink: sink}
	w.tap.Fn = w.emit
	return w
}

func (w *lineWriter) Write(p []byte) (int, error) { return w.tap.Write(p) }

func (w *lineWriter) emit(line string) {
	raw := strings.TrimRight(line, "\r")
	isEnd := strings.Contains(raw, "-----END") && strings.Contains(raw, "PRIVATE KEY-----")
	switch {
	case w.inKey:
		if isEnd {
			w.inKey = false
		}
		raw = Mask
	case strings.Contains(raw, "-----BEGIN") && strings.Contains(raw, "PRIVATE KEY-----"):
		w.inKey = !isEnd
	}
	// Redacted first (a secret is matched as the program wrote it), then
	// made terminal-safe: the log, the journal's readers and the UI all
	// get text without escape sequences.
	line = termsafe.Line(w.red.String(raw))
	if w.log != nil {
		w.log.WriteString(line + "\n")
	}
	if w.sink != nil {
		w.sink(w.step, line)
	}
}

func (w *lineWriter) Close() error {
	w.tap.Flush()
	// Flush returns holding nothing; a late write from a killed child's
	// pipe finds the log closed and only reaches the sink.
	w.tap.mu.Lock()
	defer w.tap.mu.Unlock()
	if w.log != nil {
		err := w.log.Close()
		w.log = nil
		return err
	}
	return nil
}
