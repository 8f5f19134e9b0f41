package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
)

// The follower of a live driver: machine A runs a headless rehearsal of
// the shared-run fixture with the store, machine B (a state directory of
// its own, no local journal) follows it through the real binary in a
// pseudo-terminal. The release files pace the driver, so the test can
// look at the follower's screen between events.

// followLine is one record as the follow view writes it: "#SEQ HH:MM:SS
// what happened".
var followLine = regexp.MustCompile(`#(\d+) \d\d:\d\d:\d\d ([^│┃|]*)`)

// followSeen collects the records the follower's screens showed.
type followSeen struct {
	t    *testing.T
	text map[uint64]string
}

// add reads one screen: each record's words, by sequence. Within one
// screen (one step's lines, then the status line) the records come in
// the order they were written.
func (s *followSeen) add(what, scr string) {
	s.t.Helper()
	var last uint64
	for _, m := range followLine.FindAllStringSubmatch(scr, -1) {
		seq, _ := strconv.ParseUint(m[1], 10, 64)
		if seq < last {
			s.t.Errorf("%s: record #%d is shown after #%d:\n%s", what, seq, last, scr)
		}
		last = seq
		text := strings.TrimSpace(m[2])
		if len(text) > len(s.text[seq]) {
			s.text[seq] = text
		}
	}
}

// followWords is what the follow view must say of a record of each kind
// (besides its step).
var followWords = map[steps.EventKind]string{
	steps.EvRunStarted:    "run started by ana on ",
	steps.EvRunFinished:   "run finished",
	steps.EvStepStarted:   "started (attempt 1)",
	steps.EvStepVerifying: "verifying",
	steps.EvStepSucceeded: "succeeded",
	steps.EvCheckpoint:    "checkpoint",
}

