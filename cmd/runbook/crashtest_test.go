package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The crash tests' fault hook is compiled only under the crashtest tag:
// the binary a user builds has no trace of it.
func TestReleaseBinaryHasNoCrashHook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release binary: not under -short")
	}
	rel := releaseBin(t)
	for path, want := range map[string]bool{rel: false, bin: true} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, []byte("RUNBOOK_CRASH_AT_RECORD")); got != want {
			t.Errorf("%s holds the crash hook: %v; want %v", filepath.Base(filepath.Dir(path)), got, want)
		}
	}
}
