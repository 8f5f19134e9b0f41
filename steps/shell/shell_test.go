package shell

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/steptest"
)

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// A cancelled shell action kills its whole process group: a background
// child of the command goes too, not only the direct child.
func TestCancelKillsTheProcessGroup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux's /proc to see processes; RUNBOOK_REQUIRE_SERVICES cannot bring it elsewhere")
	}
	out := &steptest.Buffer{}
	env := &steps.Env{Out: out, Redact: steps.NewRedactor(), Workspace: t.TempDir(), Clock: steps.SystemClock{}}
	a := &Exec{Argv: []string{"sh", "-c", "sleep 600 & echo child $!; wait"}}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, env) }()
	pid := 0
	deadline := time.Now().Add(20 * time.Second)
	for pid == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no child pid in the output: %q", out.String())
		}
		for _, l := range strings.Split(out.String(), "\n") {
			if n, ok := strings.CutPrefix(l, "child "); ok {
				pid, _ = strconv.Atoi(strings.TrimSpace(n))
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !alive(pid) {
		t.Fatalf("background child %d is not running", pid)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled command succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the action did not return after its cancel")
	}
	deadline = time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still runs after the cancel", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