// driverRecords reads the driver's local journal (an explicit --state
// holds a rehearsal's journal itself).
func driverRecords(t *testing.T, m *machine) []steps.Event {
	t.Helper()
	evs, _, err := steps.ReadJournal(filepath.Join(m.state, "share-test", "journal"))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestFollowALiveDriver: a follower on another machine sees every record
// a live driver journals, in order, as it is written, with who drives;
// after the driver ends, status from the store on the follower's machine
// equals the driver's own status, and the follower sees the lease
// released.
func TestFollowALiveDriver(t *testing.T) {
	tm := newTeam(t, shareStoreDSN(t))
	ana, bob := tm.machine("ana"), tm.machine("bob")
	a, aout := ana.start("--rehearsal")
	exited := make(chan error, 1)
	go func() { exited <- a.Wait() }()
	waitFor(t, "ana's first step to write its marker", func() bool { return tm.count("marker") == 1 })

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	r := newUIRun(t, 160, 60, "follow", "-f", tm.fixture, "--state", bob.state, "--store", tm.dsn, "--rehearsal",
		"--target", "dir="+tm.world, "--operator", "bob")
	drives := "ana on " + host + " (pid " + strconv.Itoa(a.Process.Pid) + ") drives"
	seen := &followSeen{t: t, text: map[uint64]string{}}
	// caughtUp waits until the follower shows as many records as the
	// driver has journaled, the driver's journal read afresh each time
	// (it may still be writing), and reads that screen.
	caughtUp := func(what string, want ...string) []steps.Event {
		t.Helper()
		var evs []steps.Event
		var scr string
		deadline := time.Now().Add(30 * time.Second)
		for {
			evs = driverRecords(t, ana)
			scr = r.screen()
			ok := len(evs) > 0 && strings.Contains(scr, " · "+strconv.Itoa(len(evs))+" records")
			for _, w := range want {
				ok = ok && strings.Contains(scr, w)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the follower did not catch up with the driver's %d records (%q); screen:\n%s\ndriver:\n%s", what, len(evs), want, scr, aout)
			}
			time.Sleep(20 * time.Millisecond)
		}
		seen.add(what, scr)
		return evs
	}

	// The driver waits in mark: the follower shows what it journaled so
	// far and who drives.
	evs := caughtUp("mark in flight", "FOLLOWING read-only", drives, "Shared run test", "mark started (attempt 1)")
	if last := evs[len(evs)-1]; last.Kind != steps.EvStepStarted || last.Step != "mark" {
		t.Fatalf("the driver waits in mark, but its journal ends with %+v", last)
	}
	r.keys("Enter")
	r.waitScreen("enter refused", "follow mode: read-only — ana on "+host+" drives")

	// mark ends and second starts, in the follower's screen as in the
	// driver's journal.
	tm.release("release")
	waitFor(t, "ana's second step", func() bool { return tm.count("second") == 1 })
	evs = caughtUp("second in flight", drives, "Output · second", "second started (attempt 1)")
	if last := evs[len(evs)-1]; last.Kind != steps.EvStepStarted || last.Step != "second" {
		t.Fatalf("the driver waits in second, but its journal ends with %+v", last)
	}
	// mark's end went under mark: look at it, then come back.
	r.keys("Up")
	seen.add("mark's lines", r.waitScreen("mark's lines", "mark succeeded"))
	r.keys("Down")
	r.waitScreen("back on second", "second started (attempt 1)")

	// The rest of the run, to its end; the driver releases its lease.
	tm.release("release2")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the driver: %v\n%s", err, aout)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the driver did not finish:\n%s", aout)
	}
	evs = caughtUp("the end of the run", "run finished", "Timeline · 3/3 done", "nobody drives (ana released it)")
	if last := evs[len(evs)-1]; last.Kind != steps.EvRunFinished {
		t.Fatalf("the driver's journal ends with %+v", last)
	}
	if strings.Contains(r.screen(), drives) {
		t.Errorf("the follower still shows ana driving after the release:\n%s", r.screen())
	}
	// Every step's lines, from the last to the first (where the selection
	// stands at the end depends on how the last records were batched).
	r.keys("Down", "Down")
	seen.add("after's lines", r.waitScreen("after's lines", "Output · after", "after succeeded", "after started (attempt 1)"))
	for _, s := range []string{"second", "mark"} {
		r.keys("Up")
		seen.add(s+"'s lines", r.waitScreen(s+"'s lines", "Output · "+s, s+" succeeded", s+" started (attempt 1)"))
	}
	t.Logf("the follower showed %d records of the driver's %d", len(seen.text), len(evs))

	// Every record the driver journaled was on the follower's screen, in
	// the driver's words.
	if len(seen.text) != len(evs) {
		t.Errorf("the follower showed %d records, the driver journaled %d", len(seen.text), len(evs))
	}
	for _, ev := range evs {
		text, ok := seen.text[ev.Seq]
		if !ok {
			t.Errorf("record #%d (%s %s) never showed on the follower's screen", ev.Seq, ev.Kind, ev.Step)
			continue
		}
		if !strings.Contains(text, ev.Step) || !strings.Contains(text, followWords[ev.Kind]) {
			t.Errorf("record #%d (%s %s) shows as %q", ev.Seq, ev.Kind, ev.Step, text)
		}
	}

	// status from the store on the follower's machine (no journal there)
	// is the driver's own, but for where the records are and the lease
	// (which only the store holds).
	fromDriver := runbook(t, nil, "status", "--json", "-f", tm.fixture, "--state", ana.state, "--rehearsal", "--target", "dir="+tm.world)
	fromStore := runbook(t, nil, "status", "--json", "-f", tm.fixture, "--state", bob.state, "--store", tm.dsn, "--rehearsal", "--target", "dir="+tm.world)
	if fromDriver.code != 0 || fromStore.code != 0 {
		t.Fatalf("status: exit %d / %d\n%s\n%s", fromDriver.code, fromStore.code, fromDriver.err, fromStore.err)
	}
	if _, err := os.Stat(filepath.Join(bob.state, "share-test", "journal")); err == nil {
		t.Errorf("the follower's machine has a journal of its own")
	}
	var da, sb map[string]any
	if err := json.Unmarshal([]byte(fromDriver.out), &da); err != nil {
		t.Fatalf("driver's status --json: %v\n%s", err, fromDriver.out)
	}
	if err := json.Unmarshal([]byte(fromStore.out), &sb); err != nil {
		t.Fatalf("status --json from the store: %v\n%s", err, fromStore.out)
	}
	if j, _ := sb["journal"].(string); !strings.HasPrefix(j, "store run ") {
		t.Errorf("status --json from the store names its journal %v", sb["journal"])
	}
	lease, _ := sb["lease"].(map[string]any)
	if lease["holder"] != "ana" || lease["host"] != host || lease["released"] != true {
		t.Errorf("status --json from the store: lease %v", sb["lease"])
	}
	if da["finished"] != true || da["done"] != float64(3) || da["total"] != float64(3) {
		t.Errorf("the driver's status: finished %v, %v/%v done", da["finished"], da["done"], da["total"])
	}
	for _, k := range []string{"journal", "lease", "lock"} {
		delete(da, k)
		delete(sb, k)
	}
	ja, _ := json.Marshal(da)
	jb, _ := json.Marshal(sb)
	if string(ja) != string(jb) {
		t.Errorf("status --json differs:\n--- driver\n%s\n--- store, from the follower's machine\n%s", ja, jb)
	}

	r.keys("q")
	if code := r.exitCode("q"); code != "0" {
		t.Errorf("follow exited %s", code)
	}
}
