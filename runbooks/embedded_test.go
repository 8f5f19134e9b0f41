package runbooks_test

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/runbook-dev/runbook/assets"
	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/steps/shell"
)

const phase1 = "phase1-security-hardening"

// The window as the planning summary for 24 October 2025 lays it out:
// slots in UTC, and per step the minutes of its line in the timeline.
// Item 4's offsets are hours:minutes ("0:00-1:00" is 60). The preparation
// steps other than the four 30-minute readings have no figure in the plan:
// their budgets are the runbook's own estimate, chosen so the phase fills
// 05:30-08:00.
type wantStep struct {
	id  string
	min int
}

type wantPhase struct {
	id         string
	start, end string // HH:MM on 2025-10-24 UTC
	steps      []wantStep
}

var wantPhases = []wantPhase{
	{"prep", "05:30", "08:00", []wantStep{
		{"prep-read-quick-reference", 30},
		{"prep-read-item2-guide", 30},
		{"prep-read-item3-guide", 30},
		{"prep-read-item4-guide", 30},
		{"prep-verify-environment", 10},      // estimate
		{"prep-pull-workspace", 5},           // estimate
		{"prep-run-test-suite", 10},          // estimate
		{"prep-check-staging-containers", 5}, // estimate
	}},
	{"kickoff", "08:00", "08:05", []wantStep{
		{"kickoff-final-preparations", 5},
	}},
	{"item2", "08:00", "11:00", []wantStep{
		{"item2-generate-certificates", 5},
		{"item2-nginx-configuration", 10},
		{"item2-update-compose", 10},
		{"item2-test-https-redirects", 20},
		{"item2-performance-validation", 15},
		{"item2-commit-verification", 30},
	}},
	{"item3", "11:00", "14:00", []wantStep{
		{"item3-create-migrations", 30},
		{"item3-update-compose", 15},
		{"item3-run-migrations", 5},
		{"item3-verify-extensions", 25},
		{"item3-test-application", 30},
		{"item3-commit-verification", 15},
	}},
	{"item4", "14:00", "18:00", []wantStep{
		{"item4-create-secret-manager", 60},
		{"item4-refactor-config", 20},
		{"item4-create-templates", 10},
		{"item4-tests-integrate", 30},
		{"item4-testing-validation", 45},
		{"item4-commit-verification", 15},
	}},
	{"final", "18:00", "20:00", []wantStep{
		{"final-test-suite", 30},
		{"final-performance-validation", 30},
		{"final-security-verification", 30},
		{"final-summary-commits", 30},
	}},
}

// Steps that change the workspace or the stack: each must say how to undo.
var wantUndo = []string{
	"prep-pull-workspace",
	"item2-generate-certificates",
	"item2-nginx-configuration",
	"item2-update-compose",
	"item3-create-migrations",
	"item3-update-compose",
	"item3-run-migrations",
	"item4-create-secret-manager",
	"item4-refactor-config",
	"item4-create-templates",
	"item4-tests-integrate",
}

func loadPhase1(t *testing.T) *runbooks.Runbook {
	t.Helper()
	rb, err := runbooks.LoadEmbedded(phase1, runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatalf("LoadEmbedded(%s): %v", phase1, err)
	}
	return rb
}

func utc(t *testing.T, hhmm string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02 15:04", "2025-10-24 "+hhmm)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEmbeddedNames(t *testing.T) {
	names := runbooks.Names()
	if !slices.Contains(names, phase1) {
		t.Fatalf("Names() = %v, want it to contain %s", names, phase1)
	}
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	reg := actions.Registry()
	for _, n := range names {
		rb, err := runbooks.LoadEmbedded(n, runbooks.LoadOptions{Actions: reg})
		if err != nil {
			t.Errorf("LoadEmbedded(%s): %v", n, err)
			continue
		}
		if rb.ID != n {
			t.Errorf("runbook file %s.yaml has id %q: file name and id must agree", n, rb.ID)
		}
		if _, err := fs.Stat(runbooks.Embedded(), n+".yaml"); err != nil {
			t.Errorf("Embedded() lacks %s.yaml: %v", n, err)
		}
	}
}

func TestEmbeddedUnknownName(t *testing.T) {
	_, err := runbooks.LoadEmbedded("no-such-runbook", runbooks.LoadOptions{Actions: actions.Registry()})
	if err == nil {
		t.Fatal("LoadEmbedded of an unknown name succeeded")
	}
	if !strings.Contains(err.Error(), `"no-such-runbook"`) || !strings.Contains(err.Error(), phase1) {
		t.Errorf("error %q should name the unknown runbook and the built-in ones", err)
	}
}

