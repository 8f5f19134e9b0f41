package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
)

func TestVersionFromBuildInfo(t *testing.T) {
	r := runbook(t, nil, "--version")
	if r.code != 0 || !strings.HasPrefix(r.out, "runbook ") {
		t.Fatalf("--version: exit %d, %q %q", r.code, r.out, r.err)
	}
	// What the toolchain recorded in this binary is what --version says.
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`build\tvcs.revision=([0-9a-f]{12})`).FindSubmatch(out); m != nil {
		if !strings.Contains(r.out, "commit "+string(m[1])) {
			t.Fatalf("--version %q does not name the commit %s", r.out, m[1])
		}
	} else if !strings.Contains(r.out, "no commit recorded") {
		t.Fatalf("no vcs.revision in the binary, yet --version says %q", r.out)
	}
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			"v1.2.3 (commit 0123456789ab-modified, 2026-11-30T10:00:00Z, go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			"(devel) (commit abc, go1.26.8)"},
		{debug.BuildInfo{Main: debug.Module{}}, "(devel) (no commit recorded)"},
	} {
		if got := formatVersion(&tc.bi); got != tc.want {
			t.Errorf("formatVersion = %q, want %q", got, tc.want)
		}
	}
}

func TestHelpListsTheCommands(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := runbook(t, nil, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d %s", args, r.code, r.err)
		}
		for _, want := range []string{"Available Commands:", "plan ", "run ", "status ", "report ", "rollback ", "validate ", "lab ", "completion ", "Exit codes:", "--state DIR", "--target NAME=VALUE", "--version"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("%v lacks %q:\n%s", args, want, r.out)
			}
		}
		if strings.Contains(r.out, "Usage of") {
			t.Errorf("%v prints the flag package's usage:\n%s", args, r.out)
		}
	}
	// Boolean flags take no value in help: `--headless` alone, not
	// `--headless runbook`.
	r := runbook(t, nil, "run", "--help")
	if r.code != 0 {
		t.Fatalf("run --help: exit %d", r.code)
	}
	for _, flag := range []string{"--headless", "--confirm-manual", "--take-over", "--rehearsal", "--debug"} {
		m := regexp.MustCompile(`(?m)^\s+` + flag + `\s{2,}\S`).FindString(r.out)
		if m == "" {
			t.Errorf("run --help shows %s with a value:\n%s", flag, r.out)
		}
	}
	if !strings.Contains(r.out, "--step ID") || !strings.Contains(r.out, "--date YYYY-MM-DD") {
		t.Errorf("run --help lacks the value names:\n%s", r.out)
	}
}

func TestTypoSuggestsTheCommand(t *testing.T) {
	for _, tc := range []struct{ typed, want string }{{"plna", "plan"}, {"stauts", "status"}, {"rolback", "rollback"}} {
		r := runbook(t, nil, tc.typed)
		if r.code != exitUsage || !strings.Contains(r.err, `unknown command "`+tc.typed+`"`) || !strings.Contains(r.err, "Did you mean this?\n\t"+tc.want+"\n") {
			t.Errorf("%s: exit %d, stderr:\n%s", tc.typed, r.code, r.err)
		}
	}
}

