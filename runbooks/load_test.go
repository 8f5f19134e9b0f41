package runbooks_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf16"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/steps/shell"
)

// fixtureDir holds the valid runbook and the planted-fault fixtures. Each
// fault fixture says in its header what the loader must report:
//
//	# want: LINE:COL: fragment of the message
//
// one line per expected error, in file order.
const fixtureDir = "../testdata/runbooks"

// faultClasses must each have a fixture: removing one fails the test.
var faultClasses = []string{
	"syntax-error",
	"unknown-key-top", "unknown-key-schedule", "unknown-key-phase", "unknown-key-step", "unknown-key-target", "unknown-key-action",
	"wrong-type-string", "wrong-type-number", "wrong-type-bool", "wrong-type-list", "wrong-type-params",
	"duplicate-step-id", "duplicate-phase-id", "duplicate-yaml-key",
	"bad-duration", "zero-budget", "negative-budget",
	"bad-slot", "bad-slot-time", "bad-date", "unknown-timezone",
	"missing-guide-file", "missing-guide-anchor",
	"unknown-action-type", "two-action-types", "action-without-type", "shell-missing-argv", "manual-without-prompt",
	"missing-step-budget", "missing-runbook-title",
	"unknown-target-kind",
	"several-faults",
	// References: targets, placeholders, steps.
	"unknown-target-pg", "unknown-target-typo", "unknown-target-tls", "unknown-default-target",
	"placeholder-unknown-target", "placeholder-unclosed", "placeholder-not-expanded", "placeholder-in-sql",
	"target-kind-mismatch", "restore-missing-step",
	// Schedule and budgets.
	"slot-empty", "slot-empty-first", "slot-reversed", "slot-reversed-late",
	"phases-out-of-order", "phases-out-of-order-next-day", "phases-overlap", "phases-overlap-by-a-minute",
	"start-after-first-slot", "start-after-first-slot-later", "single-digit-hour", "single-digit-hour-end",
	"budget-longer-than-slot", "budget-longer-than-slot-by-a-minute", "budgets-past-slot", "budgets-past-slot-pushed", "overrun-bad-value",
	"timezone-empty", "timezone-blank", "timezone-local",
	// Values.
	"guide-empty", "guide-empty-anchor-only", "float-where-whole", "float-where-whole-params", "huge-integer", "target-default-kind",
	// Encoding and limits.
	"invalid-utf8", "nul-byte", "control-bytes", "control-escapes", "unknown-tag", "unknown-tag-in-params",
	"encoded/utf16le-bom", "encoded/utf16be-bom", "encoded/utf32le-bom", "encoded/utf16le-no-bom",
	"alias-missing-anchor", "alias-expansion", "alias-expansion-shared", "deep-nesting-flow", "deep-nesting-block",
	"did-you-mean-keys",
	// Approvals and notifications.
	"approval-bad-count", "approval-unknown-key", "approval-bad-reason",
	"notify-bad-url", "notify-unknown-event", "notify-url-and-env",
}

var wantRE = regexp.MustCompile(`^# want: (\d+):(\d+): (.+)$`)

type wantErr struct {
	line, col int
	msg       string
}

func fixtureWants(t *testing.T, path string) []wantErr {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []wantErr
	for _, l := range strings.Split(fixtureText(src), "\n") {
		if !strings.HasPrefix(l, "# want:") {
			continue
		}
		m := wantRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s: malformed want line %q", path, l)
		}
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		out = append(out, wantErr{line, col, m[3]})
	}
	return out
}

// fixtureText is a fixture's text for reading its header: the fixtures
// under encoded/ are UTF-16 or UTF-32 on purpose.
func fixtureText(src []byte) string {
	switch {
	case bytes.HasPrefix(src, []byte{0xFF, 0xFE, 0, 0}):
		var rs []rune
		for i := 4; i+3 < len(src); i += 4 {
			rs = append(rs, rune(binary.LittleEndian.Uint32(src[i:])))
		}
		return string(rs)
	case bytes.HasPrefix(src, []byte{0xFF, 0xFE}), bytes.HasPrefix(src, []byte{0xFE, 0xFF}), len(src) > 1 && src[1] == 0:
		var order binary.ByteOrder = binary.LittleEndian
		if src[0] == 0xFE {
			order = binary.BigEndian
		}
		start := 2
		if src[1] == 0 {
			start = 0 // no byte order mark
		}
		u := make([]uint16, 0, len(src)/2)
		for i := start; i+1 < len(src); i += 2 {
			u = append(u, order.Uint16(src[i:]))
		}
		return string(utf16.Decode(u))
	}
	return string(src)
}