func TestEmbeddedGuidesOption(t *testing.T) {
	// A caller's guide directory replaces the shipped one: an empty one
	// leaves every guide reference dangling.
	empty := fstest.MapFS{"other.md": {Data: []byte("# Other\n")}}
	_, err := runbooks.LoadEmbedded(phase1, runbooks.LoadOptions{Actions: actions.Registry(), Guides: empty})
	errs, ok := err.(runbooks.Errors)
	if !ok {
		t.Fatalf("LoadEmbedded with an empty guide dir: err = %v, want runbooks.Errors", err)
	}
	if !strings.Contains(errs[0].Error(), "guide file") || errs[0].Pos.Line == 0 {
		t.Errorf("first error %q should be a positioned missing-guide error", errs[0])
	}
}

func TestEmbeddedPhase1Schedule(t *testing.T) {
	rb := loadPhase1(t)
	if rb.Schedule.Date != "2025-10-24" || rb.Schedule.Location.String() != "UTC" {
		t.Errorf("schedule = %s %s, want 2025-10-24 UTC", rb.Schedule.Date, rb.Schedule.Location)
	}
	if !rb.Schedule.Start.Equal(utc(t, "05:30")) {
		t.Errorf("planned start = %s, want 05:30 UTC", rb.Schedule.Start)
	}
	var got []string
	for _, p := range rb.Phases {
		got = append(got, p.ID)
	}
	var want []string
	for _, p := range wantPhases {
		want = append(want, p.id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("phases = %v, want %v", got, want)
	}
	for i, w := range wantPhases {
		p := rb.Phases[i]
		if !p.SlotStart.Equal(utc(t, w.start)) || !p.SlotEnd.Equal(utc(t, w.end)) {
			t.Errorf("phase %s slot = %s-%s, want %s-%s", p.ID,
				p.SlotStart.Format("15:04"), p.SlotEnd.Format("15:04"), w.start, w.end)
		}
	}
	// Every phase's steps fit their slot, and the day ends when the last
	// slot does.
	for _, pp := range rb.Plan() {
		if pp.Overrun > 0 {
			t.Errorf("phase %s runs %s past its slot (steps end %s)", pp.Phase.ID, pp.Overrun, pp.End.Format("15:04"))
		}
	}
	if end := rb.PlannedEnd(); !end.Equal(utc(t, "20:00")) {
		t.Errorf("planned end = %s, want 20:00 UTC", end.Format("15:04"))
	}
}

func TestEmbeddedPhase1Budgets(t *testing.T) {
	rb := loadPhase1(t)
	if len(rb.Phases) != len(wantPhases) {
		t.Fatalf("%d phases, want %d", len(rb.Phases), len(wantPhases))
	}
	var total, fromEight time.Duration
	for i, w := range wantPhases {
		p := rb.Phases[i]
		var ids []string
		for _, s := range p.Steps {
			ids = append(ids, s.ID)
		}
		var wantIDs []string
		var phaseMin int
		for _, ws := range w.steps {
			wantIDs = append(wantIDs, ws.id)
			phaseMin += ws.min
		}
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("phase %s steps = %v, want %v", w.id, ids, wantIDs)
			continue
		}
		for j, ws := range w.steps {
			if got := p.Steps[j].Budget; got != time.Duration(ws.min)*time.Minute {
				t.Errorf("step %s budget = %s, want %d min", ws.id, got, ws.min)
			}
		}
		if got := p.Budget(); got != time.Duration(phaseMin)*time.Minute {
			t.Errorf("phase %s budget = %s, want %d min", w.id, got, phaseMin)
		}
		total += p.Budget()
		if w.id != "prep" {
			fromEight += p.Budget()
		}
	}
	// The day's sums, written out from the plan: Items 2-4 are 6.5 hours of
	// work (90 + 120 + 180 min), the final verification 2 hours, the
	// kickoff 5 minutes, the preparation 2.5 hours.
	if want := 8*time.Hour + 35*time.Minute; fromEight != want {
		t.Errorf("budget from 08:00 = %s, want %s", fromEight, want)
	}
	if want := 11*time.Hour + 5*time.Minute; rb.TotalBudget() != want || total != want {
		t.Errorf("total budget = %s (sum %s), want %s", rb.TotalBudget(), total, want)
	}
}

