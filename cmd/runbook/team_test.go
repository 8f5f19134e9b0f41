package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/notify"
	"github.com/runbook-dev/runbook/steps/steptest"
	"github.com/runbook-dev/runbook/steps/store"
	"github.com/runbook-dev/runbook/steps/store/storetest"
)

// Every event name a runbook's notify: may list is one the notifier sends.
func TestNotifyEventNamesAreTheNotifiersKinds(t *testing.T) {
	kinds := notifyKinds()
	if len(kinds) != len(runbooks.NotifyEvents) {
		t.Fatalf("notifier kinds %v, runbook events %v", kinds, runbooks.NotifyEvents)
	}
	for _, e := range runbooks.NotifyEvents {
		if _, ok := kinds[e]; !ok {
			t.Errorf("runbook event %q is no notifier kind", e)
		}
	}
	for _, m := range []string{steps.MomentRunStarted, steps.MomentRunResumed, steps.MomentRunTakenOver, steps.MomentApprovalNeeded,
		steps.MomentStepFailed, steps.MomentOverBudget, steps.MomentNoReturnNear, steps.MomentRunFinished} {
		if _, ok := kinds[m]; !ok {
			t.Errorf("engine moment %q is no notifier kind", m)
		}
	}
}

func TestParseApprovalFlags(t *testing.T) {
	rb, err := (&common{file: "../../testdata/cli/approval.yaml"}).readRunbook()
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseApprovals(rb, []string{"switch=bob:CHG-1 signed"}, "alice", "h")
	if err != nil || len(got["switch"]) != 1 || got["switch"][0].By != "bob" || got["switch"][0].Reason != "CHG-1 signed" || got["switch"][0].Via != steps.ViaDriver {
		t.Fatalf("%+v %v", got, err)
	}
	for val, want := range map[string]string{
		"switch=alice:mine":  "alice drives this run and cannot approve its own step",
		"switch=bob":         "requires a reason",
		"prepare=bob:x":      "step prepare needs no approval",
		"nope=bob:x":         `no step "nope"`,
		"switch":             "want STEP=NAME",
		"switch=ALICE:again": "cannot approve its own step",
	} {
		if _, err := parseApprovals(rb, []string{val}, "alice", "h"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--approve %s: %v; want %q", val, err, want)
		}
	}
	if _, err := got.WaitApprovals(context.Background(), "switch", 2); err == nil || !strings.Contains(err.Error(), "--approve gives 1") {
		t.Errorf("a fixed list short of the count: %v", err)
	}
}

func TestPlanShowsApprovalsAndWebhooks(t *testing.T) {
	e := newApprovalEnv(t)
	r := runbook(t, []string{"APPROVAL_TEST_WEBHOOK=https://hooks.example.com/T0/SECRETPATH"}, "plan", "-f", e.fixture, "--target", "dir="+e.dir)
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.err)
	}
	for _, want := range []string{
		"switch — Switch traffic\n                approval: 1 approver other than the driver (reason required)\n",
		"Notifications (webhooks; more with --notify URL):\n  $APPROVAL_TEST_WEBHOOK: step_failed\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "SECRETPATH") {
		t.Errorf("plan shows a webhook URL:\n%s", r.out)
	}
	// $RUNBOOK_NOTIFY is no flag default: help would print the URL.
	if r := runbook(t, []string{"RUNBOOK_NOTIFY=https://hooks.example.com/SECRETPATH"}, "run", "--help"); strings.Contains(r.out+r.err, "SECRETPATH") || !strings.Contains(r.out, "--notify URL") {
		t.Errorf("run --help:\n%s%s", r.out, r.err)
	}
	r = runbook(t, nil, "plan", "--json", "-f", e.fixture, "--target", "dir="+e.dir)
	var p planJSON
	if err := json.Unmarshal([]byte(r.out), &p); err != nil {
		t.Fatal(err)
	}
	if a := p.Phases[0].Steps[1].Approval; a == nil || a.Count != 1 || !a.ReasonRequired || len(p.Notify) != 1 || p.Notify[0].Env != "APPROVAL_TEST_WEBHOOK" {
		t.Errorf("plan --json: approval %+v, notify %+v", a, p.Notify)
	}
}

// ---- integration: processes, a store, webhooks ----

// shareDB creates a database of its own on the store cluster for one test
// and returns its owner DSN and name.
func shareDB(t *testing.T) (dsn, name string) { return storetest.DB(t, "rb_share_") }