func loadFixture(name string) (*runbooks.Runbook, error) {
	return runbooks.Load(os.DirFS(fixtureDir), name, runbooks.LoadOptions{Actions: actions.Registry()})
}

func TestLoadFaultFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	encoded, _ := filepath.Glob(filepath.Join(fixtureDir, "encoded", "*.yaml"))
	files = append(files, encoded...)
	have := map[string]bool{}
	for _, f := range files {
		name, _ := filepath.Rel(fixtureDir, f)
		name = filepath.ToSlash(name)
		have[strings.TrimSuffix(name, ".yaml")] = true
		if name == "valid.yaml" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			wants := fixtureWants(t, f)
			if len(wants) == 0 {
				t.Fatal("fixture has no '# want:' line")
			}
			rb, err := loadFixture(name)
			if err == nil {
				t.Fatalf("loaded without error: %s", rb.ID)
			}
			var errs runbooks.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not runbooks.Errors: %v", err, err)
			}
			if rb != nil {
				t.Error("a runbook came back with the errors")
			}
			if len(errs) != len(wants) {
				t.Fatalf("%d errors, want %d:\n%v", len(errs), len(wants), err)
			}
			for i, w := range wants {
				e := errs[i]
				pos := name + ":" + strconv.Itoa(w.line) + ":" + strconv.Itoa(w.col)
				if e.Pos.String() != pos || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d:\n got %s\nwant %s: %s…", i+1, e, pos, w.msg)
				}
			}
			// The whole message names every position, one per line.
			if n := strings.Count(err.Error(), "\n") + 1; n != len(wants) {
				t.Errorf("message has %d lines for %d errors", n, len(wants))
			}
		})
	}
	for _, c := range faultClasses {
		if !have[c] {
			t.Errorf("no fixture for fault class %s", c)
		}
	}
}

