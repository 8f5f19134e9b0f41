package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// rollbackArgs are the machine's arguments for `runbook rollback --to
// start` on the same run (the same store, state and workspace).
func (m *machine) rollbackArgs() []string {
	a := m.args("--to", "start")
	return append([]string{"rollback"}, a[2:]...) // not "run --headless"
}

// join opens the team's run on this machine (its journal from the
// store, and what the store keeps of the steps' save directories).
func (m *machine) join(t *testing.T) {
	t.Helper()
	git(t, m.work, "fetch", "-q", "origin")
	git(t, m.work, "merge", "-q", "--ff-only", "origin/main")
	id, _ := m.team.storeJournal()
	r := runbook(t, nil, m.args("--run", id)...)
	if r.code != 0 || !strings.Contains(r.out, "run finished") {
		t.Fatalf("%s joins run %s: exit %d\n%s%s", m.operator, id, r.code, r.out, r.err)
	}
}

// revertDB is the fixture database's state: the schema version (-1: no
// version table) and the rows the migrations insert (-1: no table).
func revertDB(t *testing.T, dsn string) (version int64, rows int) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	version, rows = -1, -1
	var ok bool
	if c.QueryRow(ctx, "SELECT to_regclass('runbook_schema_version') IS NOT NULL").Scan(&ok); ok {
		if err := c.QueryRow(ctx, "SELECT version FROM runbook_schema_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
	}
	if c.QueryRow(ctx, "SELECT to_regclass('items') IS NOT NULL").Scan(&ok); ok {
		if err := c.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&rows); err != nil {
			t.Fatal(err)
		}
	}
	return version, rows
}

