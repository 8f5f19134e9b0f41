package runbooks_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
)

// FuzzParse feeds the loader arbitrary bytes. Whatever comes in, Parse must
// return either a runbook that holds together or runbooks.Errors in which
// every error has a position, in file order. A panic inside Parse is turned
// into an error without a line, so this test catches those too.
//
// Seeds: every fixture under testdata/runbooks (valid and planted faults,
// the UTF-16/32 ones in encoded/ too) plus the inputs kept under
// testdata/fuzz/FuzzParse. Run it with
//
//	go test ./runbooks -run XXX -fuzz FuzzParse -fuzztime 3m
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	encoded, _ := filepath.Glob(filepath.Join(fixtureDir, "encoded", "*.yaml"))
	files = append(files, encoded...)
	guides := fstest.MapFS{}
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	mds, _ := filepath.Glob(filepath.Join(fixtureDir, "guides", "*.md"))
	for _, p := range mds {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// Both where `guides: guides` points and beside the runbook.
		guides["guides/"+filepath.Base(p)] = &fstest.MapFile{Data: src}
		guides[filepath.Base(p)] = &fstest.MapFile{Data: src}
	}
	guides["g.md"] = &fstest.MapFile{Data: []byte("# G\n\n## Part\n")}
	f.Add([]byte(mini(utcSchedule, "08:00-09:00", "")))
	reg := actions.Registry()

	f.Fuzz(func(t *testing.T, src []byte) {
		rb, err := runbooks.Parse(src, "fuzz.yaml", guides, runbooks.LoadOptions{Actions: reg})
		if err != nil {
			checkErrors(t, rb, err)
			return
		}
		checkRunbook(t, rb)
	})
}

func checkErrors(t *testing.T, rb *runbooks.Runbook, err error) {
	t.Helper()
	if rb != nil {
		t.Fatalf("a runbook and an error: %v", err)
	}
	var errs runbooks.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error of type %T, not runbooks.Errors: %v", err, err)
	}
	if len(errs) == 0 {
		t.Fatal("empty Errors")
	}
	for i, e := range errs {
		if e == nil {
			t.Fatalf("error %d is nil", i)
		}
		if e.Pos.File != "fuzz.yaml" || e.Pos.Line < 1 || e.Pos.Col < 1 {
			t.Fatalf("error without a position: %q (pos %+v)", e.Error(), e.Pos)
		}
		if strings.TrimSpace(e.Msg) == "" {
			t.Fatalf("error without a message at %s", e.Pos)
		}
		if i > 0 {
			a, b := errs[i-1].Pos, e.Pos
			if a.Line > b.Line || a.Line == b.Line && a.Col > b.Col {
				t.Fatalf("errors out of file order: %s before %s", a, b)
			}
		}
	}
}

func checkRunbook(t *testing.T, rb *runbooks.Runbook) {
	t.Helper()
	if rb == nil {
		t.Fatal("no runbook and no error")
	}
	if rb.ID == "" || rb.Title == "" || len(rb.Phases) == 0 || rb.Guides == nil || rb.Schedule.Location == nil {
		t.Fatalf("incomplete runbook accepted: %+v", rb)
	}
	ids := map[string]bool{}
	for i, p := range rb.Phases {
		if p.ID == "" || len(p.Steps) == 0 || !p.SlotEnd.After(p.SlotStart) {
			t.Fatalf("incomplete phase accepted: %+v", p)
		}
		if i > 0 && p.SlotStart.Before(rb.Phases[i-1].SlotEnd) {
			t.Fatalf("phase %s accepted out of order or overlapping", p.ID)
		}
		for _, s := range p.Steps {
			if s.ID == "" || ids[s.ID] || s.Budget <= 0 || s.Guide.File == "" {
				t.Fatalf("bad step accepted: %+v", s)
			}
			ids[s.ID] = true
			if _, err := runbooks.GuideSection(rb.Guides, s.Guide); err != nil {
				t.Fatalf("step %s: guide accepted but unreadable: %v", s.ID, err)
			}
			for _, list := range [][]runbooks.Action{s.Do, s.Verify, s.Undo} {
				for _, a := range list {
					if _, ok := a.Params.(steps.Action); !ok || a.Type == "" || a.Pos.Line < 1 {
						t.Fatalf("step %s: action %+v cannot run", s.ID, a)
					}
				}
			}
		}
	}
	for _, pp := range rb.Plan() {
		if pp.Overrun > 0 && !pp.Phase.OverrunAllowed {
			t.Fatalf("phase %s accepted %s past its slot", pp.Phase.ID, pp.Overrun)
		}
	}
	if rb.PlannedEnd().Before(rb.Schedule.Start) || rb.Schedule.Start.After(rb.Phases[0].SlotStart) {
		t.Fatalf("window ends before it starts, or starts after its first slot")
	}
}