func TestLoadSeveralFaultsInFileOrder(t *testing.T) {
	_, err := loadFixture("several-faults.yaml")
	var errs runbooks.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("%v", err)
	}
	if len(errs) < 7 {
		t.Fatalf("%d errors; the fixture plants 7:\n%v", len(errs), err)
	}
	for i := 1; i < len(errs); i++ {
		a, b := errs[i-1].Pos, errs[i].Pos
		if a.Line > b.Line || a.Line == b.Line && a.Col > b.Col {
			t.Errorf("error %d (%s) before error %d (%s): not in file order", i, a, i+1, b)
		}
	}
	// Kinds that are found in different passes (syntax of values, ids,
	// action types, guides) all appear in the one report.
	for _, want := range []string{"unknown key", "time zone", "duplicate phase id", "not a positive duration", "no heading with anchor", "unknown action type", "missing required key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestLoadValidFixture(t *testing.T) {
	rb, err := loadFixture("valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	at := func(h, m int) time.Time { return time.Date(2025, 10, 24, h, m, 0, 0, time.UTC) }
	if rb.ID != "fixture-window" || rb.Title != "Fixture change window" || rb.Source != "valid.yaml" {
		t.Errorf("runbook %q %q %q", rb.ID, rb.Title, rb.Source)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(rb.Digest) {
		t.Errorf("digest %q", rb.Digest)
	}
	if rb.Schedule.Date != "2025-10-24" || rb.Schedule.Location != time.UTC || !rb.Schedule.Start.Equal(at(8, 0)) {
		t.Errorf("schedule %+v", rb.Schedule)
	}
	if len(rb.Targets) != 2 {
		t.Fatalf("targets %+v", rb.Targets)
	}
	db, web := rb.Targets[0], rb.Targets[1]
	if db.Name != "db" || db.Kind != runbooks.TargetPostgres || db.Env != "FIXTURE_PGDSN" || !db.Secret || db.Description == "" || db.Pos.String() != "valid.yaml:11:3" {
		t.Errorf("target db %+v", db)
	}
	if web.Name != "web" || web.Kind != runbooks.TargetURL || web.Default != "http://127.0.0.1:8001" || web.Secret {
		t.Errorf("target web %+v", web)
	}
	if len(rb.Phases) != 2 {
		t.Fatalf("phases %d", len(rb.Phases))
	}
	prep, change := rb.Phases[0], rb.Phases[1]
	if prep.ID != "prep" || prep.Checkpoint || !prep.SlotStart.Equal(at(8, 0)) || !prep.SlotEnd.Equal(at(9, 0)) || prep.Slot() != time.Hour || prep.Pos.String() != "valid.yaml:20:5" {
		t.Errorf("phase prep %+v", prep)
	}
	if !change.Checkpoint {
		t.Error("checkpoint is not on by default")
	}
	read := prep.Steps[0]
	if read.ID != "read-guide" || read.Budget != 30*time.Minute || read.Guide.String() != "prep.md#read-the-guide" ||
		len(read.Checklist) != 2 || read.Checklist[1] != "questions noted" || !read.Manual() || read.Pos.String() != "valid.yaml:25:9" {
		t.Errorf("step read-guide %+v", read)
	}
	if m, ok := read.Do[0].Params.(*steps.Manual); !ok || m.Prompt != "Read the guide and note questions." {
		t.Errorf("manual params %#v", read.Do[0].Params)
	}
	apply := change.Steps[0]
	if apply.Budget != 10*time.Minute || apply.UndoBudget != 5*time.Minute || apply.Timeout != time.Minute || apply.Retries != 2 || apply.Manual() {
		t.Errorf("step apply %+v", apply)
	}
	if len(apply.Do) != 1 || apply.Do[0].Type != "shell" || apply.Do[0].Name != "show the tool version" || apply.Do[0].Pos.String() != "valid.yaml:48:13" {
		t.Errorf("do %+v", apply.Do)
	}
	if ex, ok := apply.Do[0].Params.(*shell.Exec); !ok || strings.Join(ex.Argv, " ") != "true --version" {
		t.Errorf("shell params %#v", apply.Do[0].Params)
	}
	if ex, ok := apply.Verify[0].Params.(*shell.Exec); !ok || ex.Argv[0] != "true" {
		t.Errorf("verify params %#v", apply.Verify[0].Params)
	}
	if len(apply.Undo) != 1 {
		t.Errorf("undo %+v", apply.Undo)
	}
	confirm := change.Steps[1]
	if confirm.Guide.File != "change.md" || confirm.Guide.Anchor != "" || !confirm.Manual() || confirm.UndoBudget != 0 {
		t.Errorf("step confirm %+v", confirm)
	}
	sec, err := runbooks.GuideSection(rb.Guides, apply.Guide)
	if err != nil || !strings.HasPrefix(sec, "## Apply the change\n") || strings.Contains(sec, "## Undo") {
		t.Errorf("guide section %q, %v", sec, err)
	}
	if pi, si, ok := rb.StepRef("confirm"); !ok || pi != 1 || si != 1 {
		t.Errorf("StepRef %d %d %v", pi, si, ok)
	}
	if _, _, ok := rb.StepRef("nope"); ok {
		t.Error("StepRef found a missing step")
	}
	if n := len(rb.Steps()); n != 3 {
		t.Errorf("%d steps", n)
	}
	if tg, ok := rb.Target("web"); !ok || tg.Name != "web" {
		t.Error("Target web")
	}
}

// parse loads runbook source with the guides given, through the shipped
// action registry.
func parse(t *testing.T, src string, guides fstest.MapFS) (*runbooks.Runbook, error) {
	t.Helper()
	if guides == nil {
		guides = fstest.MapFS{"g.md": {Data: []byte("# G\n\n## Part\n")}}
	}
	return runbooks.Parse([]byte(src), "rb.yaml", nil, runbooks.LoadOptions{Actions: actions.Registry(), Guides: guides})
}

// mini is a minimal valid runbook; %s parts are replaced by the tests.
func mini(schedule, slot, stepExtra string) string {
	return `id: mini
title: Mini
schedule:
` + schedule + `
phases:
  - id: p
    title: P
    slot: "` + slot + `"
    steps:
      - id: s
        title: S
        budget: 5m
        guide: g.md#part
` + stepExtra
}

const utcSchedule = "  date: \"2025-10-24\"\n  timezone: UTC"

func TestParseSchedule(t *testing.T) {
	t.Run("start defaults to the first slot", func(t *testing.T) {
		rb, err := parse(t, mini(utcSchedule, "08:30-09:00", ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2025, 10, 24, 8, 30, 0, 0, time.UTC); !rb.Schedule.Start.Equal(want) {
			t.Fatalf("start %v", rb.Schedule.Start)
		}
	})
	t.Run("a slot past midnight ends the next day", func(t *testing.T) {
		rb, err := parse(t, mini(utcSchedule, "22:00-02:00+1", ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p := rb.Phases[0]; p.Slot() != 4*time.Hour || p.SlotEnd.Day() != 25 {
			t.Fatalf("slot %v–%v", p.SlotStart, p.SlotEnd)
		}
	})
	t.Run("times are in the schedule's zone", func(t *testing.T) {
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
				t.Fatal("no time zone data (install tzdata):", err)
			}
			t.Skip("no time zone data (RUNBOOK_REQUIRE_SERVICES unset, so not a failure):", err)
		}
		rb, err := parse(t, mini("  date: \"2025-10-24\"\n  timezone: Europe/Berlin\n  start: \"07:45\"", "08:00-09:00", ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2025, 10, 24, 8, 0, 0, 0, berlin); !rb.Phases[0].SlotStart.Equal(want) || rb.Schedule.Location.String() != "Europe/Berlin" {
			t.Fatalf("slot start %v", rb.Phases[0].SlotStart)
		}
		if rb.Schedule.Start.UTC().Hour() != 5 {
			t.Fatalf("start %v", rb.Schedule.Start)
		}
	})
	t.Run("a byte order mark and CRLF line ends", func(t *testing.T) {
		src := "\ufeff" + strings.ReplaceAll(mini(utcSchedule, "08:00-09:00", ""), "\n", "\r\n")
		rb, err := parse(t, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rb.ID != "mini" || rb.Phases[0].Steps[0].Title != "S" {
			t.Fatalf("id %q title %q", rb.ID, rb.Phases[0].Steps[0].Title)
		}
	})
	t.Run("an unquoted date and times", func(t *testing.T) {
		rb, err := parse(t, strings.Replace(mini("  date: 2025-10-24\n  timezone: UTC\n  start: 08:00", "08:00-09:00", ""), `slot: "08:00-09:00"`, "slot: 08:00-09:00", 1), nil)
		if err != nil {
			t.Fatal(err)
		}
		if rb.Schedule.Date != "2025-10-24" || rb.Schedule.Start.Hour() != 8 {
			t.Fatalf("schedule %+v", rb.Schedule)
		}
	})
}

func TestParseUndoBudgetDefault(t *testing.T) {
	for _, tt := range []struct {
		budget string
		want   time.Duration
	}{
		{"30m", 10 * time.Minute}, // a third of the budget
		{"90s", time.Minute},      // at least a minute
	} {
		src := strings.Replace(mini(utcSchedule, "08:00-09:00", "        undo:\n          - shell: {argv: [\"true\"]}\n"), "budget: 5m", "budget: "+tt.budget, 1)
		rb, err := parse(t, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := rb.Phases[0].Steps[0].UndoBudget; got != tt.want {
			t.Errorf("budget %s: undo budget %s; want %s", tt.budget, got, tt.want)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name, src, want string
		one             bool // exactly one error
	}{
		{"a slot of one dash", mini(utcSchedule, "-", ""), `rb.yaml:9:11: slot "-" must be HH:MM-HH:MM`, true},
		{"a slot with no end", mini(utcSchedule, "08:00-", ""), `slot "08:00-" must be HH:MM-HH:MM`, true},
		{"an empty slot", strings.Replace(mini(utcSchedule, "x", ""), `slot: "x"`, "slot:", 1), "rb.yaml:9:10: slot must be a string, found nothing", true},
		{"empty file", "", "rb.yaml:1:1: expected exactly one YAML document", true},
		{"only a comment", "# nothing\n", "rb.yaml:1:1: expected exactly one YAML document", true},
		{"two documents", mini(utcSchedule, "08:00-09:00", "") + "---\nid: two\n", "expected exactly one YAML document", true},
		{"a list at the top", "- id: x\n", "rb.yaml:1:1: runbook must be a mapping, found a list", true},
		{"a string at the top", "hello\n", "runbook must be a mapping, found a string", true},
		{"no phases", "id: x\ntitle: X\nschedule: {date: \"2025-10-24\", timezone: UTC}\nphases: []\n", "rb.yaml:4:9: a runbook needs at least one phase", true},
		{"a phase without steps", strings.SplitAfter(mini(utcSchedule, "08:00-09:00", ""), "steps:")[0] + " []\n", `phase "p" has no steps`, true},
		{"a bad id", strings.Replace(mini(utcSchedule, "08:00-09:00", ""), "id: s\n", "id: Step One\n", 1), `step id "Step One" must be lowercase`, true},
		{"guides outside the runbook", "guides: ../elsewhere\n" + mini(utcSchedule, "08:00-09:00", ""), "rb.yaml:1:9: guides must be a directory inside", true},
		{"guide not markdown", strings.Replace(mini(utcSchedule, "08:00-09:00", ""), "g.md#part", "notes.txt#part", 1), `guide "notes.txt#part" must name a markdown file`, true},
		{"retries out of range", mini(utcSchedule, "08:00-09:00", "        retries: 5000\n"), "retries must be between 0 and 999", true},
		{"a target env that is no variable name", "targets:\n  db:\n    kind: postgres\n    env: PG DSN\n" + mini(utcSchedule, "08:00-09:00", ""), `"PG DSN" is not an environment variable name`, true},
		{"a target without kind", "targets:\n  db:\n    env: PGDSN\n" + mini(utcSchedule, "08:00-09:00", ""), `target db is missing required key "kind"`, true},
		{"an alias", "x: &t Mini\n" + strings.Replace(mini(utcSchedule, "08:00-09:00", ""), "title: Mini", "title: *t", 1), "rb.yaml:3:8: title must be a string, found an alias (aliases are not supported", false},
		{"a flow action with two types", mini(utcSchedule, "08:00-09:00", "        do:\n          - {shell: {argv: [a]}, manual: {prompt: b}}\n"), "action has two types", true},
		{"params that are not a mapping", mini(utcSchedule, "08:00-09:00", "        do:\n          - shell: [a, b]\n"), "parameters of shell must be a mapping, found a list", true},
		{"a bad regexp in params", mini(utcSchedule, "08:00-09:00", "        do:\n          - shell: {argv: [a], expect_output: \"(\"}\n"), "shell: expect_output:", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 && tt.one {
				t.Errorf("%d errors for one fault:\n%v", n, err)
			}
			var errs runbooks.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("%T: %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got\n%v\nwant a line with %q", err, tt.want)
			}
		})
	}
}

func TestParseNeedsActionTypes(t *testing.T) {
	_, err := runbooks.Parse([]byte(mini(utcSchedule, "08:00-09:00", "")), "rb.yaml", nil, runbooks.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "Actions is required") {
		t.Fatalf("%v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := runbooks.Load(os.DirFS(fixtureDir), "nope.yaml", runbooks.LoadOptions{Actions: actions.Registry()})
	if err == nil || !strings.Contains(err.Error(), "read runbook nope.yaml") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%v", err)
	}
}

func TestParseDigestFollowsSource(t *testing.T) {
	a, err := parse(t, mini(utcSchedule, "08:00-09:00", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parse(t, mini(utcSchedule, "08:00-09:00", "")+"# a comment changes the digest\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := parse(t, mini(utcSchedule, "08:00-09:00", ""), nil)
	if a.Digest == b.Digest || a.Digest != c.Digest {
		t.Fatalf("digests %s %s %s", a.Digest, b.Digest, c.Digest)
	}
}

// TestParseLimits: what is too large, too many or too deep is refused with
// a position, and the largest allowed is accepted.
func TestParseLimits(t *testing.T) {
	deepParams := func(levels int) string {
		var b strings.Builder
		b.WriteString("        do:\n          - compose.edit:\n              file: c.yml\n              patch:\n")
		indent := "                "
		for i := 0; i < levels; i++ {
			fmt.Fprintf(&b, "%sx-%d:\n", indent, i)
			indent += "  "
		}
		b.WriteString(indent + "v: 1\n")
		return b.String()
	}
	// The runbook, its phases, steps and do list, the action and its
	// parameters and the patch take 9 levels.
	if _, err := parse(t, mini(utcSchedule, "08:00-09:00", deepParams(runbooks.MaxDepth-9)), nil); err != nil {
		t.Fatalf("the deepest allowed nesting is refused: %v", err)
	}
	for _, tt := range []struct{ name, src, want string }{
		{"one level deeper", mini(utcSchedule, "08:00-09:00", deepParams(runbooks.MaxDepth-8)), "rb.yaml:75:129: nested more than 64 deep"},
		{"10,000 deep in flow style", mini(utcSchedule, "08:00-09:00", "        do:\n          - shell: {argv: "+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+"}\n"), "rb.yaml:16:90: nested more than 64 deep"},
		{"too large", mini(utcSchedule, "08:00-09:00", "") + strings.Repeat("# pad\n", runbooks.MaxSize/6), "rb.yaml:1:1: the runbook is 513 KiB; the limit is 512 KiB"},
		{"too many tokens", mini(utcSchedule, "08:00-09:00", "        do:\n          - shell: {argv: ["+strings.Repeat("a,", runbooks.MaxTokens/2)+"a]}\n"), "the runbook has more than 40000 YAML tokens"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant %q", err, tt.want)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("%d errors for one fault", n)
			}
		})
	}
	t.Run("an oversize file is not read", func(t *testing.T) {
		big := fstest.MapFS{"big.yaml": {Data: bytes.Repeat([]byte("#"), runbooks.MaxSize+1)}}
		_, err := runbooks.Load(big, "big.yaml", runbooks.LoadOptions{Actions: actions.Registry()})
		if err == nil || !strings.Contains(err.Error(), "big.yaml:1:1: the runbook is 513 KiB; the limit is 512 KiB") {
			t.Fatalf("%v", err)
		}
	})
}

// TestParseAliasInParameters: an alias inside action parameters resolves
// against an anchor anywhere before it in the file.
func TestParseAliasInParameters(t *testing.T) {
	src := mini(utcSchedule, "08:00-09:00", `        do:
          - shell: {argv: &check [test, -s, certs/server.crt], env: &env {LC_ALL: C}}
        verify:
          - shell: {argv: *check, env: *env}
          - docker.exec:
              container: app
              <<: {argv: *check}
`)
	rb, err := parse(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rb.Phases[0].Steps[0]
	v := s.Verify[0].Params.(*shell.Exec)
	if strings.Join(v.Argv, " ") != "test -s certs/server.crt" || v.Env["LC_ALL"] != "C" {
		t.Fatalf("verify %+v", v)
	}
}

// TestParseOverrunAllowed: a phase that says it may run late loads, and its
// plan shows the overrun.
func TestParseOverrunAllowed(t *testing.T) {
	src := strings.Replace(mini(utcSchedule, "08:00-08:30", ""), "    slot: \"08:00-08:30\"\n", "    slot: \"08:00-08:30\"\n    overrun: allowed\n", 1)
	src = strings.Replace(src, "budget: 5m", "budget: 45m", 1)
	rb, err := parse(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rb.Phases[0].OverrunAllowed {
		t.Fatal("overrun: allowed not read")
	}
	if o := rb.Plan()[0].Overrun; o != 15*time.Minute {
		t.Fatalf("overrun %s", o)
	}
	if _, err := parse(t, strings.Replace(src, "overrun: allowed", "overrun: refused", 1), nil); err == nil || !strings.Contains(err.Error(), "budget 45m is longer than phase \"p\"'s whole slot") {
		t.Fatalf("refused overrun: %v", err)
	}
}
