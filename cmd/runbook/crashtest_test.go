package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The crash tests' fault hook is compiled only under the crashtest tag:
// the binary a user builds has no trace of it.
func TestReleaseBinaryHasNoCrashHook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release binary: not under -short")
	}
	rel := filepath.Join(t.TempDir(), "runbook")
	build := exec.Command("go", "build", "-o", rel, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
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