// TestRollbackOnAnotherMachineRevertsTheMigration: ana's run migrates a
// database (its do saves the version it started from, for the revert)
// and ends; bob opens the run from the store and rolls it back. The
// saved version followed the run through the store, so the migration is
// really reverted (the version table back to 0, the rows gone), and the
// shell step is undone too.
func TestRollbackOnAnotherMachineRevertsTheMigration(t *testing.T) {
	db := shareTargetDB(t)
	tm := newTeamOf(t, shareStoreDSN(t), "share-revert.yaml", "share-revert-test", "share-revert")
	tm.targets = []string{"db=" + db}
	ana, bob := tm.machine("ana"), tm.machine("bob")
	r := runbook(t, nil, ana.args()...)
	if r.code != 0 || !strings.Contains(r.out, "run finished") {
		t.Fatalf("ana's run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if v, n := revertDB(t, db); v != 2 || n != 3 {
		t.Fatalf("after ana's run: version %d, %d rows; want 2 and 3", v, n)
	}
	if strings.Contains(string(ana.journal()), "\"version\"") {
		t.Fatalf("a saved file reached the journal:\n%s", ana.journal())
	}
	bob.join(t)
	r = runbook(t, nil, bob.rollbackArgs()...)
	if r.code != 0 || !strings.Contains(r.out, "rollback to start finished") {
		t.Fatalf("bob's rollback: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if v, n := revertDB(t, db); v != 0 || n != -1 {
		t.Fatalf("after bob's rollback: version %d, rows %d; want version 0 and no items table (reverted)\n%s", v, n, r.out)
	}
	if strings.Contains(r.out, "nothing to revert") {
		t.Fatalf("bob's undo found nothing saved:\n%s", r.out)
	}
	if n := tm.count("undone-after"); n != 1 {
		t.Errorf("the shell step's undo ran %d times, want 1", n)
	}
	if _, shared := tm.storeJournal(); !strings.Contains(string(shared), "k=undo.finished\ts=migrate") {
		t.Errorf("the shared journal lacks the migrate step's undo:\n%s", shared)
	}
}

// TestRollbackOnAnotherMachineRefusedWithoutSavedFiles: the same, but the
// store has no copy of what the do saved (dropped here, as from a store
// an older driver wrote): bob's rollback undoes the shell step, which
// saved nothing, then refuses the migrate step, naming where the files
// were and where to copy them, and leaves the database as it is. Once
// the operator copies ana's saved/migrate over, the rollback reverts it.
func TestRollbackOnAnotherMachineRefusedWithoutSavedFiles(t *testing.T) {
	db := shareTargetDB(t)
	tm := newTeamOf(t, shareStoreDSN(t), "share-revert.yaml", "share-revert-test", "share-revert")
	tm.targets = []string{"db=" + db}
	ana, bob := tm.machine("ana"), tm.machine("bob")
	r := runbook(t, nil, ana.args()...)
	if r.code != 0 {
		t.Fatalf("ana's run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, tm.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "DELETE FROM runbook.saved"); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	bob.join(t)
	r = runbook(t, nil, bob.rollbackArgs()...)
	out := r.out + r.err
	if r.code == 0 || !strings.Contains(out, "refusing to undo") || !strings.Contains(out, "saved/migrate") {
		t.Fatalf("bob's rollback without the saved files: exit %d\n%s", r.code, out)
	}
	dst := filepath.Join(bob.state, "share-revert-test", "saved", "migrate")
	if !strings.Contains(out, dst) {
		t.Fatalf("the refusal does not say where to copy the files (%s):\n%s", dst, out)
	}
	if v, n := revertDB(t, db); v != 2 || n != 3 {
		t.Fatalf("after the refusal: version %d, %d rows; want the database untouched", v, n)
	}
	if n := tm.count("undone-after"); n != 1 {
		t.Errorf("the shell step (it saved nothing) was undone %d times, want 1", n)
	}

	// The operator copies the directory from ana's machine.
	src := filepath.Join(ana.state, "share-revert-test", "saved", "migrate")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	r = runbook(t, nil, bob.rollbackArgs()...)
	if r.code != 0 {
		t.Fatalf("bob's rollback with the copied files: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if v, n := revertDB(t, db); v != 0 || n != -1 {
		t.Fatalf("after the rollback with the copied files: version %d, rows %d; want reverted", v, n)
	}
}

// TestRollbackOnAFreshMachineReadsTheStore: bob has never opened ana's
// run; with the team's store configured, `rollback --to start` reads the
// run from the store, restores it here and reverts it, with no
// `run --run ID` first.
func TestRollbackOnAFreshMachineReadsTheStore(t *testing.T) {
	db := shareTargetDB(t)
	tm := newTeamOf(t, shareStoreDSN(t), "share-revert.yaml", "share-revert-test", "share-revert")
	tm.targets = []string{"db=" + db}
	ana, bob := tm.machine("ana"), tm.machine("bob")
	if r := runbook(t, nil, ana.args()...); r.code != 0 || !strings.Contains(r.out, "run finished") {
		t.Fatalf("ana's run: exit %d\n%s%s", r.code, r.out, r.err)
	}
	// Bob's workspace follows the team's; his state directory has no run.
	git(t, bob.work, "fetch", "-q", "origin")
	git(t, bob.work, "merge", "-q", "--ff-only", "origin/main")
	if _, err := os.Stat(filepath.Join(bob.state, "share-revert-test")); !os.IsNotExist(err) {
		t.Fatalf("bob's state already holds the run: %v", err)
	}
	dry := runbook(t, nil, append(bob.rollbackArgs(), "--dry-run")...)
	if dry.code != 0 || !strings.Contains(dry.out, "would undo 2 step(s)") {
		t.Fatalf("bob's dry run from the store: exit %d\n%s%s", dry.code, dry.out, dry.err)
	}
	r := runbook(t, nil, bob.rollbackArgs()...)
	if r.code != 0 || !strings.Contains(r.out, "rollback to start finished") {
		t.Fatalf("bob's rollback from a fresh machine: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if v, n := revertDB(t, db); v != 0 || n != -1 {
		t.Fatalf("after bob's rollback: version %d, rows %d; want version 0 and no items table\n%s", v, n, r.out)
	}
	if _, shared := tm.storeJournal(); !strings.Contains(string(shared), "k=undo.finished\ts=migrate") {
		t.Errorf("the shared journal lacks the migrate step's undo:\n%s", shared)
	}
}
