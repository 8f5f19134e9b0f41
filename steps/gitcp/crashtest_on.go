//go:build crashtest

package gitcp

// faultHook carries the crash tests' fault into a checkpoint. It exists
// only in builds with the crashtest tag.
type faultHook struct{ inCheckpoint func() }

func (h faultHook) checkpoint() {
	if h.inCheckpoint != nil {
		h.inCheckpoint()
	}
}

// WithCheckpointFault calls fn inside every checkpoint, after the new
// index is written to index.lock and before the branch moves: where a
// process killed by fn leaves a locked index and no commit (crashtest
// builds only).
func WithCheckpointFault(fn func()) Option {
	return func(c *config) { c.fault.inCheckpoint = fn }
}
