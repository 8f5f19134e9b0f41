package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/steptest"
	"github.com/runbook-dev/runbook/steps/store"
	"github.com/runbook-dev/runbook/steps/store/storetest"
)

// The shared-run tests drive the real binary as two "machines": two
// processes with state directories and workspaces of their own (clones of
// one bare remote), sharing only the store (a fresh database per test on
// the cluster RUNBOOK_TEST_STOREDSN names) and the world the steps change
// (the dir target), where the tests count what ran.

// shareStoreDSN creates a database of the test's own on the store cluster
// and returns its DSN; it is dropped at the end.
func shareStoreDSN(t testing.TB) string {
	dsn, _ := storetest.DB(t, "rb_share_")
	return dsn
}

// team is two machines and the world they change.
type team struct {
	t       *testing.T
	fixture string
	id      string // the fixture's runbook id (its state directory)
	world   string
	dsn     string
	timeout string   // --lease-timeout both use
	targets []string // more --target NAME=VALUE both pass
}

type machine struct {
	team     *team
	operator string
	state    string
	work     string
}

func newTeam(t *testing.T, dsn string) *team {
	t.Helper()
	return newTeamOf(t, dsn, "share.yaml", "share-test", "")
}

// newTeamOf is a team on the fixture testdata/cli/FIXTURE (runbook id);
// the workspaces start with the files of testdata/cli/SEED when it is
// not empty.
func newTeamOf(t *testing.T, dsn, fixture, id, seedFiles string) *team {
	t.Helper()
	fixture, err := filepath.Abs(filepath.Join("../../testdata/cli", fixture))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tm := &team{t: t, fixture: fixture, id: id, world: filepath.Join(dir, "world"), dsn: dsn, timeout: "3s"}
	if err := os.MkdirAll(tm.world, 0o755); err != nil {
		t.Fatal(err)
	}
	// One bare remote the workspaces are cloned from.
	seed := filepath.Join(dir, "seed")
	os.MkdirAll(seed, 0o755)
	git(t, seed, "init", "-q", "-b", "main")
	if seedFiles != "" {
		if err := os.CopyFS(seed, os.DirFS(filepath.Join("../../testdata/cli", seedFiles))); err != nil {
			t.Fatal(err)
		}
		git(t, seed, "add", "-A")
	}
	git(t, seed, "commit", "-q", "--allow-empty", "-m", "before")
	git(t, dir, "clone", "-q", "--bare", seed, filepath.Join(dir, "remote.git"))
	// Whatever happens, let orphaned step processes finish.
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(tm.world, "release"), nil, 0o644)
		os.WriteFile(filepath.Join(tm.world, "release2"), nil, 0o644)
	})
	return tm
}

func (tm *team) machine(name string) *machine {
	tm.t.Helper()
	dir := filepath.Join(filepath.Dir(tm.world), name)
	m := &machine{team: tm, operator: name, state: filepath.Join(dir, "state"), work: filepath.Join(dir, "work")}
	git(tm.t, filepath.Dir(tm.world), "clone", "-q", filepath.Join(filepath.Dir(tm.world), "remote.git"), m.work)
	tm.t.Cleanup(func() { killProcessesIn(tm.t, m.work) })
	return m
}

func (m *machine) args(extra ...string) []string {
	a := []string{"run", "--headless", "-f", m.team.fixture, "--state", m.state, "--workspace", m.work,
		"--operator", m.operator, "--target", "dir=" + m.team.world, "--date", "today",
		"--store", m.team.dsn, "--lease-timeout", m.team.timeout, "--push-checkpoints", "origin"}
	for _, tv := range m.team.targets {
		a = append(a, "--target", tv)
	}
	return append(a, extra...)
}

// start runs the machine's driver in the background.
func (m *machine) start(extra ...string) (*exec.Cmd, *steptest.Buffer) {
	m.team.t.Helper()
	cmd := exec.Command(bin, m.args(extra...)...)
	cmd.Env = os.Environ()
	out := &steptest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		m.team.t.Fatal(err)
	}
	m.team.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, out
}