func withDB(t *testing.T, dsn, db, user string) string { return storetest.With(t, dsn, db, user) }

// hookServer records the JSON bodies a webhook receives.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []notify.Body
	raw    []string
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var b notify.Body
		_ = json.Unmarshal(data, &b)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.raw = append(h.raw, string(data))
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.bodies {
		out = append(out, b.Event)
	}
	return out
}

func (h *hookServer) all() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.raw, "\n")
}

type approvalEnv struct {
	fixture, dir string
}

func newApprovalEnv(t *testing.T) approvalEnv {
	fixture, err := filepath.Abs("../../testdata/cli/approval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return approvalEnv{fixture: fixture, dir: t.TempDir()}
}

// args are a command's arguments on machine m (its own state directory).
func (e approvalEnv) args(m, operator, cmd string, extra ...string) []string {
	a := []string{cmd}
	if cmd == "run" {
		a = append(a, "--headless", "--date", "today", "--target", "dir="+filepath.Join(e.dir, m))
	}
	a = append(a, "-f", e.fixture, "--state", filepath.Join(e.dir, m, "state"), "--operator", operator)
	return append(a, extra...)
}

func (e approvalEnv) journal(t *testing.T, m string) string {
	data, _ := os.ReadFile(filepath.Join(e.dir, m, "state", "approval-test", "journal"))
	return string(data)
}

// TestApprovalFromAnotherProcess: a headless driver waits on a step that
// needs approval; a second process (its own state directory, another
// operator) approves it through the store. The driver cannot approve its
// own step, a read-only role can follow but not approve nor add notes, a
// follower's note is journaled, and a webhook hears the run's moments.
func TestApprovalFromAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	dsn, db := shareDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The store; the driver, alice, registers its run and holds its lease.
	owner, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	// A read-only login role (roles.sql's runbook_reader).
	adm, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close(context.Background())
	if err := store.InstallRoles(ctx, adm); err != nil {
		t.Fatal(err)
	}
	reader := "reader_" + db[len(db)-8:]
	if _, err := adm.Exec(ctx, "CREATE ROLE "+reader+" LOGIN IN ROLE "+store.ReaderRole); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), os.Getenv("RUNBOOK_TEST_STOREDSN"))
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+reader)
			c.Close(context.Background())
		}
	})
	readerDSN := withDB(t, os.Getenv("RUNBOOK_TEST_STOREDSN"), db, reader)

	hook := newHookServer(t)
	e := newApprovalEnv(t)
	os.MkdirAll(filepath.Join(e.dir, "a"), 0o755)
	var out, errOut steptest.Buffer
	driver := exec.Command(bin, e.args("a", "alice", "run", "--store", dsn, "--notify", hook.URL)...)
	driver.Stdout, driver.Stderr = &out, &errOut
	if err := driver.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- driver.Wait() }()
	t.Cleanup(func() {
		if driver.ProcessState == nil {
			driver.Process.Kill()
			<-done
		}
	})
	waitFor(t, "the driver to wait for approval", func() bool {
		return strings.Contains(out.String(), "switch waits for 1 approval (reason required) from operators other than alice; waiting")
	})
	runs, err := owner.Runs(ctx)
	if err != nil || len(runs) != 1 || runs[0].Runbook != "approval-test" || runs[0].Lease == nil || runs[0].Lease.Holder != "alice" {
		t.Fatalf("the driver's run in the store: %+v %v", runs, err)
	}
	runID := runs[0].ID
	if j := e.journal(t, "a"); !strings.Contains(j, "k=approval.asked\ts=switch") || strings.Contains(j, "k=step.started\ts=switch") {
		t.Fatalf("driver journal while waiting:\n%s", j)
	}

	// The driver cannot approve its own step (the store refuses it).
	r := runbook(t, nil, e.args("b", "alice", "approve", "switch", "--reason", "mine", "--store", dsn)...)
	if r.code != exitFailed || !strings.Contains(r.err, "alice drives run") || !strings.Contains(r.err, "cannot approve its own step switch") {
		t.Fatalf("self-approval: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// A reader follows but does not approve or add notes.
	r = runbook(t, nil, e.args("c", "carol", "approve", "switch", "--reason", "ok", "--store", readerDSN)...)
	if r.code != exitFailed || !strings.Contains(r.err, "grant runbook_writer to "+reader) {
		t.Fatalf("reader approves: exit %d\n%s%s", r.code, r.out, r.err)
	}
	r = runbook(t, nil, e.args("c", "carol", "note", "let me in", "--store", readerDSN)...)
	if r.code != exitFailed || !strings.Contains(r.err, "grant runbook_writer to "+reader) {
		t.Fatalf("reader adds a note: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// ... while it may read the run (follow).
	rd, err := store.Open(ctx, readerDSN, store.Options{})
	if err != nil {
		t.Fatalf("the reader opens the store: %v", err)
	}
	_, rerr := rd.Records(ctx, runID, 0, 0)
	_, aerr := rd.Approvals(ctx, runID, "")
	_, nerr := rd.Notes(ctx, runID, 0)
	rd.Close()
	if rerr != nil || aerr != nil || nerr != nil {
		t.Fatalf("the reader reads: %v %v %v", rerr, aerr, nerr)
	}
	// Clear refusals before the store is asked.
	for _, c := range []struct {
		args []string
		want string
	}{
		{e.args("b", "bob", "approve", "switch", "--store", dsn), "step switch requires a reason: runbook approve switch --reason TEXT"},
		{e.args("b", "bob", "approve", "nope", "--reason", "x", "--store", dsn), `no step "nope" in runbook approval-test (steps that need approval: switch)`},
		{e.args("b", "bob", "approve", "prepare", "--reason", "x", "--store", dsn), "step prepare needs no approval"},
		{e.args("b", "bob", "approve", "switch", "--reason", "x"), "no shared-run store"},
	} {
		if r := runbook(t, []string{"RUNBOOK_STORE="}, c.args...); r.code != exitUsage || !strings.Contains(r.err, c.want) {
			t.Errorf("%v: exit %d: %s; want %q", c.args[:3], r.code, r.err, c.want)
		}
	}

	// A follower's note reaches the driver's journal (LISTEN/NOTIFY).
	r = runbook(t, nil, e.args("c", "carol", "note", "backup checked", "--step", "switch", "--store", dsn)...)
	if r.code != 0 {
		t.Fatalf("note: exit %d\n%s%s", r.code, r.out, r.err)
	}
	waitFor(t, "the note in the driver's journal", func() bool {
		return strings.Contains(e.journal(t, "a"), "k=note\ts=switch\tby=carol\tnote=backup checked")
	})

	// Another operator approves from another machine.
	r = runbook(t, nil, e.args("b", "bob", "approve", "switch", "--reason", "CHG-42 signed off", "--store", dsn)...)
	if r.code != 0 || !strings.Contains(r.out, "approved step switch of run") || !strings.Contains(r.out, "as bob") {
		t.Fatalf("approve: exit %d\n%s%s", r.code, r.out, r.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("driver: %v\n%s%s", err, out.String(), errOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("the driver did not finish:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "switch approved by bob on") || !strings.Contains(out.String(), "through the store: CHG-42 signed off") {
		t.Errorf("driver log:\n%s", out.String())
	}
	// The approval is journaled before the step's start: who, host, why, how.
	evs, _, err := steps.ReadJournal(filepath.Join(e.dir, "a", "state", "approval-test", "journal"))
	if err != nil {
		t.Fatal(err)
	}
	approved, started := -1, -1
	for i, ev := range evs {
		switch {
		case ev.Kind == steps.EvStepApproved && ev.Step == "switch":
			approved = i
			host, _ := os.Hostname()
			if ev.Actor != "bob" || ev.Host != host || ev.Reason != "CHG-42 signed off" || ev.Via != steps.ViaStore || ev.Given.IsZero() {
				t.Errorf("approval record %+v", ev)
			}
		case ev.Kind == steps.EvStepStarted && ev.Step == "switch":
			started = i
		}
	}
	if approved < 0 || started < approved {
		t.Fatalf("approval at record %d, start at %d", approved+1, started+1)
	}
	// status and report show it.
	st := runbook(t, nil, e.args("a", "alice", "status", "--date", "today")...)
	if !strings.Contains(st.out, "approved by bob") {
		t.Errorf("status:\n%s", st.out)
	}
	rep := runbook(t, nil, e.args("a", "alice", "report", "--date", "today")...)
	if !strings.Contains(rep.out, "- Decisions: 1 (1 approval)") || !strings.Contains(rep.out, "approved by bob on") {
		t.Errorf("report:\n%s", rep.out)
	}
	// Once the step has run, a late approval is refused, and says so.
	r = runbook(t, nil, e.args("c", "carol", "approve", "switch", "--reason", "late", "--store", dsn)...)
	if r.code != exitUsage || !strings.Contains(r.err, "step switch of run "+runID+" has already succeeded at") {
		t.Errorf("late approval: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// The webhook heard the run start, the approval needed, its end.
	waitFor(t, "the webhook", func() bool { return len(hook.events()) >= 3 })
	if got := strings.Join(hook.events(), ","); got != "run_started,approval_needed,run_finished" {
		t.Errorf("webhook events %s", got)
	}
	if a := hook.all(); !strings.Contains(a, `"step":"switch"`) || !strings.Contains(a, "needs 1 approval (reason required)") {
		t.Errorf("webhook bodies:\n%s", a)
	}
}

// TestWebhooksNeverHoldTheRunUp: one webhook hangs, another records. The
// run ends (its last record journaled) while the hanging handler still
// holds its first request; a failing step's secret reaches no webhook.
func TestWebhooksNeverHoldTheRunUp(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: not under -short")
	}
	release := make(chan struct{})
	var mu sync.Mutex
	entered, finished := 0, 0
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		entered++
		mu.Unlock()
		<-release
		mu.Lock()
		finished++
		mu.Unlock()
	}))
	defer hang.Close()
	defer close(release)
	hook := newHookServer(t)
	e := newApprovalEnv(t)
	os.MkdirAll(filepath.Join(e.dir, "a"), 0o755)

	// Without a store, the approval is given on the driver's machine.
	r := runbook(t, []string{"RUNBOOK_NOTIFY=" + hang.URL + " " + hook.URL}, e.args("a", "alice", "run", "--approve", "switch=bob:CHG-7")...)
	mu.Lock()
	inHandler, done := entered, finished
	mu.Unlock()
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if !strings.Contains(e.journal(t, "a"), "k=run.finished") {
		t.Fatalf("no run.finished:\n%s", e.journal(t, "a"))
	}
	if inHandler < 1 || done != 0 {
		t.Fatalf("the hanging webhook: %d requests entered, %d finished; want the run over while the first still hangs", inHandler, done)
	}
	if !strings.Contains(r.err, "notice:") {
		t.Errorf("no notice of the undelivered events on stderr:\n%s", r.err)
	}
	j := e.journal(t, "a")
	if !strings.Contains(j, "k=step.approved\ts=switch\tby=bob\twhy=CHG-7") || !strings.Contains(j, "via=driver") {
		t.Errorf("local approval not journaled as given on the driver's machine:\n%s", j)
	}
	if got := strings.Join(hook.events(), ","); got != "run_started,approval_needed,run_finished" {
		t.Errorf("recording webhook: %s", got)
	}

	// A step that fails with a secret in its error: the webhook gets it
	// redacted.
	// The runbook's own webhook (notify: env, events: [step_failed]) hears
	// of the failure only.
	const secret = "no-such-cmd-Xq7Zr2"
	own := newHookServer(t)
	r = runbook(t, []string{"APPROVAL_TEST_WEBHOOK=" + own.URL}, e.args("b", "alice", "run", "--approve", "switch=bob:CHG-8", "--notify", hook.URL, "--target", "cmd="+secret)...)
	if r.code != exitFailed {
		t.Fatalf("failing run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	waitFor(t, "step_failed at the webhook", func() bool { return strings.Contains(strings.Join(hook.events(), ","), "step_failed") })
	if a := hook.all(); strings.Contains(a, secret) || !strings.Contains(a, `"step":"finish"`) {
		t.Errorf("webhook bodies (secret must be masked):\n%s", a)
	}
	if got := strings.Join(own.events(), ","); got != "step_failed" || strings.Contains(own.all(), secret) {
		t.Errorf("the runbook's webhook (step_failed only): %s\n%s", got, own.all())
	}
	if strings.Contains(r.out+r.err, own.URL) {
		t.Errorf("the webhook's URL (a secret) was printed:\n%s%s", r.out, r.err)
	}
	// Headless without a store and without --approve: refused, with the way out.
	r = runbook(t, nil, e.args("c", "alice", "run")...)
	if r.code != exitNeedsOp || !strings.Contains(r.err, "step switch needs 1 approval from operators other than alice") || !strings.Contains(r.err, "--approve switch=NAME:REASON") {
		t.Errorf("no approval source: exit %d\n%s", r.code, r.err)
	}
}
