// Package steptest holds small helpers that tests of several packages
// (the engine's action families, the CLI, the loader) share, so each is
// written once: a buffer safe for concurrent writers, and the test
// PostgreSQL (a database of the test's own). Only tests import it.
package steptest

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer safe for concurrent writers (an action's output,
// a child process's stdout) that a test reads while or after they write.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset forgets everything written so far.
func (s *Buffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}