func (m *machine) journal() []byte {
	m.team.t.Helper()
	data, err := os.ReadFile(filepath.Join(m.state, m.team.id, "journal"))
	if err != nil {
		m.team.t.Fatal(err)
	}
	return data
}

func (tm *team) count(file string) int {
	return lines(tm.t, filepath.Join(tm.world, file))
}

func (tm *team) release(file string) {
	if err := os.WriteFile(filepath.Join(tm.world, file), nil, 0o644); err != nil {
		tm.t.Fatal(err)
	}
}

// storeJournal is the store's only run as journal bytes (its records in
// order) and its id.
func (tm *team) storeJournal() (string, []byte) {
	tm.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, run := tm.onlyRun(ctx)
	defer st.Close()
	recs, err := st.Records(ctx, run.ID, 0, 0)
	if err != nil {
		tm.t.Fatal(err)
	}
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r.Data)
	}
	return run.ID, b.Bytes()
}

// checkpointsPerStep counts the checkpoint records of each step.
func checkpointsPerStep(journal []byte) map[string]int {
	out := map[string]int{}
	for _, l := range strings.Split(string(journal), "\n") {
		if strings.Contains(l, "\tk=checkpoint\t") {
			for _, f := range strings.Split(l, "\t") {
				if id, ok := strings.CutPrefix(f, "s="); ok {
					out[id]++
				}
			}
		}
	}
	return out
}