// TestFlagsBeforeOrAfterTheCommand: the shared flags work on either side.
func TestFlagsBeforeOrAfterTheCommand(t *testing.T) {
	e := newCrashEnv(t)
	before := runbook(t, nil, "--state", e.state, "-f", e.fixture, "--target", "dir="+e.work, "plan", "--json")
	after := runbook(t, nil, "plan", "--json", "--state", e.state, "-f", e.fixture, "--target", "dir="+e.work)
	if before.code != 0 || after.code != 0 {
		t.Fatalf("exit %d / %d\n%s%s", before.code, after.code, before.err, after.err)
	}
	if before.out != after.out || !strings.Contains(before.out, `"runbook": "crash-test"`) {
		t.Fatalf("flags before the command gave another plan:\n%s\n---\n%s", before.out, after.out)
	}
	r := runbook(t, nil, "--state", e.state, "-f", e.fixture, "status", "--json")
	if r.code != 0 || !strings.Contains(r.out, `"journal": "`+filepath.Join(e.state, "crash-test", "journal")+`"`) {
		t.Fatalf("--state before status: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

func TestExtraArgumentsAreRefused(t *testing.T) {
	e := newCrashEnv(t)
	for _, args := range [][]string{
		{"plan", "extra-arg"},
		{"status", "extra-arg"},
		{"report", "extra-arg"},
		{"run", "--headless", "extra-arg"},
		{"rollback", "--to", "start", "extra-arg"},
		{"lab", "down", "extra-arg"},
	} {
		r := runbook(t, nil, append(args, "-f", e.fixture, "--state", e.state)...)
		if r.code != exitUsage || !strings.Contains(r.err, `unexpected argument "extra-arg"`) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming the argument", args, r.code, r.err)
		}
	}
	if _, err := os.Stat(e.state); err == nil {
		t.Error("a refused command line wrote state")
	}
}

func TestTargetValuesAreCheckedAgainstTheirKind(t *testing.T) {
	state := t.TempDir()
	for _, tc := range []struct {
		value string
		want  []string
		hide  string
	}{
		{"app_url=notaurl", []string{"app_url=notaurl", "app_url is a url target", "http or https URL"}, ""},
		{"app_url=ftp://host/x", []string{"app_url is a url target"}, ""},
		{"docker=localhost", []string{"docker is a docker target", "unix:///var/run/docker.sock"}, ""},
		{"db=postgres://u:hunter2@host:notaport/x", []string{"db is a postgres target", "db=" + steps.Mask}, "hunter2"},
	} {
		r := runbook(t, nil, "plan", "--state", state, "--target", tc.value)
		if r.code != exitUsage {
			t.Errorf("--target %s: exit %d, want 2\n%s", tc.value, r.code, r.err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.err, w) {
				t.Errorf("--target %s: stderr lacks %q: %s", tc.value, w, r.err)
			}
		}
		if tc.hide != "" && strings.Contains(r.err, tc.hide) {
			t.Errorf("--target %s: the secret value is shown: %s", tc.value, r.err)
		}
	}
	r := runbook(t, nil, "plan", "--state", state, "--target", "app_url=https://staging.example.org:8443", "--target", "docker=tcp://10.0.0.2:2376",
		"--target", "db=postgres://app@db.example.org:5432/app")
	if r.code != 0 || !strings.Contains(r.out, "https://staging.example.org:8443") {
		t.Fatalf("good values refused: exit %d\n%s", r.code, r.err)
	}
}

func TestCompletions(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_runbook", "zsh": "#compdef runbook", "fish": "complete -c runbook"} {
		r := runbook(t, nil, "completion", shell)
		if r.code != 0 || !strings.Contains(r.out, want) {
			t.Errorf("completion %s: exit %d, no %q in the script", shell, r.code, want)
		}
	}
	e := newCrashEnv(t)
	complete := func(args ...string) []string {
		t.Helper()
		r := runbook(t, nil, append([]string{"__complete"}, args...)...)
		if r.code != 0 {
			t.Fatalf("__complete %v: exit %d %s", args, r.code, r.err)
		}
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
			if strings.HasPrefix(line, ":") {
				continue // the directive
			}
			id, _, _ := strings.Cut(line, "\t")
			ids = append(ids, id)
		}
		return ids
	}
	got := strings.Join(complete("rollback", "-f", e.fixture, "--to", ""), ",")
	if got != "start,one,mark,after,two,confirm" {
		t.Errorf("rollback --to completes %q, want start, the phases and the steps", got)
	}
	// Flags before the command count too.
	if got := strings.Join(complete("-f", e.fixture, "rollback", "--to", "af"), ","); !strings.Contains(got, "after") {
		t.Errorf("-f before rollback: --to completes %q", got)
	}
	if got := strings.Join(complete("run", "-f", e.fixture, "--step", ""), ","); got != "mark,after,confirm" {
		t.Errorf("run --step completes %q", got)
	}
	if got := complete("--runbook", ""); strings.Join(got, ",") != strings.Join(runbooks.Names(), ",") {
		t.Errorf("--runbook completes %v, want %v", got, runbooks.Names())
	}
	if got := strings.Join(complete("plan", "-f", e.fixture, "--state", e.state, "--target", ""), ","); got != "dir=" {
		t.Errorf("--target completes %q, want dir=", got)
	}
	// A profile in the state directory is offered too.
	os.MkdirAll(filepath.Join(e.state, "profiles"), 0o700)
	os.WriteFile(ProfilePath(e.state, "staging"), []byte("target.dir=/srv\n"), 0o600)
	if got := strings.Join(complete("plan", "-f", e.fixture, "--state", e.state, "--target", ""), ","); got != "dir=,staging" {
		t.Errorf("--target completes %q, want dir= and the profile", got)
	}
	if got := complete("sta"); strings.Join(got, ",") != "status" {
		t.Errorf("commands complete %v", got)
	}
}

