package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/actions"
)

// Every target the lab's profile sets is one the shipped runbook has, and
// every target of the shipped runbook is set: the wiring is the lab's
// whole knowledge of that runbook.
func TestWiringTargetsAreTheShippedRunbooks(t *testing.T) {
	w, err := LoadWiring()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := runbooks.LoadEmbedded(runbooks.Names()[0], runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, x := range w.Targets {
		have[x.Name] = true
	}
	for _, x := range rb.Targets {
		if !have[x.Name] {
			t.Errorf("the runbook's target %s is not in %s", x.Name, WiringFile)
		}
		delete(have, x.Name)
	}
	for n := range have {
		t.Errorf("%s sets target %s, which the runbook does not have", WiringFile, n)
	}
}

// fakePython writes an executable python3 into a new directory: one that
// cannot import pytest (as a pyenv build without it) or one that can.
func fakePython(t *testing.T, hasPytest bool) string {
	t.Helper()
	dir := t.TempDir()
	body := "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'pytest'\" >&2\nexit 1\n"
	if hasPytest {
		body = "#!/bin/sh\nexit 0\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "python3"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFindPythonSkipsOneWithoutPytest(t *testing.T) {
	without, with := fakePython(t, false), fakePython(t, true)
	got, err := FindPython(context.Background(), without+string(os.PathListSeparator)+with)
	if err != nil || got != filepath.Join(with, "python3") {
		t.Fatalf("FindPython = %q, %v; want the second python3 on PATH, %s", got, err, filepath.Join(with, "python3"))
	}
}

func TestFindPythonSaysWhatIsMissing(t *testing.T) {
	without := fakePython(t, false)
	got, err := FindPython(context.Background(), without)
	var pp *PythonProblem
	switch {
	case err == nil && got == filepath.Join(without, "python3"):
		t.Fatalf("a python3 without pytest was chosen")
	case err == nil:
		// A well-known interpreter of this machine has pytest: fine, as
		// long as it is one of them.
		if !strings.HasSuffix(got, "/python3") || !filepath.IsAbs(got) {
			t.Fatalf("FindPython = %q", got)
		}
	case !errors.As(err, &pp):
		t.Fatalf("err = %v, want a *PythonProblem", err)
	default:
		msg := err.Error()
		for _, want := range []string{filepath.Join(without, "python3") + ": ModuleNotFoundError: No module named 'pytest'", "apt-get install python3-pytest", "pip install pytest"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the error lacks %q:\n%s", want, msg)
			}
		}
	}
}
