package main

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps/steptest"
)

// shareTargetDB creates a database of the test's own on the test
// PostgreSQL (RUNBOOK_TEST_PGDSN), for a step to migrate, and returns its
// DSN; it is dropped at the end.
func shareTargetDB(t *testing.T) string {
	t.Helper()
	dsn, _ := steptest.PostgresDatabase(t, "rb_share_apply_")
	return dsn
}

// migrationGate is the advisory lock the fixture's second migration
// waits on (testdata/cli/share-apply/db/migrations/0002_gate.up.sql).
const migrationGate = 731001

// TestTakeOverMidApply: the driver is killed in the middle of a step that
// brought up a compose project, applied a migration and waits inside the
// second one. The other machine takes over once the lease has expired,
// sees the step dirty, verifies it (the killed migration was rolled back,
// so verify fails), retries it and completes the run. Counted at the end:
// each migration applied once (the version table and the rows each one
// inserts), the compose project's container created and started once,
// one checkpoint per step.
func TestTakeOverMidApply(t *testing.T) {
	api := requireLabEngine(t)
	db := shareTargetDB(t)
	tm := newTeamOf(t, shareStoreDSN(t), "share-apply.yaml", "share-apply-test", "share-apply")
	buildCancelProbe(t, api)
	project := "rbt-share-" + token()
	t.Cleanup(func() { removeProject(t, api, project) })
	tm.targets = []string{"db=" + db, "project=" + project}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		tm.targets = append(tm.targets, "docker="+h)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	applied := func() map[int]int {
		t.Helper()
		out := map[int]int{}
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass('applied') IS NOT NULL").Scan(&exists); err != nil || !exists {
			return out
		}
		rows, err := conn.Query(ctx, "SELECT version, count(*) FROM applied GROUP BY version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v, n int
			if err := rows.Scan(&v, &n); err != nil {
				t.Fatal(err)
			}
			out[v] = n
		}
		return out
	}
	version := func() string {
		t.Helper()
		var v int64
		var dirty bool
		if err := conn.QueryRow(ctx, "SELECT version, dirty FROM runbook_schema_version").Scan(&v, &dirty); err != nil {
			t.Fatal(err)
		}
		return strconv.FormatInt(v, 10) + map[bool]string{true: " dirty", false: ""}[dirty]
	}
	others := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The test holds the gate: the second migration waits on it.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationGate); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Second)

	ana, bob := tm.machine("ana"), tm.machine("bob")
	a, aout := ana.start()
	waitFor(t, "ana's second migration to wait at the gate", func() bool {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND objid::bigint = $1`, migrationGate).Scan(&n)
		return err == nil && n == 1
	})
	if got := applied(); got[1] != 1 || got[2] != 0 || version() != "1" {
		t.Fatalf("mid-step, before the kill: applied %v at version %s; want migration 1 committed, 2 in flight\n%s", got, version(), aout)
	}
	box := projectContainers(t, api, project)
	if len(box) != 1 {
		t.Fatalf("ana's compose apply made %d containers, want 1", len(box))
	}
	if err := a.Process.Kill(); err != nil { // SIGKILL, mid-migration
		t.Fatal(err)
	}
	a.Wait()
	killProcessesIn(t, ana.work)
	// The gate opens: the killed driver's session finds its client gone
	// at its next read and PostgreSQL rolls its transaction back.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", migrationGate); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed driver's database session to end", func() bool { return others() == 0 })
	if got := applied(); got[1] != 1 || got[2] != 0 || version() != "1" {
		t.Fatalf("after the kill: applied %v at version %s; want the half-applied migration 2 rolled back", got, version())
	}

	// Once the lease has expired bob takes over: the step is dirty; its
	// verify finds the schema at version 1, so the step fails, and bob's
	// next run retries it.
	deadline := time.Now().Add(30 * time.Second)
	var r result
	for {
		r = runbook(t, nil, bob.args("--take-over", "--on-dirty=verify")...)
		if r.code != exitLocked || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.code != exitFailed || !strings.Contains(r.out, "apply DIRTY") || !strings.Contains(r.out, "verify 2 (pg.query)") {
		t.Fatalf("take-over with --on-dirty=verify: exit %d, want 1 after the dirty step's verify failed\n%s%s", r.code, r.out, r.err)
	}
	r = runbook(t, nil, bob.args()...)
	if r.code != 0 || !strings.Contains(r.out, "run finished") {
		t.Fatalf("bob's retry: exit %d\n%s%s", r.code, r.out, r.err)
	}

	// Counted: each migration once, the container created and started
	// once (compose found it up to date on the retry), one checkpoint per
	// step, the last step once.
	if got := applied(); len(got) != 2 || got[1] != 1 || got[2] != 1 {
		t.Errorf("migrations applied %v, want each of 1 and 2 once", got)
	}
	if v := version(); v != "2" {
		t.Errorf("schema version %s, want 2", v)
	}
	if after := projectContainers(t, api, project); len(after) != 1 || after[0] != box[0] {
		t.Errorf("the project's containers at the end: %v; want ana's %v, never recreated", after, box)
	}
	ev := projectEvents(t, api, project, since)
	if ev["create"] != 1 || ev["start"] != 1 {
		t.Errorf("the project's container events: %v; want one create and one start", ev)
	}
	if n := tm.count("after"); n != 1 {
		t.Errorf("after ran %d times, want 1", n)
	}
	_, shared := tm.storeJournal()
	if string(shared) != string(bob.journal()) {
		t.Fatalf("store and bob's journal differ:\nstore:\n%s\nbob:\n%s", shared, bob.journal())
	}
	if !strings.HasPrefix(string(shared), string(ana.journal())) {
		t.Errorf("ana's journal is not a prefix of the shared run's")
	}
	j := string(shared)
	for _, want := range []string{"k=step.dirty\ts=apply", "took the run over from ana on ", "k=run.finished"} {
		if !strings.Contains(j, want) {
			t.Errorf("shared journal lacks %q:\n%s", want, j)
		}
	}
	cps := checkpointsPerStep(shared)
	for _, s := range []string{"apply", "after"} {
		if cps[s] != 1 {
			t.Errorf("step %s has %d checkpoint records, want 1 (%v)", s, cps[s], cps)
		}
	}
}

// projectContainers lists the ids of a compose project's containers.
func projectContainers(t *testing.T, api *client.Client, project string) []string {
	t.Helper()
	f := client.Filters{}
	f.Add("label", "com.docker.compose.project="+project)
	list, err := api.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list.Items {
		ids = append(ids, c.ID)
	}
	return ids
}

// projectEvents counts the container events (create, start, ...) of a
// compose project from since until now.
func projectEvents(t *testing.T, api *client.Client, project string, since time.Time) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f := client.Filters{}
	f.Add("type", "container")
	f.Add("label", "com.docker.compose.project="+project)
	res := api.Events(ctx, client.EventsListOptions{
		Since: strconv.FormatInt(since.Unix(), 10), Until: strconv.FormatInt(time.Now().Unix()+1, 10), Filters: f,
	})
	out := map[string]int{}
	for {
		select {
		case m, ok := <-res.Messages:
			if !ok {
				return out
			}
			out[string(m.Action)]++
		case err := <-res.Err:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("docker events of %s: %v", project, err)
			}
			return out
		}
	}
}

// removeProject removes what compose made for a project.
func removeProject(t *testing.T, api *client.Client, project string) {
	ctx := context.Background()
	for _, id := range projectContainers(t, api, project) {
		_, _ = api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
	}
	f := client.Filters{}
	f.Add("label", "com.docker.compose.project="+project)
	if list, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
		for _, n := range list.Items {
			_, _ = api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		}
	}
}
