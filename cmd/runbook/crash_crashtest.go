//go:build crashtest

package main

import (
	"strconv"

	"github.com/runbook-dev/runbook/steps"
)

// crashHooks arms the crash tests' faults from the environment. Only a
// binary built with -tags crashtest (the tests build it so) has them:
// RUNBOOK_CRASH_AT_RECORD=N dies in the middle of writing record N.
func crashHooks(getenv func(string) string, opt *steps.Options) error {
	if f := getenv("RUNBOOK_CRASH_AT_RECORD"); f != "" {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return usagef("RUNBOOK_CRASH_AT_RECORD=%q: not a record number", f)
		}
		opt.SetJournalFault(crashAt(n))
	}
	return nil
}

// crashAt writes half of record n, syncs it, and kills the process: the
// torn record a power cut would leave.
func crashAt(n uint64) func(seq uint64, rec []byte) ([]byte, bool) {
	return func(seq uint64, rec []byte) ([]byte, bool) {
		if seq != n {
			return rec, false
		}
		return rec[:len(rec)/2], true
	}
}
