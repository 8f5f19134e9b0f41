//go:build crashtest

package steps

// faultHook carries the crash tests' faults. It exists only in builds
// with the crashtest tag (the tests that kill the binary build it so); a
// release build has an empty hook and no way to set one.
type faultHook struct {
	record func(seq uint64, rec []byte) ([]byte, bool)
}

func (h faultHook) apply(seq uint64, rec []byte) ([]byte, bool) {
	if h.record == nil {
		return rec, false
	}
	return h.record(seq, rec)
}

// SetJournalFault makes the session's journal call fn with each encoded
// record before it is written (crashtest builds only). fn may return a
// shorter record and ask to die: the journal then writes it, syncs it and
// kills the process as a power cut would.
func (o *Options) SetJournalFault(fn func(seq uint64, rec []byte) (out []byte, die bool)) {
	o.fault.record = fn
}
