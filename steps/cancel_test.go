package steps_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/shell"
)

const cancelRunbook = `
id: cancel-test
title: Cancel test
schedule: {date: "2025-10-24", timezone: UTC, start: "08:00"}
phases:
  - id: p1
    title: One
    slot: "08:00-09:00"
    steps:
      - id: long
        title: A long shell step
        budget: 10m
        guide: g.md#g
        do:
          - name: wait for the child
            shell: {argv: [sh, -c, 'sleep 300 & echo "child $!"; wait']}
        verify:
          - name: always fine
            shell: {argv: ["true"]}
        undo:
          - shell: {argv: ["true"]}
`

// lines collects a session's output, and wakes whoever waits for a line.
type lines struct {
	mu   sync.Mutex
	got  []string
	wake chan struct{}
}

func (l *lines) add(_, line string) {
	l.mu.Lock()
	l.got = append(l.got, line)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// waitPrefix waits for a line that starts with prefix and returns it.
func (l *lines) waitPrefix(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for _, s := range l.got {
			if strings.HasPrefix(s, prefix) {
				l.mu.Unlock()
				return s
			}
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-deadline:
			t.Fatalf("no output line starting %q; got %q", prefix, l.got)
		}
	}
}

// gone reports whether process pid has ended (no such process, or a
// zombie waiting for a parent that is not us).
func gone(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func TestCancelKillsTheProcessGroupAndJournalsWho(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's /proc to see the child process; RUNBOOK_REQUIRE_SERVICES cannot bring it elsewhere")
	}
	reg := steps.NewRegistry()
	shell.Register(reg)
	rb, err := runbooks.Parse([]byte(cancelRunbook), "cancel.yaml", nil, runbooks.LoadOptions{Actions: reg, Guides: fstest.MapFS{"g.md": {Data: []byte("# G\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	clock := steps.NewFakeClock(time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC))
	out := &lines{wake: make(chan struct{}, 1)}
	sess, err := steps.Open(steps.Options{Runbook: rb, StateDir: t.TempDir(), Workspace: t.TempDir(), Clock: clock, Operator: "ana", Host: "h", Output: out.add})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	if err := sess.Cancel("long", "ben"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("cancel of a pending step: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Start(context.Background(), "long") }()
	child, err := strconv.Atoi(strings.TrimPrefix(out.waitPrefix(t, "child "), "child "))
	if err != nil {
		t.Fatal(err)
	}
	if got := sess.Running(); got != "long" {
		t.Fatalf("running %q", got)
	}
	clock.Advance(2 * time.Minute)
	if err := sess.Cancel("long", "ben"); err != nil {
		t.Fatal(err)
	}
	err = <-done
	var se *steps.StepError
	if !errors.As(err, &se) {
		t.Fatalf("start returned %v; want a *StepError", err)
	}
	if se.CancelledBy != "ben" || se.Status != steps.Failed || se.Action != `do "wait for the child"` {
		t.Fatalf("step error %+v", se)
	}
	if !strings.Contains(se.Error(), `cancelled by ben: do "wait for the child"`) {
		t.Fatalf("message %q does not name who and the action", se.Error())
	}
	if h := se.Hint(); h != "next: retry, verify, undo, mark done or skip" {
		t.Fatalf("hint %q", h)
	}
	// The whole group went: the shell's background child too.
	deadline := time.Now().Add(10 * time.Second)
	for !gone(child) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the cancelled shell still runs", child)
		}
		time.Sleep(20 * time.Millisecond)
	}

	evs, _, err := steps.ReadJournal(sess.JournalFile())
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Kind != steps.EvStepCancelled || last.Actor != "ben" || !strings.HasPrefix(last.Note, "cancel asked at 2025-10-24T08:02:00") {
		t.Fatalf("last record %+v", last)
	}
	st := sess.Snapshot().Step("long")
	if got := st.Elapsed(clock.Now().Add(time.Hour)); got != 2*time.Minute {
		t.Fatalf("elapsed %s; the cancelled attempt's 2m must count", got)
	}

	// The step now waits for a choice, like a dirty one.
	d, err := sess.Next("long", steps.Policy{})
	if err != nil || d.Op != steps.OpAsk {
		t.Fatalf("next %+v %v", d, err)
	}
	if got := steps.OpsText(d.Choices, d.Status); got != "retry, verify, undo, mark done or skip" {
		t.Fatalf("choices %q", got)
	}
	d, err = sess.Next("long", steps.Policy{OnDirty: steps.OpVerify})
	if err != nil || d.Op != steps.OpVerify {
		t.Fatalf("next %+v %v", d, err)
	}
	if err := sess.Do(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if st := sess.Snapshot().Step("long"); st.Status != steps.Succeeded || st.CancelledBy != "" {
		t.Fatalf("after verify: %s, cancelled by %q", st.Status, st.CancelledBy)
	}
}
