//go:build !linux

package gitcp

// gitRunningIn cannot tell on this system: it says yes, so no git lock
// file is ever cleared here.
func gitRunningIn(string) bool { return true }