func TestRollbackToUnknownListsTheIDs(t *testing.T) {
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	if r := runbook(t, nil, e.args("run", "--confirm-manual")...); r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	before := e.journal(t)
	for _, extra := range [][]string{nil, {"--dry-run"}} {
		r := runbook(t, nil, e.args("rollback", append([]string{"--to", "nosuch"}, extra...)...)...)
		if r.code != exitUsage {
			t.Fatalf("rollback --to nosuch %v: exit %d", extra, r.code)
		}
		for _, want := range []string{`"nosuch"`, "start", "phases: one, two", "steps:  mark, after, confirm"} {
			if !strings.Contains(r.err, want) {
				t.Errorf("rollback --to nosuch %v: stderr lacks %q:\n%s", extra, want, r.err)
			}
		}
	}
	if e.journal(t) != before {
		t.Fatal("a refused rollback wrote to the journal")
	}
}

// TestHeadlessNeedsTheDay: a new run on a runbook planned for another day
// does not start until the operator names the day.
func TestHeadlessNeedsTheDay(t *testing.T) {
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	args := []string{"run", "--headless", "-f", e.fixture, "--state", e.state, "--workspace", e.work, "--target", "dir=" + e.work, "--confirm-manual"}
	r := runbook(t, []string{"RUNBOOK_DATE="}, args...)
	if r.code != exitUsage {
		t.Fatalf("no --date: exit %d, want 2\n%s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{"planned for Fri 24 Oct 2025", "--date today", "--date 2025-10-24"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("refusal lacks %q: %s", want, r.err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.state, "crash-test", "journal")); err == nil {
		t.Fatal("the refused run wrote a journal")
	}
	// plan says which day it would use, and that it is not chosen.
	p := runbook(t, nil, "plan", "-f", e.fixture, "--state", e.state, "--target", "dir="+e.work)
	if !strings.Contains(p.out, "Day: Fri 24 Oct 2025 (the runbook's planned day); today is ") {
		t.Errorf("plan does not say the day:\n%s", p.out)
	}
	// The planned day, named, is a choice: the run starts, and keeps it.
	if r := runbook(t, nil, append(args, "--date", "2025-10-24")...); r.code != 0 {
		t.Fatalf("--date 2025-10-24: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

func TestARunKeepsItsDay(t *testing.T) {
	e := newCrashEnv(t)
	os.WriteFile(filepath.Join(e.work, "release"), nil, 0o644)
	base := []string{"-f", e.fixture, "--state", e.state, "--workspace", e.work, "--target", "dir=" + e.work}
	if r := runbook(t, nil, append([]string{"run", "--headless", "--date", "2025-10-24"}, base...)...); r.code != exitFailed {
		t.Fatalf("run: exit %d (the manual step stops it)\n%s%s", r.code, r.out, r.err)
	}
	// Without --date the run's day is used, and said.
	r := runbook(t, nil, append([]string{"status"}, base...)...)
	if r.code != 0 || !strings.Contains(r.out, "Day: Fri 24 Oct 2025 (the day the run started on)") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// Another day would move every figure of the steps done: refused.
	r = runbook(t, nil, append([]string{"run", "--headless", "--date", "today", "--confirm-manual"}, base...)...)
	if r.code != exitUsage || !strings.Contains(r.err, "started on 2025-10-24 and keeps that day") {
		t.Fatalf("--date today on a run of 2025-10-24: exit %d %s", r.code, r.err)
	}
	r = runbook(t, nil, append([]string{"report"}, base...)...)
	if r.code != 0 || !strings.Contains(r.out, "- Day: Fri 24 Oct 2025 (the day the run started on)") {
		t.Fatalf("report does not say the day:\n%s", r.out)
	}
}

// figuresEnv runs testdata/cli/figures.yaml: quick done, slow failed,
// last pending.
func figuresEnv(t *testing.T) (fixture string, base []string) {
	t.Helper()
	fixture, _ = filepath.Abs("../../testdata/cli/figures.yaml")
	dir := t.TempDir()
	// No workspace named: checkpoints go to the state directory's own repository.
	base = []string{"-f", fixture, "--state", filepath.Join(dir, "state"), "--target", "dir=" + dir, "--date", "today"}
	r := runbook(t, nil, append([]string{"run", "--headless"}, base...)...)
	if r.code != exitFailed || !strings.Contains(r.err, "step slow") {
		t.Fatalf("run: exit %d, want 1 at step slow\n%s%s", r.code, r.out, r.err)
	}
	return fixture, base
}

// TestStatusJSONFigures: status --json carries the engine's figures for
// the run: pace, projected finish, buffer, point of no return and score.
func TestStatusJSONFigures(t *testing.T) {
	fixture, base := figuresEnv(t)
	before := time.Now()
	r := runbook(t, nil, append([]string{"status", "--json"}, base...)...)
	after := time.Now()
	if r.code != 0 {
		t.Fatalf("status --json: exit %d %s", r.code, r.err)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		t.Fatal(err)
	}
	// The same figures from the engine, as of the moment status used.
	rb, err := loadFile(fixture, "", actions.Registry())
	if err != nil {
		t.Fatal(err)
	}
	if rb, err = rb.OnDate(st.Day.Date); err != nil {
		t.Fatal(err)
	}
	run, _, err := steps.ReadRun(st.Journal)
	if err != nil {
		t.Fatal(err)
	}
	c := st.Clock
	if c.AsOf.Before(before.Truncate(time.Second)) || c.AsOf.After(after) {
		t.Fatalf("as of %s, not between %s and %s", c.AsOf, before, after)
	}
	tm := steps.ComputeTiming(rb, run, c.AsOf)
	if !c.ProjectedFinish.Equal(tm.ProjectedFinish) || c.BufferSeconds != secs(tm.Buffer) || c.VarianceSeconds != secs(tm.Variance) ||
		c.RemainingSeconds != secs(tm.Remaining) || c.Current != "slow" || c.UndoNeededSeconds != 300 || c.Pace != pace(tm.Variance) {
		t.Fatalf("clock %+v\nengine %+v", c, tm)
	}
	if !c.PlannedEnd.Equal(tm.PlannedEnd) || c.PlannedEnd.Format("15:04") != "10:00" {
		t.Errorf("planned end %s", c.PlannedEnd)
	}
	if c.NoReturnAt == nil || !c.NoReturnAt.Equal(tm.PlannedEnd.Add(-5*time.Minute)) || c.NoReturnWarning != tm.NoReturn {
		t.Errorf("point of no return %v warning %v; engine %s %v", c.NoReturnAt, c.NoReturnWarning, tm.NoReturnAt, tm.NoReturn)
	}
	// quick raised area one from 40 to 100: (100+60)/2 = 80 of a target 90.
	if st.Score == nil || st.Score.Baseline != 50 || st.Score.Total != 80 || st.Score.Target != 90 || st.Score.Met {
		t.Fatalf("score %+v", st.Score)
	}
	if st.Done != 1 || st.Total != 3 || st.Steps[0].Status != steps.Succeeded || st.Steps[1].Status != steps.Failed || st.Steps[2].Status != steps.Pending {
		t.Fatalf("steps %+v", st.Steps)
	}
	if st.Day.From != "--date" || st.Day.Date != time.Now().UTC().Format(dayLayout) {
		t.Errorf("day %+v", st.Day)
	}
	// The text says the same.
	r = runbook(t, nil, append([]string{"status"}, base...)...)
	for _, want := range []string{"Clock: ", "projected finish ", "(planned 10:00)", "buffer ", "Score: Test score 50 → 80 (below the target of 90)", "Day: "} {
		if !strings.Contains(r.out, want) {
			t.Errorf("status lacks %q:\n%s", want, r.out)
		}
	}
}

// TestStatusAndReportAgree: a step killed mid-work is dirty in both, and
// its time is the same in both.
func TestStatusAndReportAgree(t *testing.T) {
	e := newCrashEnv(t)
	cmd := exec.Command(bin, e.args("run")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the step to start", func() bool { return lines(t, filepath.Join(e.work, "marker")) == 1 })
	cmd.Process.Kill()
	cmd.Wait()
	// The killed runner's step process lives on, as after a real crash.
	t.Cleanup(func() { killProcessesIn(t, e.work) })
	st := e.status(t)
	r := runbook(t, nil, e.args("report")...)
	if r.code != 0 {
		t.Fatalf("report: exit %d %s", r.code, r.err)
	}
	for _, s := range st.Steps {
		row := regexp.MustCompile(`(?m)^\| \w+ \| ` + s.ID + ` — .*\| ([a-z ]+?)( \(\d+ attempts\))?( ` + "`" + `\w+` + "`" + `)? \|$`).FindStringSubmatch(r.out)
		if row == nil {
			t.Fatalf("no report row for %s:\n%s", s.ID, r.out)
		}
		if row[1] != s.Status.String() {
			t.Errorf("%s: status says %s, report says %s", s.ID, s.Status, row[1])
		}
	}
	if st.Steps[0].Status != steps.Dirty {
		t.Fatalf("the killed step is %s in status", st.Steps[0].Status)
	}
}

// TestHeadlessInterruptCancelsTheStep: SIGINT during a step cancels it
// through the engine (journaled with who and when), then exits 130 once
// the step's end is journaled; the step then waits for the operator.
func TestHeadlessInterruptCancelsTheStep(t *testing.T) {
	e := newCrashEnv(t)
	cmd := exec.Command(bin, e.args("run")...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the step to start", func() bool { return lines(t, filepath.Join(e.work, "marker")) == 1 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitSignal {
		t.Fatalf("after SIGINT: %v, want exit 130\n%s", err, out.String())
	}
	j := e.journal(t)
	if !regexp.MustCompile(`k=step\.cancelled\ts=mark\t.*by=tester \(signal\)`).MatchString(j) {
		t.Fatalf("journal has no cancel of mark by the operator:\n%s", j)
	}
	if strings.Contains(j, "k=step.started\ts=after") {
		t.Fatal("the next step started after the interrupt")
	}
	st := e.status(t)
	if st.Steps[0].Status != steps.Failed || !strings.Contains(st.Steps[0].Error, "cancelled by tester (signal)") || len(st.Dirty) != 0 {
		t.Fatalf("after the cancel: %+v", st.Steps[0])
	}
	if !strings.Contains(out.String(), "cancelling: interrupted by a signal") {
		t.Errorf("headless did not say it cancels:\n%s", out.String())
	}
	// Run again: a cancelled step is not re-run blindly.
	r := runbook(t, nil, e.args("run")...)
	if r.code != exitNeedsOp || !strings.Contains(r.err, "step mark was cancelled by tester (signal)") {
		t.Fatalf("rerun: exit %d %s", r.code, r.err)
	}
	if n := lines(t, filepath.Join(e.work, "marker")); n != 1 {
		t.Fatalf("the cancelled step ran %d times", n)
	}
}

// TestEscapeSequencesNeverReachTheTerminal: a target's value and a step's
// output carry escape sequences (window title, clipboard, clear screen,
// cursor moves, a bidi override): none of it reaches plan, status, headless
// output or the report raw. (A runbook's own text may hold none: the loader
// refuses it, see testdata/runbooks.)
func TestEscapeSequencesNeverReachTheTerminal(t *testing.T) {
	fixture, _ := filepath.Abs("../../testdata/cli/hostile.yaml")
	dir := t.TempDir()
	base := []string{"-f", fixture, "--state", filepath.Join(dir, "state"), "--target", "dir=" + dir, "--date", "today"}
	env := []string{"HOSTILE_NOTE=value \x1b]52;c;cGF5bG9hZA==\x07 \u202eeno \x1b[1;1H here"}
	raw := func(s string) bool { return strings.ContainsAny(s, "\x1b\x07\u202e\u009b") }
	outputs := map[string]result{}
	outputs["plan"] = runbook(t, env, append([]string{"plan"}, base...)...)
	outputs["plan --json"] = runbook(t, env, append([]string{"plan", "--json"}, base...)...)
	outputs["run"] = runbook(t, env, append([]string{"run", "--headless"}, base...)...)
	outputs["status"] = runbook(t, env, append([]string{"status"}, base...)...)
	outputs["report"] = runbook(t, env, append([]string{"report"}, base...)...)
	if r := outputs["run"]; r.code != exitFailed || !strings.Contains(r.out, "out  and  done") {
		t.Fatalf("run: exit %d, the step's output is not shown cleaned:\n%s%s", r.code, r.out, r.err)
	}
	for name, r := range outputs {
		if raw(r.out) || raw(r.err) {
			t.Errorf("%s lets an escape sequence through:\n%q\n%q", name, r.out, r.err)
		}
	}
	// What was there is visible, not silently dropped, where it is a
	// lone control character (the bidi override).
	if !strings.Contains(outputs["plan"].out, `\u202eeno`) {
		t.Errorf("plan does not show the bidi override escaped:\n%s", outputs["plan"].out)
	}
	if !strings.Contains(outputs["run"].out, `\u202eeno`) {
		t.Errorf("the step's output does not show the bidi override escaped:\n%s", outputs["run"].out)
	}
	for _, want := range []string{"value ", " here"} {
		if !strings.Contains(outputs["plan"].out, want) {
			t.Errorf("plan lost the text around the escapes (%q):\n%s", want, outputs["plan"].out)
		}
	}
}

// TestKilledAttemptCounts: a step killed after working a while counts that
// time in status and report (its output log shows how long it was alive),
// not 0s.
func TestKilledAttemptCounts(t *testing.T) {
	dir := t.TempDir()
	fixture := filepath.Join(dir, "ticker.yaml")
	os.WriteFile(fixture, []byte(`id: ticker-test
title: Ticker
schedule: {date: "2025-10-24", timezone: UTC}
phases:
  - id: one
    title: One
    slot: "08:00-09:00"
    steps:
      - id: tick
        title: Print a tick every tenth of a second
        budget: 5m
        guide: guide.md#mark
        do:
          - shell: {argv: [sh, -c, 'while :; do echo tick; sleep 0.1; done']}
`), 0o644)
	guides, _ := filepath.Abs("../../testdata/cli")
	base := []string{"-f", fixture, "--guides", guides, "--state", filepath.Join(dir, "state"), "--date", "today"}
	cmd := exec.Command(bin, append([]string{"run", "--headless"}, base...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "state", "ticker-test", "logs", "tick.log")
	waitFor(t, "two seconds of ticks", func() bool {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "tick\n") >= 26
	})
	cmd.Process.Kill()
	cmd.Wait()
	r := runbook(t, nil, append([]string{"status", "--json"}, base...)...)
	var st statusJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		t.Fatalf("status: %v\n%s%s", err, r.out, r.err)
	}
	if s := st.Steps[0]; s.Status != steps.Dirty || s.ActualSeconds < 2 {
		t.Fatalf("the killed step: %s after %ds, want dirty after 2s or more", s.Status, s.ActualSeconds)
	}
	rep := runbook(t, nil, append([]string{"report"}, base...)...)
	// status truncates to whole seconds, the report rounds.
	a := time.Duration(st.Steps[0].ActualSeconds) * time.Second
	want := "| 5:00 | " + clockText(a) + " | "
	if !strings.Contains(rep.out, want) {
		want = "| 5:00 | " + clockText(a+time.Second) + " | "
	}
	if !strings.Contains(rep.out, want) || !strings.Contains(rep.out, "| dirty |") {
		t.Fatalf("report does not show the killed attempt's time (%q):\n%s", want, rep.out)
	}
}

// clockText is the report's m:ss.
func clockText(d time.Duration) string {
	return strconv.Itoa(int(d.Minutes())) + ":" + fmt.Sprintf("%02d", int(d.Seconds())%60)
}

func TestCheckKind(t *testing.T) {
	for _, tc := range []struct {
		kind runbooks.TargetKind
		v    string
		ok   bool
	}{
		{runbooks.TargetURL, "http://localhost:8001", true},
		{runbooks.TargetURL, "https://h.example.org/x", true},
		{runbooks.TargetURL, "notaurl", false},
		{runbooks.TargetURL, "localhost:8001", false},
		{runbooks.TargetURL, "http://", false},
		{runbooks.TargetDocker, "unix:///var/run/docker.sock", true},
		{runbooks.TargetDocker, "tcp://10.0.0.2:2376", true},
		{runbooks.TargetDocker, "ssh://me@host", true},
		{runbooks.TargetDocker, "/var/run/docker.sock", false},
		{runbooks.TargetDocker, "gopher://x", false},
		{runbooks.TargetPostgres, "postgres://u:p@127.0.0.1:5432/app?sslmode=disable", true},
		{runbooks.TargetPostgres, "host=/tmp dbname=app", true},
		{runbooks.TargetPostgres, "postgres://u@h:notaport/x", false},
		{runbooks.TargetDir, "/srv/ws", true},
		{runbooks.TargetDir, "  ", false},
		{runbooks.TargetValue, "anything at all", true},
	} {
		if err := checkKind(tc.kind, tc.v); (err == nil) != tc.ok {
			t.Errorf("checkKind(%s, %q) = %v, want ok %v", tc.kind, tc.v, err, tc.ok)
		}
	}
	// An empty value (a profile line without one) leaves the target unset.
	rb, err := runbooks.LoadEmbedded(defaultRunbook, runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	c := &common{targets: targetFlags{profileKey: ""}, profile: map[string]string{"docker": "", "app_url": "http://localhost:8001"}}
	if err := c.checkTargets(rb); err != nil {
		t.Fatalf("profile with an empty docker value: %v", err)
	}
	c.profile["app_url"] = "localhost"
	if err := c.checkTargets(rb); err == nil || !strings.Contains(err.Error(), "profile value app_url=localhost: app_url is a url target") {
		t.Fatalf("bad profile value: %v", err)
	}
}
