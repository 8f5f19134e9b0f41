package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/steptest"
)

// cancelEnv is one cancel test's fixture, state directory and workspace.
type cancelEnv struct {
	id, fixture, state, work string
}

func newCancelEnv(t *testing.T, id, fixture string) cancelEnv {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("../../testdata/cli", fixture))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := cancelEnv{id: id, fixture: abs, state: filepath.Join(dir, "state"), work: filepath.Join(dir, "work")}
	if err := os.MkdirAll(e.work, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, e.work, "init", "-q")
	git(t, e.work, "commit", "-q", "--allow-empty", "-m", "before")
	return e
}

// ui starts the terminal UI on the fixture, held today, as operator tester.
func (e cancelEnv) ui(t *testing.T, targets ...string) uiRun {
	t.Helper()
	args := []string{"--date", "today", "-f", e.fixture, "--state", e.state, "--workspace", e.work, "--operator", "tester"}
	for _, tv := range targets {
		args = append(args, "--target", tv)
	}
	return newUIRun(t, 120, 40, args...)
}

func (e cancelEnv) events(t *testing.T) []steps.Event {
	t.Helper()
	evs, _, err := steps.ReadJournal(filepath.Join(e.state, e.id, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// cancelOf returns the journal's cancel record of step, or fails naming
// the records the journal holds for it.
func (e cancelEnv) cancelOf(t *testing.T, step string) steps.Event {
	t.Helper()
	var seen []string
	for _, ev := range e.events(t) {
		if ev.Step != step {
			continue
		}
		seen = append(seen, ev.Kind.String())
		if ev.Kind == steps.EvStepCancelled {
			if ev.Actor != "tester" || ev.At.IsZero() {
				t.Fatalf("the cancel of %s does not name the operator tester: %+v", step, ev)
			}
			return ev
		}
	}
	t.Fatalf("the journal has no %s record of %s; its records of it: %v", steps.EvStepCancelled, step, seen)
	return steps.Event{}
}

func token() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// x, then y, cancels a step sleeping in the database: the journal records
// who cancelled, and the query is cancelled on the server, not left to
// sleep out its ten minutes.
func TestUICancelRunningSQLSleep(t *testing.T) {
	dsn := steptest.PostgresDSN(t)
	// The step's sessions carry this test's own application_name, so the
	// test finds its query among whatever else the server runs.
	app := "rbt-cancel-" + token()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	stepDSN := dsn + sep + "application_name=" + app

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() {
		// Whatever happened, leave no sleeper behind.
		_, _ = conn.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app)
		conn.Close(context.Background())
	})
	sleeping := func() int {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()`, app).Scan(&n)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		return n
	}

	e := newCancelEnv(t, "cancel-sql-test", "cancel-sql.yaml")
	r := e.ui(t, "db="+stepDSN)
	r.waitScreen("the first frame", "Cancel a SQL sleep", "enter run")
	r.keys("Enter")
	waitFor(t, "the step's pg_sleep in pg_stat_activity", func() bool { return sleeping() == 1 })
	r.keys("x")
	r.waitScreen("the cancel question", "Cancel sleep?", "y yes")
	r.keys("y")
	// A cancel that only gave up waiting would leave the query running
	// on the server for the rest of its ten minutes.
	for end := time.Now().Add(5 * time.Second); sleeping() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the cancelled step's pg_sleep still runs on the server; screen:\n%s", r.screen())
		}
	}
	r.waitScreen("the cancelled step", "sleep cancelled")
	e.cancelOf(t, "sleep")
	r.keys("q")
	if code := r.exitCode("q after the cancel"); code != "0" {
		t.Errorf("exit %s after quitting an idle UI, want 0", code)
	}
}

// cancelProbeImage is built from the docker actions' probe program: a
// static binary in an image FROM scratch, so no registry is needed.
const cancelProbeImage = "runbook-probe:cli-cancel-test"

func buildCancelProbe(t *testing.T, api *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", probe, "../../steps/docker/testdata/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v: %s", err, out)
	}
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\"]\nCMD [\"serve\"]\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"probe", 0o755, data}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := api.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{cancelProbeImage}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("build the probe image: %v", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var msg struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Error != "" {
			t.Fatalf("build the probe image: %s", msg.Error)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("build the probe image: %v", err)
	}
}

// x, then y, cancels a docker wait on a container whose health check
// always fails: the journal records who cancelled, and the step ends
// at once instead of at the wait's ten-minute timeout.
func TestUICancelRunningDockerWait(t *testing.T) {
	api := requireLabEngine(t)
	buildCancelProbe(t, api)
	ctx := context.Background()
	name := "rbt-cancel-wait-" + token()
	cfg := &container.Config{
		Image: cancelProbeImage,
		Env:   []string{"PROBE_UNHEALTHY=1"},
		Healthcheck: &container.HealthConfig{
			Test: []string{"CMD", "/probe", "health"}, Interval: 200 * time.Millisecond,
			Timeout: 2 * time.Second, Retries: 1,
		},
	}
	res, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: &container.HostConfig{}})
	if err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = api.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := api.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start container %s: %v", name, err)
	}

	e := newCancelEnv(t, "cancel-docker-test", "cancel-docker.yaml")
	targets := []string{"box=" + name}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		targets = append(targets, "docker="+h)
	}
	r := e.ui(t, targets...)
	r.waitScreen("the first frame", "Cancel a docker wait", "enter run")
	r.keys("Enter")
	r.waitScreen("the wait running", "waiting for", "unhealthy")
	r.keys("x")
	r.waitScreen("the cancel question", "Cancel await?", "y yes")
	asked := time.Now()
	r.keys("y")
	r.waitScreen("the cancelled step", "await cancelled", "Next: r retry")
	ev := e.cancelOf(t, "await")
	// The cancel is the step's end record, written when the wait stopped:
	// within seconds of y, not at the wait's timeout.
	if d := ev.At.Sub(asked); d > 5*time.Second {
		t.Fatalf("the step ended %s after the cancel: %+v", d, ev)
	}
	if !strings.Contains(ev.Err, "wait for container "+name) {
		t.Errorf("the cancel record does not say which wait it stopped: %q", ev.Err)
	}
	r.keys("q")
	if code := r.exitCode("q after the cancel"); code != "0" {
		t.Errorf("exit %s after quitting an idle UI, want 0", code)
	}
}
