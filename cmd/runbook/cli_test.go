package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/steptest"
)

// TestValidateFixtures runs the real binary on every planted-fault fixture:
// each must exit 1 and name every expected file:line:col.
func TestValidateFixtures(t *testing.T) {
	files, err := filepath.Glob("../../testdata/runbooks/*.yaml")
	if err != nil || len(files) < 20 {
		t.Fatalf("fixtures: %v (%d found)", err, len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, line := range strings.Split(string(src), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			r := runbook(t, nil, "validate", f)
			if name == "valid.yaml" {
				if r.code != 0 || !strings.Contains(r.out, "ok") {
					t.Fatalf("valid fixture: exit %d\n%s%s", r.code, r.out, r.err)
				}
				return
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no # want: line")
			}
			if r.code != exitFailed {
				t.Fatalf("exit %d, want 1\n%s", r.code, r.err)
			}
			for _, w := range wants {
				pos, msg, _ := strings.Cut(w, ": ")
				if want := f + ":" + pos + ": "; !strings.Contains(r.err, want) || !strings.Contains(r.err, msg) {
					t.Errorf("stderr lacks %q … %q:\n%s", want, msg, r.err)
				}
			}
		})
	}
}

// TestPlanJSONHasTheSeedBudgets checks the embedded runbook's plan against
// the seed's timeline, written out here by hand.
func TestPlanJSONHasTheSeedBudgets(t *testing.T) {
	r := runbook(t, nil, "plan", "--json")
	if r.code != 0 {
		t.Fatalf("plan --json: exit %d\n%s", r.code, r.err)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(r.out), &p); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{ // minutes, from the seed
		"item2": {5, 10, 10, 20, 15, 30},
		"item3": {30, 15, 5, 25, 30, 15},
		"item4": {60, 20, 10, 30, 45, 15},
		"final": {30, 30, 30, 30},
	}
	seen := 0
	for _, ph := range p.Phases {
		w, ok := want[ph.ID]
		if !ok {
			continue
		}
		seen++
		if len(ph.Steps) != len(w) {
			t.Fatalf("phase %s has %d steps, want %d", ph.ID, len(ph.Steps), len(w))
		}
		var sum int64
		for i, s := range ph.Steps {
			if s.BudgetSeconds != w[i]*60 {
				t.Errorf("%s step %d (%s): budget %ds, want %ds", ph.ID, i+1, s.ID, s.BudgetSeconds, w[i]*60)
			}
			sum += s.BudgetSeconds
			if len(s.Do) == 0 && !s.Manual {
				t.Errorf("%s has no do actions in the plan", s.ID)
			}
		}
		if ph.BudgetSeconds != sum {
			t.Errorf("phase %s budget %d, steps add up to %d", ph.ID, ph.BudgetSeconds, sum)
		}
	}
	if seen != len(want) {
		t.Fatalf("found %d of the seed's timed phases", seen)
	}
	// The window runs to 20:00 UTC, as the timeline does (not 18:00).
	if got := p.PlannedEnd.UTC().Format("15:04"); got != "20:00" {
		t.Errorf("planned end %s, want 20:00", got)
	}
}

