//go:build !crashtest

package steps

// faultHook is empty in a release build: the crash tests' faults exist
// only under the crashtest build tag (see crashtest_on.go).
type faultHook struct{}

func (faultHook) apply(_ uint64, rec []byte) ([]byte, bool) { return rec, false }