func TestEmbeddedPhase1Guides(t *testing.T) {
	rb := loadPhase1(t)
	for _, s := range rb.Steps() {
		sec, err := runbooks.GuideSection(rb.Guides, s.Guide)
		if err != nil {
			t.Errorf("step %s: %v", s.ID, err)
			continue
		}
		lines := strings.Split(strings.TrimSpace(sec), "\n")
		if len(lines) < 3 {
			t.Errorf("step %s: guide section %s is nearly empty: %q", s.ID, s.Guide, sec)
			continue
		}
		if strings.HasPrefix(lines[0], "# ") {
			continue // a whole guide, read in the preparation phase
		}
		for _, h := range []string{"### What to do", "### What runbook does", "### Verify", "### Undo"} {
			if !strings.Contains(sec, "\n"+h+"\n") {
				t.Errorf("step %s: guide section %s has no %q part", s.ID, s.Guide, h)
			}
		}
	}
}

func TestEmbeddedGuidesFitTerminal(t *testing.T) {
	guides := assets.Guides()
	files, err := fs.Glob(guides, "*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no guides: %v", err)
	}
	for _, f := range files {
		src, err := fs.ReadFile(guides, f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if n := utf8.RuneCountInString(line); n > 80 {
				t.Errorf("%s:%d is %d columns wide; guides must read on an 80-column terminal", f, i+1, n)
			}
		}
	}
}

func TestEmbeddedPhase1Facts(t *testing.T) {
	rb := loadPhase1(t)
	qr, err := fs.ReadFile(rb.Guides, "quick-reference.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(qr)
	for _, want := range []string{
		// the thresholds
		"P95 under 100 ms", "under 5 ms",
		// the eight headers
		"Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options",
		"X-XSS-Protection", "Content-Security-Policy", "Referrer-Policy",
		"Permissions-Policy", "`Server`, masked",
		// the rate-limit tiers
		"| auth          | 5 per minute", "| transcription | 10 per minute",
		"| data          | 60 per minute", "| jobs          | 30 per minute",
		// the score
		"| API security        | 100", "| Transport security  | 40",
		"| Data security       | 50", "| Secrets management  | 60",
		"| Audit logging       | 50", "**70**", "95 target",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("quick reference lacks %q", want)
		}
	}
}

func TestEmbeddedPhase1Undo(t *testing.T) {
	rb := loadPhase1(t)
	for _, id := range wantUndo {
		pi, si, ok := rb.StepRef(id)
		if !ok {
			t.Errorf("no step %s", id)
			continue
		}
		s := rb.Phases[pi].Steps[si]
		if len(s.Undo) == 0 {
			t.Errorf("step %s changes the stack or workspace but has no undo", id)
		}
		if s.UndoBudget <= 0 || s.UndoBudget > s.Budget {
			t.Errorf("step %s undo budget = %s, want within (0, %s]", id, s.UndoBudget, s.Budget)
		}
	}
	// A verify action must be automatic: a manual one cannot verify.
	for _, s := range rb.Steps() {
		for _, a := range s.Verify {
			if a.Type == "manual" {
				t.Errorf("step %s: verify holds a manual action at %s", s.ID, a.Pos)
			}
		}
	}
}

// Every ${target.NAME} a shell action uses must name a declared target, so
// no run fails on a typo halfway through the day.
func TestEmbeddedPhase1TargetRefs(t *testing.T) {
	rb := loadPhase1(t)
	red := steps.NewRedactor()
	getenv := func(k string) string {
		if k == "RUNBOOK_DB_DSN" {
			return "postgres://postgres:probe-secret@db.invalid:5432/app"
		}
		return ""
	}
	targets, _, err := steps.ResolveTargets(rb, nil, getenv, red)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app_url", "http_url", "https_url", "db", "docker", "workspace"} {
		if _, ok := targets[name]; !ok {
			t.Errorf("target %s has no value from its default or the environment", name)
		}
	}
	env := &steps.Env{Targets: targets, Redact: red}
	shells := 0
	for _, s := range rb.Steps() {
		for _, list := range [][]runbooks.Action{s.Do, s.Verify, s.Undo} {
			for _, a := range list {
				ex, ok := a.Params.(*shell.Exec)
				if !ok {
					continue
				}
				shells++
				vals := slices.Clone(ex.Argv)
				for _, v := range ex.Env {
					vals = append(vals, v)
				}
				for _, v := range vals {
					if _, err := env.Expand(v); err != nil {
						t.Errorf("step %s, %s at %s: %v", s.ID, a.Name, a.Pos, err)
					}
				}
				if d := ex.Describe(env); strings.Contains(d, "probe-secret") {
					t.Errorf("step %s: plan view shows the database password: %s", s.ID, d)
				}
			}
		}
	}
	if shells == 0 {
		t.Fatal("no shell actions found: the environment checks are gone")
	}
}
