package steps

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const lockChildEnv = "RUNBOOK_TEST_LOCK_CHILD_DIR"

// TestLockChildProcess is not a test: it is the body of the child process
// the lock tests start (the test binary run again). It takes the lock, says
// so on stdout, and waits to be killed.
func TestLockChildProcess(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("helper process for the lock tests: runs only as their child, with RUNBOOK_TEST_LOCK_CHILD_DIR set")
	}
	host, _ := os.Hostname()
	if _, err := AcquireLock(dir, LockInfo{Holder: "child", Host: host, PID: os.Getpid(), Since: t0}, false); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin) // until the parent kills us
	os.Exit(0)
}

// startLockHolder starts a child process holding the lock in dir and
// returns it once the lock is taken.
func startLockHolder(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChildProcess$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lock holder: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("lock holder said %q (%v)", line, err)
	}
	return cmd
}

func me(t *testing.T) LockInfo {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return LockInfo{Holder: "ana", Host: host, PID: os.Getpid(), Since: time.Date(2025, 10, 24, 8, 0, 0, 0, time.UTC)}
}

func TestLockRefusesSecondHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first := me(t)
	l, err := AcquireLock(dir, first, false)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "lock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v %v", fi, err)
	}

	second := first
	second.Holder, second.PID = "ben", first.PID+1
	for _, takeOver := range []bool{false, true} {
		_, err := AcquireLock(dir, second, takeOver)
		var le *LockedError
		if !errors.As(err, &le) {
			t.Fatalf("takeOver=%v: %v; want *LockedError", takeOver, err)
		}
		if le.Stale || le.Foreign || le.Info != first {
			t.Fatalf("takeOver=%v: %+v; want the live holder %+v", takeOver, le, first)
		}
		msg := err.Error()
		for _, want := range []string{"ana", first.Host, fmt.Sprintf("pid %d", first.PID), "2025-10-24 08:00:00"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not name %q", msg, want)
			}
		}
	}

	info, held, err := ReadLock(dir)
	if err != nil || !held || info != first {
		t.Fatalf("ReadLock while held: %+v %v %v", info, held, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	info, held, err = ReadLock(dir)
	if err != nil || held || info.PID != 0 {
		t.Fatalf("ReadLock after release: %+v %v %v", info, held, err)
	}
	l2, err := AcquireLock(dir, second, false)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	child := startLockHolder(t, dir)
	pid := child.Process.Pid

	info, held, err := ReadLock(dir)
	if err != nil || !held || info.PID != pid || info.Holder != "child" {
		t.Fatalf("ReadLock: %+v held=%v %v", info, held, err)
	}
	// A live holder is never taken over, even when asked.
	for _, takeOver := range []bool{false, true} {
		_, err := AcquireLock(dir, me(t), takeOver)
		var le *LockedError
		if !errors.As(err, &le) || le.Stale || le.Info.PID != pid {
			t.Fatalf("takeOver=%v: %v", takeOver, err)
		}
	}

	// The holder dies without releasing: the lock is stale.
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	info, held, err = ReadLock(dir)
	if err != nil || held || info.PID != pid {
		t.Fatalf("ReadLock after the holder died: %+v held=%v %v", info, held, err)
	}
	_, err = AcquireLock(dir, me(t), false)
	var le *LockedError
	if !errors.As(err, &le) || !le.Stale || le.Info.PID != pid {
		t.Fatalf("stale lock without take-over: %v; want a stale *LockedError", err)
	}
	if !strings.Contains(err.Error(), "no longer running") || !strings.Contains(err.Error(), "--take-over") {
		t.Errorf("message %q", err)
	}
	l, err := AcquireLock(dir, me(t), true)
	if err != nil {
		t.Fatalf("take over: %v", err)
	}
	defer l.Release()
	info, held, err = ReadLock(dir)
	if err != nil || !held || info != me(t) {
		t.Fatalf("after take-over: %+v held=%v %v", info, held, err)
	}
}

func TestLockForeignHost(t *testing.T) {
	dir := t.TempDir()
	other := LockInfo{Holder: "carl", Host: "some-other-host.invalid", PID: 1, Since: t0}
	l, err := AcquireLock(dir, other, false)
	if err != nil {
		t.Fatal(err)
	}
	// Leave the record behind as a process on that host would if it
	// vanished: drop the flock, keep the file.
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()

	_, err = AcquireLock(dir, me(t), false)
	var le *LockedError
	if !errors.As(err, &le) || !le.Foreign || le.Stale || le.Info != other {
		t.Fatalf("foreign lock: %v", err)
	}
	if !strings.Contains(err.Error(), "another host") {
		t.Errorf("message %q", err)
	}
	l, err = AcquireLock(dir, me(t), true)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
}

func TestLockOwnStaleRecord(t *testing.T) {
	// This very process left a record and lost the flock (it crashed and
	// came back with the same pid): stale, never silently reused.
	dir := t.TempDir()
	l, err := AcquireLock(dir, me(t), false)
	if err != nil {
		t.Fatal(err)
	}
	l.f.Close()
	_, err = AcquireLock(dir, me(t), false)
	var le *LockedError
	if !errors.As(err, &le) || !le.Stale {
		t.Fatalf("%v", err)
	}
}

func TestReadLockNoLock(t *testing.T) {
	info, held, err := ReadLock(t.TempDir())
	if err != nil || held || info != (LockInfo{}) {
		t.Fatalf("%+v %v %v", info, held, err)
	}
}