// TestTakeOverAfterTheDriverIsKilled: the driver dies mid-step; another
// machine may take over only once the lease has expired, finds the step
// dirty, verifies it and completes the run; nothing ran twice.
func TestTakeOverAfterTheDriverIsKilled(t *testing.T) {
	tm := newTeam(t, shareStoreDSN(t))
	ana, bob := tm.machine("ana"), tm.machine("bob")
	a, aout := ana.start()
	waitFor(t, "ana's step to write its marker", func() bool { return tm.count("marker") == 1 })
	if err := a.Process.Kill(); err != nil { // SIGKILL: no chance to journal or release
		t.Fatal(err)
	}
	a.Wait()
	killProcessesIn(t, ana.work)

	// At once: the lease is fresh, the take-over is refused, naming the
	// holder and the limit.
	r := runbook(t, nil, bob.args("--take-over", "--on-dirty=verify")...)
	if r.code != exitLocked || !strings.Contains(r.err, "driven by ana on ") || !strings.Contains(r.err, "3s") || !strings.Contains(r.err, "--force-take-over ana") {
		t.Fatalf("take-over of a fresh lease: exit %d, stderr %q; want exit 3 naming ana and the 3s limit\nana: %s", r.code, r.err, aout)
	}
	if _, err := os.Stat(filepath.Join(bob.state, "share-test", "journal")); err == nil && len(bob.journal()) > 0 {
		t.Fatalf("the refused machine wrote a journal:\n%s", bob.journal())
	}
	// Once the heartbeat is older than the limit, bob takes over.
	tm.release("release2")
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = runbook(t, nil, bob.args("--take-over", "--on-dirty=verify")...)
		if r.code != exitLocked || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.code != 0 {
		t.Fatalf("take-over after expiry: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if !strings.Contains(r.out, "mark DIRTY") {
		t.Fatalf("bob did not see the dirty step:\n%s", r.out)
	}
	for file, want := range map[string]int{"marker": 1, "second": 1, "after": 1} {
		if n := tm.count(file); n != want {
			t.Errorf("%s ran %d times, want %d", file, n, want)
		}
	}
	id, shared := tm.storeJournal()
	if !bytes.Equal(shared, bob.journal()) {
		t.Fatalf("store and bob's journal differ:\nstore:\n%s\nbob:\n%s", shared, bob.journal())
	}
	j := string(shared)
	for _, want := range []string{"k=step.dirty\ts=mark", "took the run over from ana on ", "limit 3s", "k=run.finished"} {
		if !strings.Contains(j, want) {
			t.Errorf("shared journal lacks %q:\n%s", want, j)
		}
	}
	// ana's local journal is a prefix of the shared one: every record she
	// wrote before she died was in the store.
	if !bytes.HasPrefix(shared, ana.journal()) {
		t.Errorf("ana's journal is not a prefix of the shared run's")
	}
	cps := checkpointsPerStep(shared)
	for _, s := range []string{"mark", "second", "after"} {
		if cps[s] != 1 {
			t.Errorf("step %s has %d checkpoint records, want 1 (%v)", s, cps[s], cps)
		}
	}
	if !strings.HasPrefix(id, "share-test-") {
		t.Errorf("run id %q", id)
	}
	// bob finished the run: its state says so and the lease is released.
	if run := tm.storeRun(); run.State != "finished" || run.Lease == nil || !run.Lease.Released || run.Lease.Holder != "bob" || run.Lease.Epoch != 2 {
		t.Errorf("the store's run at the end: state %q, lease %+v; want finished, released by bob at epoch 2", run.State, run.Lease)
	}
	// ana's machine comes back with its journal and workspace behind: it
	// catches up from the store, but its workspace lacks bob's
	// checkpoints (pushed to the remote), and it is told what to fetch.
	r = runbook(t, nil, ana.args("--take-over", "--on-dirty=verify")...)
	if r.code != exitEnv || !strings.Contains(r.err, "is not at the run's last checkpoint") || !strings.Contains(r.err, "fetch origin && git -C "+ana.work+" merge --ff-only") {
		t.Fatalf("ana back with a workspace behind: exit %d\n%s%s", r.code, r.out, r.err)
	}
	git(t, ana.work, "fetch", "-q", "origin")
	git(t, ana.work, "merge", "-q", "--ff-only", "origin/main")
	r = runbook(t, nil, ana.args("--take-over", "--on-dirty=verify")...)
	if r.code != 0 || !strings.Contains(r.out, "run finished") {
		t.Fatalf("ana back on the finished run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if _, shared = tm.storeJournal(); !bytes.Equal(shared, ana.journal()) {
		t.Fatal("store and ana's caught-up journal differ")
	}
	for file, want := range map[string]int{"marker": 1, "second": 1, "after": 1} {
		if n := tm.count(file); n != want {
			t.Errorf("after ana came back, %s ran %d times, want %d", file, n, want)
		}
	}
}

// storeRun is the store's only run.
func (tm *team) storeRun() store.Run {
	tm.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, run := tm.onlyRun(ctx)
	st.Close()
	return run
}

// onlyRun opens the team's store and reads its only run; the caller
// closes the store.
func (tm *team) onlyRun(ctx context.Context) (*store.Store, store.Run) {
	tm.t.Helper()
	st, err := store.Open(ctx, tm.dsn, store.Options{})
	if err != nil {
		tm.t.Fatal(err)
	}
	runs, err := st.Runs(ctx)
	if err != nil || len(runs) != 1 {
		st.Close()
		tm.t.Fatalf("store runs: %v, %+v; want one run", err, runs)
	}
	return st, runs[0]
}

// TestForcedTakeOverFencesThePausedDriver: the driver is paused
// (SIGSTOP), another operator forces the take-over naming her, and when
// the first comes back its next write is refused and it stops, saying who
// took over.
func TestForcedTakeOverFencesThePausedDriver(t *testing.T) {
	tm := newTeam(t, shareStoreDSN(t))
	tm.timeout = "30s" // only a forced take-over can be quick
	ana, bob := tm.machine("ana"), tm.machine("bob")
	a, aout := ana.start()
	waitFor(t, "ana's step to write its marker", func() bool { return tm.count("marker") == 1 })
	if err := a.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Naming someone else is refused.
	r := runbook(t, nil, bob.args("--force-take-over", "carol", "--on-dirty=verify")...)
	if r.code != exitLocked || !strings.Contains(r.err, `held by "ana"`) {
		t.Fatalf("force naming carol: exit %d, stderr %q", r.code, r.err)
	}
	// bob forces it at once; ana's step waits for release, bob verifies it.
	tm.release("release")
	tm.release("release2")
	r = runbook(t, nil, bob.args("--force-take-over", "ana", "--on-dirty=verify")...)
	if r.code != 0 {
		t.Fatalf("forced take-over: exit %d\n%s%s", r.code, r.out, r.err)
	}
	_, shared := tm.storeJournal()
	if !strings.Contains(string(shared), "forced, naming ana") {
		t.Fatalf("the forced take-over is not journaled:\n%s", shared)
	}
	if err := a.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("ana did not stop after she was taken over:\n%s", aout)
	}
	if code := a.ProcessState.ExitCode(); code != exitLocked || !strings.Contains(aout.String(), "taken over by bob on ") {
		t.Fatalf("ana after SIGCONT: exit %d, want 3 saying bob took over:\n%s", code, aout)
	}
	for file, want := range map[string]int{"marker": 1, "second": 1, "after": 1} {
		if n := tm.count(file); n != want {
			t.Errorf("%s ran %d times, want %d", file, n, want)
		}
	}
	_, after := tm.storeJournal()
	if !bytes.Equal(after, shared) {
		t.Fatalf("the fenced driver changed the shared run:\nbefore:\n%s\nafter:\n%s", shared, after)
	}
	if !bytes.Equal(after, bob.journal()) {
		t.Fatal("store and bob's journal differ")
	}
}

// TestStoreStoppedMidRun: the store's server is stopped (pg_ctl stop -m
// fast) while a step runs; the run goes on locally and says since when it
// is not shared; when the server is started again the backlog is pushed,
// and store and local journal end byte-identical. The store is a cluster
// of the test's own (share_cluster_test.go): stopping the shared one
// would stop every other test's store.
func TestStoreStoppedMidRun(t *testing.T) {
	pg := startPrivateCluster(t)
	tm := newTeam(t, pg.dsn())
	ana := tm.machine("ana")
	a, aout := ana.start()
	waitFor(t, "the first step to write its marker", func() bool { return tm.count("marker") == 1 })
	pg.stop()
	if pg.answers() {
		t.Fatal("the store still answers after pg_ctl stop")
	}
	// The first step ends and the second begins with the store away.
	tm.release("release")
	waitFor(t, "the second step to run without the store", func() bool { return tm.count("second") == 1 })
	notice := regexp.MustCompile(`not shared since \d\d:\d\d \((\d+) events\)`)
	waitFor(t, "the notice that the run is not shared", func() bool { return notice.MatchString(aout.String()) })
	if n, _ := strconv.Atoi(notice.FindStringSubmatch(aout.String())[1]); n < 1 {
		t.Errorf("the notice counts %d events not shared:\n%s", n, aout)
	}
	local := len(ana.journal())
	pg.start()
	// The heartbeat pushes the backlog while the step still waits.
	var shared []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, shared = tm.storeJournal(); len(shared) >= local || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(shared) < local {
		t.Fatalf("the backlog was not pushed while the run went on: store has %d bytes, the local journal %d\n%s", len(shared), local, aout)
	}
	waitFor(t, "the notice that the store is back", func() bool { return strings.Contains(aout.String(), "the store is back") })
	tm.release("release2")
	if err := a.Wait(); err != nil {
		t.Fatalf("driver: %v\n%s", err, aout)
	}
	_, shared = tm.storeJournal()
	if !bytes.Equal(shared, ana.journal()) {
		t.Fatalf("store and local journal differ after the store came back:\nstore:\n%s\nlocal:\n%s", shared, ana.journal())
	}
	for file, want := range map[string]int{"marker": 1, "second": 1, "after": 1} {
		if n := tm.count(file); n != want {
			t.Errorf("%s ran %d times, want %d", file, n, want)
		}
	}
	if run := tm.storeRun(); run.State != "finished" || run.Lease == nil || !run.Lease.Released {
		t.Errorf("the store's run at the end: state %q, lease %+v; want finished and released", run.State, run.Lease)
	}
}

// TestShareFlagsNeedAStore: forcing a take-over means nothing without a
// store, and a lease timeout must be positive.
func TestShareFlagsNeedAStore(t *testing.T) {
	e := newCrashEnv(t)
	r := runbook(t, []string{"RUNBOOK_STORE="}, e.args("run", "--force-take-over", "ana")...)
	if r.code != exitUsage || !strings.Contains(r.err, "--force-take-over needs a shared-run store") {
		t.Fatalf("--force-take-over without a store: exit %d, stderr %q", r.code, r.err)
	}
	r = runbook(t, nil, e.args("run", "--store", "postgres://127.0.0.1:1/x", "--lease-timeout", "0s")...)
	if r.code != exitUsage || !strings.Contains(r.err, "--lease-timeout must be more than 0") {
		t.Fatalf("--lease-timeout 0: exit %d, stderr %q", r.code, r.err)
	}
	if lines(t, filepath.Join(e.work, "marker")) != 0 {
		t.Fatal("a refused command ran a step")
	}
}

// TestUIShowsWhoTookOver: a driver's terminal UI, idle, learns from its
// heartbeat that another operator forced the take-over; the header says
// who, and the session writes nothing more.
func TestUIShowsWhoTookOver(t *testing.T) {
	tm := newTeam(t, shareStoreDSN(t))
	tm.timeout = "1s"
	ana, bob := tm.machine("ana"), tm.machine("bob")
	uiArgs := append([]string{"tui"}, ana.args()[2:]...)
	s := newTmux(t, 140, 40, []string{"TERM=xterm-256color", "NO_COLOR=1"}, uiArgs...)
	s.waitScreen("ana's first frame", "Shared run test", "ana")
	before := ana.journal()
	r := runbook(t, nil, bob.args("--force-take-over", "ana", "--step", "after")...)
	if r.code != 0 {
		t.Fatalf("bob's forced take-over: exit %d\n%s%s", r.code, r.out, r.err)
	}
	s.waitScreen("ana's header to say who took over", "taken over by bob on")
	// A key that would run the step does nothing to the run.
	s.keys("Enter")
	time.Sleep(300 * time.Millisecond)
	if tm.count("marker") != 0 {
		t.Fatal("the UI taken over ran a step")
	}
	if !bytes.Equal(ana.journal(), before) {
		t.Fatalf("the UI taken over wrote its journal:\n%s", ana.journal())
	}
}

// TestRestartOnTheSameMachine: a driver killed and restarted on its own
// machine with --take-over takes its own lease back at once (its dead
// process held it), without waiting for the lease to expire.
func TestRestartOnTheSameMachine(t *testing.T) {
	tm := newTeam(t, shareStoreDSN(t))
	tm.timeout = "30s"
	ana := tm.machine("ana")
	a, _ := ana.start()
	waitFor(t, "ana's step to write its marker", func() bool { return tm.count("marker") == 1 })
	a.Process.Kill()
	a.Wait()
	killProcessesIn(t, ana.work)
	tm.release("release")
	tm.release("release2")
	r := runbook(t, nil, ana.args("--take-over", "--on-dirty=verify")...)
	if r.code != 0 {
		t.Fatalf("restart on the same machine: exit %d\n%s%s", r.code, r.out, r.err)
	}
	_, shared := tm.storeJournal()
	if !bytes.Equal(shared, ana.journal()) {
		t.Fatal("store and ana's journal differ")
	}
	if !strings.Contains(string(shared), "took the run over from ana on ") || tm.count("marker") != 1 {
		t.Fatalf("the restart did not take the dead process's lease, or ran the step again (marker %d):\n%s", tm.count("marker"), shared)
	}
}