// TestRollbackReplaysTheJournalBackwards: after a whole run, rollback undoes
// the steps latest first, each undo journaled and checkpointed.
func TestRollbackReplaysTheJournalBackwards(t *testing.T) {
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	if r := runbook(t, nil, e.args("run", "--confirm-manual")...); r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// To just before "after": confirm and after are undone, mark is not.
	r := runbook(t, nil, e.args("rollback", "--to", "after", "--confirm-manual")...)
	if r.code != 0 {
		t.Fatalf("rollback --to after: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if lines(t, filepath.Join(e.work, "marker")) != 1 {
		t.Fatal("rollback --to after undid the step before it")
	}
	st := e.status(t)
	got := []string{st.Steps[0].Status.String(), st.Steps[1].Status.String(), st.Steps[2].Status.String()}
	if strings.Join(got, ",") != "succeeded,undone,undone" {
		t.Fatalf("after rollback --to after: %v", got)
	}
	// Without --confirm-manual a manual undo would stop it; the fixture's
	// remaining step has a shell undo.
	r = runbook(t, nil, e.args("rollback", "--to", "start")...)
	if r.code != 0 {
		t.Fatalf("rollback --to start: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if lines(t, filepath.Join(e.work, "marker")) != 0 {
		t.Fatal("the marker step's undo did not run")
	}
	j := e.journal(t)
	order := []string{}
	for _, line := range strings.Split(j, "\n") {
		if strings.Contains(line, "k=undo.finished") {
			for _, id := range []string{"mark", "after", "confirm"} {
				if strings.Contains(line, "\ts="+id) {
					order = append(order, id)
				}
			}
		}
	}
	if strings.Join(order, ",") != "confirm,after,mark" {
		t.Fatalf("undo order %v, want confirm,after,mark", order)
	}
	if r := runbook(t, nil, e.args("rollback", "--to", "nope")...); r.code != exitUsage {
		t.Fatalf("rollback --to nope: exit %d", r.code)
	}
	log := git(t, e.work, "log", "--format=%s")
	if !strings.Contains(log, "runbook: mark ") || strings.Count(log, "undone") < 3 {
		t.Fatalf("undo checkpoints missing:\n%s", log)
	}
}

func TestPlanFromJournalProposesBudgets(t *testing.T) {
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	if r := runbook(t, nil, e.args("run", "--confirm-manual")...); r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	journal := filepath.Join(e.state, "crash-test", "journal")
	r := runbook(t, nil, "plan", "-f", e.fixture, "--json", "--from-journal", journal)
	if r.code != 0 {
		t.Fatalf("plan --from-journal: exit %d\n%s", r.code, r.err)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(r.out), &p); err != nil {
		t.Fatal(err)
	}
	for _, ph := range p.Phases {
		for _, s := range ph.Steps {
			if s.ActualSeconds == nil || s.ProposedSeconds == nil {
				t.Fatalf("%s: no actual or proposal: %+v", s.ID, s)
			}
			// Seconds of work propose the smallest budget, five minutes.
			if *s.ActualSeconds > 60 || *s.ProposedSeconds != 300 {
				t.Errorf("%s: actual %ds, proposed %ds", s.ID, *s.ActualSeconds, *s.ProposedSeconds)
			}
		}
	}
	r = runbook(t, nil, "plan", "-f", e.fixture, "--from-journal", journal)
	if !strings.Contains(r.out, "budget 5m, took ") || !strings.Contains(r.out, "→ propose 5m") {
		t.Fatalf("text plan lacks the proposals:\n%s", r.out)
	}
	if r := runbook(t, nil, "plan", "--from-journal", journal); r.code != exitUsage || !strings.Contains(r.err, `run of "crash-test"`) {
		t.Fatalf("journal of another runbook: exit %d %s", r.code, r.err)
	}
}

// TestDatabaseRunLockAcrossStateDirectories: two operators on two
// machines (two state directories) cannot drive one database at once.
func TestDatabaseRunLockAcrossStateDirectories(t *testing.T) {
	steptest.PostgresDSN(t) // the fixture's database target reads RUNBOOK_TEST_PGDSN
	fixture, _ := filepath.Abs("../../testdata/cli/dblock.yaml")
	work := t.TempDir()
	t.Cleanup(func() { os.WriteFile(filepath.Join(work, "release"), nil, 0o644) })
	args := func(state, op string) []string {
		return []string{"run", "--headless", "-f", fixture, "--state", filepath.Join(work, state), "--operator", op, "--target", "dir=" + work, "--date", "today"}
	}
	first := exec.Command(bin, args("state-a", "ana")...)
	first.Env = os.Environ()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		os.WriteFile(filepath.Join(work, "release"), nil, 0o644)
		first.Wait()
	}()
	waitFor(t, "the first operator's step", func() bool { return lines(t, filepath.Join(work, "marker")) == 1 })
	r := runbook(t, nil, args("state-b", "bob")...)
	if r.code != exitLocked || !strings.Contains(r.err, "held by another runbook session: ana on ") {
		t.Fatalf("second operator: exit %d, stderr %q; want exit 3 naming ana", r.code, r.err)
	}
	if lines(t, filepath.Join(work, "marker")) != 1 {
		t.Fatal("the refused operator ran the step")
	}
	os.WriteFile(filepath.Join(work, "release"), nil, 0o644)
	if err := first.Wait(); err != nil {
		t.Fatalf("first operator: %v", err)
	}
	// Released with the first process: now the second may run.
	if r := runbook(t, nil, args("state-b", "bob")...); r.code != 0 {
		t.Fatalf("second operator after the first ended: exit %d %s", r.code, r.err)
	}
}

func TestRollbackDryRunWritesNothing(t *testing.T) {
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	if r := runbook(t, nil, e.args("run", "--confirm-manual")...); r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	before := e.journal(t)
	r := runbook(t, nil, e.args("rollback", "--to", "start", "--dry-run")...)
	if r.code != 0 || !strings.Contains(r.out, "would undo 3 step(s)") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if e.journal(t) != before {
		t.Fatal("a dry run wrote to the journal")
	}
}
