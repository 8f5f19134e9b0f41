//go:build !crashtest

package gitcp

// faultHook is empty in a release build (see crashtest_on.go).
type faultHook struct{}

func (faultHook) checkpoint() {}
