//go:build !crashtest

package main

import "github.com/runbook-dev/runbook/steps"

// crashHooks does nothing in a release build: the crash tests' faults
// exist only under the crashtest build tag (crash_crashtest.go).
func crashHooks(func(string) string, *steps.Options) error { return nil }
