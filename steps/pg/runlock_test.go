package pg

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunLockOneSessionPerDatabase(t *testing.T) {
	dsn := adminDSN(t)
	adminConn(t) // fail or skip early when the server is not there
	env, _ := testEnv(t, dsn)
	rbID := randName("runlock")
	first, err := HoldRunLock(context.Background(), env, "db", rbID, "ana on host-a (pid 11) since 08:00")
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	_, err = HoldRunLock(context.Background(), env, "db", rbID, "bob on host-b (pid 22) since 08:05")
	var held *RunLockHeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "ana on host-a (pid 11) since 08:00") {
		t.Fatalf("second lock: %v, want refused naming the first holder", err)
	}
	// Another runbook's lock on the same database is independent.
	other, err := HoldRunLock(context.Background(), env, "db", rbID+"x", "bob")
	if err != nil {
		t.Fatalf("lock of another runbook: %v", err)
	}
	other.Release()
	first.Release()
	again, err := HoldRunLock(context.Background(), env, "db", rbID, "bob on host-b (pid 22) since 08:05")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again.Release()
}

func TestRunLockUnreachableDatabaseIsAnError(t *testing.T) {
	env, _ := testEnv(t, "postgres://u:pw-not-shown@127.0.0.1:1/x?connect_timeout=2")
	_, err := HoldRunLock(context.Background(), env, "db", "rb", "ana")
	var held *RunLockHeldError
	if err == nil || errors.As(err, &held) || strings.Contains(err.Error(), "pw-not-shown") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable: %v", err)
	}
}
