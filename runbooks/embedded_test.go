package runbooks_test

import (
	"io/fs"
	"maps"
	"math"
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
	"github.com/runbook-dev/runbook/steps/docker"
	"github.com/runbook-dev/runbook/steps/pg"
	"github.com/runbook-dev/runbook/steps/shell"
	"github.com/runbook-dev/runbook/steps/web"
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
	{"item2", "08:05", "11:00", []wantStep{
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
// (Pulling the workspace has none: the pulled commits are the team's, and
// a rollback of the window leaves them.)
var wantUndo = []string{
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

// labTargets are target values as a rehearsal against the lab has them;
// the database password is a planted secret no plan view may show.
const probeSecret = "probe-secret-3f9a"

func planEnv(t *testing.T, rb *runbooks.Runbook) *steps.Env {
	t.Helper()
	red := steps.NewRedactor()
	getenv := func(k string) string {
		if k == "RUNBOOK_DB_DSN" {
			return "postgres://postgres:" + probeSecret + "@127.0.0.1:55433/app?sslmode=disable"
		}
		return ""
	}
	targets, _, err := steps.ResolveTargets(rb, nil, getenv, red)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app_url", "http_url", "https_url", "db", "docker", "project", "nginx_image", "workspace"} {
		if _, ok := targets[name]; !ok {
			t.Errorf("target %s has no value from its default or the environment", name)
		}
	}
	return &steps.Env{Targets: targets, Redact: red, Workspace: "/srv/staging"}
}

// describe is what `runbook plan` prints for an action: its Describe,
// redacted.
func describe(env *steps.Env, a runbooks.Action) string {
	return env.Redact.String(a.Params.(steps.Action).Describe(env))
}

// Every ${target.NAME} an action uses must name a declared target, so no
// run fails on a typo halfway through the day, and no plan view shows the
// database password.
func TestEmbeddedPhase1TargetRefs(t *testing.T) {
	rb := loadPhase1(t)
	env := planEnv(t, rb)
	shells := 0
	for _, s := range rb.Steps() {
		env.Step = s.ID
		for _, list := range [][]runbooks.Action{s.Do, s.Verify, s.Undo} {
			for _, a := range list {
				if ex, ok := a.Params.(*shell.Exec); ok {
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
				}
				d := describe(env, a)
				if strings.Contains(d, "${target.") {
					t.Errorf("step %s, %s at %s: plan view has an unresolved target: %s", s.ID, a.Type, a.Pos, d)
				}
				if strings.Contains(a.Params.(steps.Action).Describe(env), probeSecret) {
					t.Errorf("step %s, %s at %s: Describe shows the database password", s.ID, a.Type, a.Pos)
				}
			}
		}
	}
	if shells == 0 {
		t.Fatal("no shell actions found: the environment checks are gone")
	}
}

// What each step of Items 2-4 and the final verification is, for the
// automation rule below. Every step of those phases is in exactly one
// class, so a new step has to be classified before it can ship.
var (
	// They change the stack or the workspace: automated do, verify and
	// undo.
	changeSteps = []string{
		"item2-generate-certificates", "item2-nginx-configuration", "item2-update-compose",
		"item3-create-migrations", "item3-update-compose", "item3-run-migrations",
		"item4-create-templates", "item4-tests-integrate",
	}
	// They check the stack: every do action is an automated check, and a
	// verify re-checks. Nothing to undo.
	checkSteps = []string{
		"item2-test-https-redirects", "item2-performance-validation", "item2-commit-verification",
		"item3-verify-extensions", "item3-test-application", "item3-commit-verification",
		"item4-testing-validation", "item4-commit-verification",
		"final-test-suite", "final-performance-validation", "final-security-verification",
	}
	// People write code or a report: the do is manual, the verify is
	// automated, and code is undone by restoring the step's files.
	workSteps = []string{"item4-create-secret-manager", "item4-refactor-config", "final-summary-commits"}
	// Of those, the steps whose undo must restore code.
	codeSteps = []string{"item4-create-secret-manager", "item4-refactor-config"}
)

func automated(list []runbooks.Action) (n, manual int) {
	for _, a := range list {
		if a.Type == "manual" {
			manual++
		} else {
			n++
		}
	}
	return n, manual
}

// Issue 3, acceptance 2: every step of Items 2-4 and the final
// verification that changes or checks the stack does it with automated
// actions.
func TestEmbeddedPhase1Automation(t *testing.T) {
	rb := loadPhase1(t)
	class := map[string]string{}
	for _, c := range []struct {
		name string
		ids  []string
	}{{"change", changeSteps}, {"check", checkSteps}, {"work", workSteps}} {
		for _, id := range c.ids {
			if prev, dup := class[id]; dup {
				t.Errorf("step %s is in two classes: %s and %s", id, prev, c.name)
			}
			class[id] = c.name
		}
	}
	seen := map[string]bool{}
	for _, p := range rb.Phases {
		if p.ID != "item2" && p.ID != "item3" && p.ID != "item4" && p.ID != "final" {
			continue
		}
		for _, s := range p.Steps {
			seen[s.ID] = true
			do, doManual := automated(s.Do)
			verify, verifyManual := automated(s.Verify)
			undo, undoManual := automated(s.Undo)
			if verify == 0 || verifyManual > 0 {
				t.Errorf("step %s: verify has %d automated and %d manual actions, want at least one, all automated", s.ID, verify, verifyManual)
			}
			switch class[s.ID] {
			case "change":
				// People's part of a change step (writing the tests of
				// Item 4) may come first; everything after it is automated.
				if do == 0 {
					t.Errorf("change step %s: do has no automated action", s.ID)
				}
				for i, a := range s.Do {
					if a.Type == "manual" && i > 0 && s.Do[i-1].Type != "manual" {
						t.Errorf("change step %s: manual action at %s comes after automated ones: the automation must not stop halfway", s.ID, a.Pos)
					}
				}
				if undo == 0 || undoManual > 0 {
					t.Errorf("change step %s: undo has %d automated and %d manual actions, want all automated", s.ID, undo, undoManual)
				}
			case "check":
				if do == 0 || doManual > 0 {
					t.Errorf("check step %s: do has %d automated and %d manual actions, want all automated", s.ID, do, doManual)
				}
				if len(s.Undo) > 0 {
					t.Errorf("check step %s has undo actions: a check changes nothing", s.ID)
				}
			case "work":
				if doManual == 0 {
					t.Errorf("work step %s has no manual action: if it is automated now, move it to another class", s.ID)
				}
			default:
				t.Errorf("step %s of phase %s is in no class: say whether it changes the stack, checks it, or is people's work", s.ID, p.ID)
			}
			// The interim automation shelled out to docker and curl; the
			// stack is now reached through the typed actions only.
			for _, list := range [][]runbooks.Action{s.Do, s.Verify, s.Undo} {
				for _, a := range list {
					if ex, ok := a.Params.(*shell.Exec); ok && len(ex.Argv) > 0 && (ex.Argv[0] == "docker" || ex.Argv[0] == "curl") {
						t.Errorf("step %s at %s shells out to %s: use the docker/web actions", s.ID, a.Pos, ex.Argv[0])
					}
				}
			}
		}
	}
	for id := range class {
		if !seen[id] {
			t.Errorf("classified step %s is not in Items 2-4 or the final verification", id)
		}
	}
	for _, id := range codeSteps {
		pi, si, _ := rb.StepRef(id)
		s := rb.Phases[pi].Steps[si]
		if n, m := automated(s.Undo); n == 0 || m > 0 || s.Undo[0].Type != "git.restore" {
			t.Errorf("code step %s: undo should restore the step's files with git.restore, found %d automated, %d manual", id, n, m)
		}
	}
}

// The plan view shows each operation concretely: the container and API
// call, the compose change, the SQL, the URL and what is expected of it,
// the files written. One expectation per action, in order, for the steps
// that touch the stack.
func TestEmbeddedPhase1PlanIsConcrete(t *testing.T) {
	rb := loadPhase1(t)
	env := planEnv(t, rb)
	want := map[string][]string{
		"item2-generate-certificates": {
			"generate a self-signed CA (nginx/certs/ca.crt, secrets/ca.key) and a server certificate (nginx/certs/server.crt, nginx/certs/server.key) for localhost, 127.0.0.1",
			"nginx/certs/server.key exists, mode 0600", "secrets/ca.key exists, mode 0600",
			"openssl verify -CAfile nginx/certs/ca.crt nginx/certs/server.crt", "-checkend 2592000",
			"git check-ignore --quiet nginx/certs/server.key", "git check-ignore --quiet secrets/ca.key",
			"remove the certificate files cert.generate wrote",
		},
		"item2-nginx-configuration": {
			"render template nginx/tls.conf.tmpl to nginx/conf.d/default.conf (mode 0644)",
			"TLSv1\\.2", "301", "server_tokens",
			"restore nginx/conf.d/default.conf",
		},
		"item2-update-compose": {
			`edit compose file docker-compose.staging.yml: set services.app.ports = ["127.0.0.1:8001:8000"]; set services.nginx.image = "nginx:1.27-alpine"`,
			"-f docker-compose.staging.yml -p rblab up -d app nginx",
			"wait until service rblab/app is healthy (poll GET /containers/{id}/json)",
			"wait until service rblab/nginx is running",
			"inspect service rblab/nginx (GET /containers/{id}/json) and check running, ports 8080:80 8443:443",
			"ports 127.0.0.1:8001:8000",
			"exec nginx -t in service rblab/nginx (POST /containers/{id}/exec)",
			"then docker compose (or docker-compose) --ansi never -f docker-compose.staging.yml -p rblab up -d --remove-orphans app",
			"wait until service rblab/app is healthy",
			"find service rblab/nginx (GET /containers/json, by compose labels), expect 0",
		},
		"item2-test-https-redirects": {
			"GET http://localhost:8080/health, expect status 301; Location = https://localhost:8443/health",
			"TLS to https://localhost:8443, expect handshake; TLS ≥ 1.2 (older refused); chain verified against nginx/certs/ca.crt; SANs include localhost, 127.0.0.1",
			"GET https://localhost:8443/health, expect status 2xx; security headers Strict-Transport-Security",
			"6 × POST https://localhost:8443/api/auth/login, expect requests 1–5 not 429",
			"11 × GET https://localhost:8443/api/transcribe/status",
			"31 × GET https://localhost:8443/api/jobs",
			"GET https://localhost:8443/health, expect status 200",
		},
		"item2-performance-validation": {
			"200 × GET https://localhost:8443/health at concurrency 4, and 200 × http://localhost:8001/health as baseline; expect P95 < 100ms, overhead (P50) < 5ms",
			"GET https://localhost:8443/health",
		},
		"item3-create-migrations": {
			"to db/migrations/001_security_extensions.up.sql", "to db/migrations/001_security_extensions.down.sql",
			"create extension if not exists", "create extension if not exists", "drop extension if exists",
			"restore db/migrations/001_security_extensions.down.sql", "restore db/migrations/001_security_extensions.up.sql",
		},
		"item3-update-compose": {
			`set services.db.command = ["postgres","-c","shared_preload_libraries=pgaudit","-c","pgaudit.log=ddl,write"]`,
			"-p rblab up -d db", "service rblab/db is healthy", "service rblab/app is healthy",
			"inspect service rblab/db", "shared_preload_libraries contains pgaudit; pgaudit.log = 'ddl,write'",
			"GET http://localhost:8001/health",
			"-p rblab up -d db", "service rblab/db is healthy", "service rblab/app is healthy",
		},
		"item3-run-migrations": {
			"migrate up to the newest version on target db (postgres://postgres:" + steps.Mask + "@127.0.0.1:55433/app?sslmode=disable) with migrations from db/migrations",
			"extension pgcrypto is installed", "extension pgaudit is installed",
			"migrate down to the version saved by this step's do", "DROP TABLE runbook_schema_version",
			"extension pgaudit is absent", "extension pgcrypto is absent",
		},
		"item3-verify-extensions": {
			"pgcrypto", "pgaudit", "pgaudit.log = 'ddl,write'",
			"SELECT pgp_sym_decrypt(pgp_sym_encrypt($1, $2), $2)",
			"CREATE TABLE runbook_audit_probe (id int);\nDROP TABLE runbook_audit_probe;",
			"read logs of service rblab/db since the step began (GET /containers/{id}/logs), expect at least 1 line(s) matching /AUDIT: SESSION",
			"pgcrypto", "pgaudit",
		},
		"item4-create-templates": {
			"render template env/app.env.tmpl to .env.staging.example",
			".env.staging.example exists, content matching", ".env.staging.example exists, no content matching",
			"git check-ignore --quiet secrets/db_password", "git check-ignore --quiet .env",
			"restore .env.staging.example",
		},
		"item4-tests-integrate": {
			"operator:",
			"generate 64-char hex secret into secrets/db_password (mode 0600, value never shown)",
			"generate 64-char base64url secret into secrets/secret_key",
			"exec psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE SCHEMA IF NOT EXISTS runbook_rotation;",
			"remove services.db.environment.POSTGRES_PASSWORD;",
			"-p rblab up -d db", "service rblab/db is healthy",
			"\\set pw `cat /run/secrets/db_password`\nALTER ROLE postgres PASSWORD :",
			"-p rblab up -d app", "service rblab/app is healthy",
			"restart service rblab/nginx (POST /containers/{id}/restart)", "service rblab/nginx is running",
			"secrets/db_password exists, mode 0600", "secrets/secret_key exists, mode 0600",
			"env set DB_PASSWORD_FILE SECRET_KEY_FILE, env unset DB_PASSWORD SECRET_KEY",
			"env set POSTGRES_PASSWORD_FILE, env unset POSTGRES_PASSWORD",
			"password from secrets/db_password",
			"GET https://localhost:8443/config",
			"GET https://localhost:8443/health",
			"EXECUTE format('\\''ALTER ROLE %I PASSWORD %L'\\'', r.rolname, r.rolpassword)",
			"then docker compose (or docker-compose) --ansi never -f docker-compose.staging.yml -p rblab up -d db app",
			"service rblab/db is healthy", "service rblab/app is healthy",
			"restart service rblab/nginx", "service rblab/nginx is running",
			"remove the secret secrets/secret_key", "remove the secret secrets/db_password",
		},
		"final-security-verification": {
			"security headers", "POST https://localhost:8443/api/auth/login", "/api/transcribe/status",
			"61 × GET https://localhost:8443/api/videos", "/api/jobs",
			"Location = https://localhost:8443/health", "TLS ≥ 1.2",
			"extension pgcrypto", "extension pgaudit", "pgaudit.log",
			"env unset DB_PASSWORD SECRET_KEY", "env unset POSTGRES_PASSWORD", "/config",
			"scan every workspace file", "GET https://localhost:8443/health",
		},
	}
	for id, parts := range want {
		pi, si, ok := rb.StepRef(id)
		if !ok {
			t.Errorf("no step %s", id)
			continue
		}
		s := rb.Phases[pi].Steps[si]
		env.Step = id
		var got []string
		for _, list := range [][]runbooks.Action{s.Do, s.Verify, s.Undo} {
			for _, a := range list {
				got = append(got, describe(env, a))
			}
		}
		if len(got) != len(parts) {
			t.Errorf("step %s: %d actions, the test expects %d:\n%s", id, len(got), len(parts), strings.Join(got, "\n"))
			continue
		}
		for i, p := range parts {
			if !strings.Contains(got[i], p) {
				t.Errorf("step %s, action %d: plan view\n  %s\ndoes not show %q", id, i+1, got[i], p)
			}
		}
	}
}

// The seed's thresholds and tiers are in the actions, not only in the
// guides.
func TestEmbeddedPhase1SeedChecks(t *testing.T) {
	rb := loadPhase1(t)
	probes := 0
	for _, id := range []string{"item2-performance-validation", "final-performance-validation"} {
		pi, si, _ := rb.StepRef(id)
		for _, a := range rb.Phases[pi].Steps[si].Do {
			p, ok := a.Params.(*web.LatencyProbe)
			if !ok {
				continue
			}
			probes++
			if p.P95Max != "100ms" || p.OverheadMax != "5ms" || p.Baseline == nil || p.Baseline.Target != "app_url" || p.Target != "https_url" {
				t.Errorf("step %s: latency probe %+v, want https_url against app_url, P95 < 100ms, overhead < 5ms", id, p)
			}
		}
	}
	if probes != 2 {
		t.Errorf("%d latency probes, want one in each performance step", probes)
	}

	pi, si, _ := rb.StepRef("final-security-verification")
	final := rb.Phases[pi].Steps[si]
	tiers := map[string]int{}
	var headers, redirect bool
	ext := map[string]bool{}
	envAbsent := map[string]bool{}
	for _, a := range final.Do {
		switch p := a.Params.(type) {
		case *web.RateLimitCheck:
			tiers[p.Path] = p.Limit
			if p.Target != "https_url" || p.CAFile != "nginx/certs/ca.crt" {
				t.Errorf("rate-limit check of %s goes to %s (CA %q), want https_url trusting nginx/certs/ca.crt", p.Path, p.Target, p.CAFile)
			}
		case *web.HTTPCheck:
			headers = headers || (p.SecurityHeaders && p.Target == "https_url")
			redirect = redirect || (p.Status == 301 && p.Target == "http_url" && strings.HasPrefix(p.Redirect, "${target.https_url}"))
		case *pg.Extension:
			ext[p.Name] = p.PasswordFile == "secrets/db_password"
		case *docker.Assert:
			for _, e := range p.EnvAbsent {
				envAbsent[e] = true
			}
		}
	}
	wantTiers := map[string]int{"/api/auth/login": 5, "/api/transcribe/status": 10, "/api/videos": 60, "/api/jobs": 30}
	if !maps.Equal(tiers, wantTiers) {
		t.Errorf("final rate-limit tiers = %v, want %v (auth 5, transcription 10, data 60, jobs 30 per minute)", tiers, wantTiers)
	}
	if !headers || !redirect {
		t.Errorf("final verification: security headers over HTTPS checked %v, redirect to https_url checked %v", headers, redirect)
	}
	if !ext["pgcrypto"] || !ext["pgaudit"] {
		t.Errorf("final verification: extensions checked with the rotated password: %v", ext)
	}
	for _, e := range []string{"DB_PASSWORD", "SECRET_KEY", "POSTGRES_PASSWORD"} {
		if !envAbsent[e] {
			t.Errorf("final verification does not assert %s is out of the containers' environment", e)
		}
	}

	// After Item 4's rotation the db target's password is stale: every
	// database action from then on reads the new one from the secret
	// file.
	after := false
	for _, s := range rb.Steps() {
		for _, list := range [][]runbooks.Action{s.Do, s.Verify} {
			for _, a := range list {
				var c *pg.Conn
				switch p := a.Params.(type) {
				case *pg.Exec:
					c = &p.Conn
				case *pg.Query:
					c = &p.Conn
				case *pg.Settings:
					c = &p.Conn
				case *pg.Extension:
					c = &p.Conn
				case *pg.Migrate:
					c = &p.Conn
				case *pg.Set:
					c = &p.Conn
				}
				if c != nil && after && c.PasswordFile != "secrets/db_password" {
					t.Errorf("step %s, %s at %s connects with the db target's password after the rotation: set password_file: secrets/db_password", s.ID, a.Type, a.Pos)
				}
			}
		}
		if s.ID == "item4-tests-integrate" {
			after = true
		}
	}
}

// The seed's rubric: 70 before the window, rising item by item, 100 when
// every check of the day has passed (target 95).
func TestEmbeddedPhase1Score(t *testing.T) {
	rb := loadPhase1(t)
	run := steps.NewRun()
	at := time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)
	succeed := func(id string) {
		t.Helper()
		for _, k := range []steps.EventKind{steps.EvStepStarted, steps.EvStepSucceeded} {
			at = at.Add(time.Second)
			if _, err := run.Apply(steps.Event{Kind: k, Step: id, At: at, Seq: run.LastSeq + 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	score := func() float64 { return steps.ComputeScore(rb, run).Total }
	if got := score(); math.Abs(got-70) > 1e-9 {
		t.Fatalf("score before the window = %.2f, want 70", got)
	}
	for _, c := range []struct {
		phase string
		want  float64
	}{
		{"item2", 79},  // transport 40 -> 100
		{"item3", 94},  // data 50 -> 100, audit 50 -> 100
		{"item4", 100}, // secrets 60 -> 100
	} {
		for _, p := range rb.Phases {
			if p.ID == c.phase {
				for _, s := range p.Steps {
					succeed(s.ID)
				}
			}
		}
		if got := score(); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("score after %s = %.2f, want %.0f", c.phase, got, c.want)
		}
	}
	if sc := steps.ComputeScore(rb, run); !sc.Met() || sc.Target != 95 {
		t.Errorf("score %.2f against target %d: met = %v", sc.Total, sc.Target, sc.Met())
	}
	// The final verification alone proves every area.
	run = steps.NewRun()
	succeed("final-security-verification")
	if got := score(); got != 100 {
		t.Errorf("score after the final verification alone = %.2f, want 100", got)
	}
}
