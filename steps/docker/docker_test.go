package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/steptest"
)

const planted = "pl4nted-s3cret-Zq9" // a secret value put into containers

func noSecret(t *testing.T, out *steptest.Buffer, err error) {
	t.Helper()
	if strings.Contains(out.String(), planted) {
		t.Errorf("planted secret in output:\n%s", out)
	}
	if err != nil && strings.Contains(err.Error(), planted) {
		t.Errorf("planted secret in error: %v", err)
	}
}

func TestFind(t *testing.T) {
	p := prefix(t)
	b := runProbe(t, probeOpts{name: p + "-app-1", labels: map[string]string{labelProject: p, labelService: "app"}, env: []string{"API_TOKEN=" + planted}})
	env, out := testEnv(t)
	env.Targets["project"] = p

	// do: by name and by compose labels.
	mustRun(t, env, &Find{Selector: Selector{Container: b.Name}})
	mustRun(t, env, &Find{Selector: Selector{Project: p, Service: "app"}, Count: ptr(1)})
	mustRun(t, env, &Find{Selector: Selector{Service: "app", Project: "${target.project}"}}) // expanded
	if !strings.Contains(out.String(), b.Name+" ("+b.ID[:12]+"): image "+probeImage+", running") {
		t.Errorf("find output does not list the container:\n%s", out)
	}
	// wrong expectation.
	wantErr(t, env, &Find{Selector: Selector{Project: p, Service: "app"}, Count: ptr(2)},
		"find compose service "+p+"/app on "+engine.DaemonHost()+": expected 2 container(s), found 1")
	wantErr(t, env, &Find{Selector: Selector{Container: p + "-nope"}},
		"container "+p+"-nope not found on "+engine.DaemonHost())
	wantErr(t, env, &Find{Selector: Selector{Project: p, Service: "db"}},
		"no container of compose service "+p+"/db on "+engine.DaemonHost()+": is the project up?")
	// count 0 proves absence.
	mustRun(t, env, &Find{Selector: Selector{Project: p, Service: "db"}, Count: ptr(0)})
	noSecret(t, out, nil)
}

func TestAssert(t *testing.T) {
	p := prefix(t)
	port := freePort(t)
	data := t.TempDir()
	b := runProbe(t, probeOpts{name: p, hostPort: port, bind: data, env: []string{"DB_PASSWORD=" + planted, "DB_HOST=db"}})
	waitHealthy(t, b)
	env, out := testEnv(t) // the redactor does not know the secret: it must never be read out at all

	pass := &Assert{
		Selector: Selector{Container: p}, Running: ptr(true), Health: "healthy", Image: probeImage,
		Ports: []string{"127.0.0.1:" + port + ":8000", port + ":8000/tcp", "8000"}, PortsAbsent: []string{"443", "8001:8000"},
		Mounts: []string{"/data", data + ":/data:ro"}, EnvPresent: []string{"DB_PASSWORD", "DB_HOST"}, EnvAbsent: []string{"DB_PASSWORD_FILE"},
		MaxRestarts: ptr(0),
	}
	mustRun(t, env, pass)
	if !strings.Contains(out.String(), b.String()+": ok: running, health healthy") {
		t.Errorf("assert output:\n%s", out)
	}

	cases := []struct {
		name string
		a    *Assert
		want string
	}{
		{"running", &Assert{Running: ptr(false)}, "state: expected not running, found running"},
		{"health", &Assert{Health: "unhealthy"}, "health: expected unhealthy, found healthy"},
		{"image", &Assert{Image: "nginx:1.25"}, "image: expected nginx:1.25, found " + probeImage},
		{"port", &Assert{Ports: []string{"8443:443"}}, "port 8443:443: expected published, found 127.0.0.1:" + port + "->8000/tcp"},
		{"port absent", &Assert{PortsAbsent: []string{"8000"}}, "port 8000: expected not published, found 127.0.0.1:" + port + "->8000/tcp"},
		{"mount", &Assert{Mounts: []string{"/etc/nginx/certs"}}, "mount /etc/nginx/certs: expected, found " + data + ":/data:ro"},
		{"mount mode", &Assert{Mounts: []string{data + ":/data:rw"}}, "mount " + data + ":/data:rw: expected, found " + data + ":/data:ro"},
		{"env present", &Assert{EnvPresent: []string{"DB_PASSWORD_FILE"}}, "environment variable DB_PASSWORD_FILE: expected set, found unset"},
		{"env absent", &Assert{EnvAbsent: []string{"DB_PASSWORD"}}, "environment variable DB_PASSWORD: expected unset, found set (value not shown)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.a.Container = p
			err := wantErr(t, env, tc.a, "container "+b.String()+": "+tc.want)
			noSecret(t, out, err)
		})
	}
	noSecret(t, out, nil)
}

func TestWait(t *testing.T) {
	p := prefix(t)
	ok := runProbe(t, probeOpts{name: p + "-ok"})
	sick := runProbe(t, probeOpts{name: p + "-sick", unhealthy: true})
	dies := runProbe(t, probeOpts{name: p + "-dies", cmd: []string{"exit", "3"}, noHealth: true})
	plain := runProbe(t, probeOpts{name: p + "-plain", noHealth: true})
	env, out := testEnv(t)

	mustRun(t, env, &Wait{Selector: Selector{Container: ok.Name}, Timeout: "30s", Interval: "100ms"})
	if !strings.Contains(out.String(), ok.String()+" running, healthy after") {
		t.Errorf("wait output:\n%s", out)
	}
	mustRun(t, env, &Wait{Selector: Selector{Container: plain.Name}, Until: "running", Timeout: "30s"})

	err := wantErr(t, env, &Wait{Selector: Selector{Container: sick.Name}, Timeout: "2s", Interval: "100ms"},
		"wait for container "+sick.Name+" to be healthy via "+engine.DaemonHost()+": timed out after 2s: found "+sick.String()+" running, ")
	if !strings.Contains(out.String(), "waiting for container "+sick.Name+" to be healthy: ") {
		t.Errorf("no progress lines:\n%s", out)
	}
	_ = err
	wantErr(t, env, &Wait{Selector: Selector{Container: plain.Name}},
		"container "+plain.String()+" has no health check: wait until: running instead")
	// The dying container's exit may not have happened yet: the action
	// sees it either way.
	wantErr(t, env, &Wait{Selector: Selector{Container: dies.Name}, Until: "running", Timeout: "30s", Interval: "50ms"},
		"container "+dies.String()+" is exited (exit 3) while waiting for it to be running")
}

func TestExec(t *testing.T) {
	p := prefix(t)
	b := runProbe(t, probeOpts{name: p, env: []string{"API_TOKEN=" + planted}})
	env, out := testEnv(t, planted)

	mustRun(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "echo", "hello", "world"}, ExpectOutput: "^world$"})
	if !strings.Contains(out.String(), "hello\nworld\n") {
		t.Errorf("exec output not streamed:\n%s", out)
	}
	mustRun(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "exit", "4", "four"}, ExpectExit: 4})
	mustRun(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "stderr", "on stderr"}, ExpectOutput: "on stderr"})
	mustRun(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "printenv", "EXTRA"}, Env: map[string]string{"EXTRA": "given"}, ExpectOutput: "^given$"})

	wantErr(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "exit", "3", "boom"}},
		"exec /probe in container "+b.String()+": exit 3, expected 0: boom")
	wantErr(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "echo", "hello"}, ExpectOutput: "bye"},
		"exec /probe in container "+b.String()+": expected an output line matching /bye/, found none")
	wantErr(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "sleep", "30s"}, Timeout: "500ms"},
		"context deadline exceeded after 500ms")

	// A secret printed inside the container is masked on the way out.
	out.Reset()
	mustRun(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "printenv", "API_TOKEN"}})
	if !strings.Contains(out.String(), steps.Mask) {
		t.Errorf("secret not masked:\n%s", out)
	}
	noSecret(t, out, nil)
}

func TestLifecycle(t *testing.T) {
	p := prefix(t)
	b := runProbe(t, probeOpts{name: p})
	waitHealthy(t, b)
	env, out := testEnv(t)
	running := &Assert{Selector: Selector{Container: p}, Running: ptr(true)}
	stopped := &Assert{Selector: Selector{Container: p}, Running: ptr(false)}

	// do, verify, undo, verify after undo: stop is undone by start.
	mustRun(t, env, &Lifecycle{op: opStop, Selector: Selector{Container: p}, Timeout: "5s"})
	mustRun(t, env, stopped)
	mustRun(t, env, &Lifecycle{op: opStop, Selector: Selector{Container: p}})
	if !strings.Contains(out.String(), b.String()+": already exited (exit 0), nothing to stop") {
		t.Errorf("second stop is not a no-op:\n%s", out)
	}
	wantErr(t, env, running, "state: expected running, found exited (exit 0)")
	mustRun(t, env, &Lifecycle{op: opStart, Selector: Selector{Container: p}})
	mustRun(t, env, running)
	mustRun(t, env, &Lifecycle{op: opStart, Selector: Selector{Container: p}})
	if !strings.Contains(out.String(), b.String()+": already running, nothing to start") {
		t.Errorf("second start is not a no-op:\n%s", out)
	}
	mustRun(t, env, &Lifecycle{op: opRestart, Selector: Selector{Container: p}, Timeout: "5s"})
	if !strings.Contains(out.String(), b.String()+": restart: was running, now running") {
		t.Errorf("restart output:\n%s", out)
	}
	mustRun(t, env, &Wait{Selector: Selector{Container: p}, Timeout: "30s", Interval: "100ms"})
	wantErr(t, env, &Lifecycle{op: opRestart, Selector: Selector{Container: p + "-gone"}}, "container "+p+"-gone not found")
}

func TestLogs(t *testing.T) {
	p := prefix(t)
	b := runProbe(t, probeOpts{name: p})
	waitHealthy(t, b) // the startup line is in the log before the step begins
	env, out := testEnv(t, planted)
	env.StepStarted = time.Now()
	mustRun(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "log", "AUDIT: SESSION,1,1,DDL,CREATE TABLE,,,create table t(x int),<not logged>"}})
	mustRun(t, env, &Exec{Selector: Selector{Container: p}, Argv: []string{"/probe", "log", "token " + planted}})

	audit := &Logs{Selector: Selector{Container: p}, Match: `AUDIT: SESSION,.*DDL`}
	// The engine copies container output to its log asynchronously: wait
	// for the line rather than assume it is there.
	eventually(t, func() error { return run(t, env, audit) })
	if !strings.Contains(out.String(), p+": AUDIT: SESSION,1,1,DDL,CREATE TABLE") {
		t.Errorf("matching line not shown:\n%s", out)
	}
	eventually(t, func() error { return run(t, env, &Logs{Selector: Selector{Container: p}, Match: "^token "}) })
	noSecret(t, out, nil)

	wantErr(t, env, &Logs{Selector: Selector{Container: p}, Match: `probe: serving`},
		"logs of container "+b.String()+" since "+env.StepStarted.Format("15:04:05")+": expected at least 1 line(s) matching /probe: serving/, found 0")
	mustRun(t, env, &Logs{Selector: Selector{Container: p}, Match: `probe: serving`, Since: "all"})
	mustRun(t, env, &Logs{Selector: Selector{Container: p}, Match: `probe: serving`, Since: "10m"})
	wantErr(t, env, &Logs{Selector: Selector{Container: p}, Match: `AUDIT`, MaxCount: ptr(0)},
		"expected at most 0 line(s) matching /AUDIT/, found 1")
	wantErr(t, env, &Logs{Selector: Selector{Container: p}, Match: `AUDIT`, MinCount: ptr(2)},
		"expected at least 2 line(s) matching /AUDIT/, found 1")
}

// eventually retries f until it succeeds or ten seconds pass.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still failing after 10s: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// With no engine at the endpoint, every action says which endpoint it
// tried and how to point runbook elsewhere. No engine is needed for this.
func TestUnreachableEngine(t *testing.T) {
	for _, endpoint := range []string{"unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"} {
		env, _ := testEnv(t)
		env.Targets = steps.Targets{"docker": endpoint, "lab": endpoint}
		for _, a := range []steps.Action{
			&Find{Selector: Selector{Container: "lab-db-1"}},
			&Assert{Selector: Selector{Container: "lab-db-1"}, Running: ptr(true)},
			&Wait{Selector: Selector{Container: "lab-db-1"}, Timeout: "2s"},
			&Exec{Selector: Selector{Container: "lab-db-1"}, Argv: []string{"true"}},
			&Lifecycle{op: opRestart, Selector: Selector{Project: "lab", Service: "db"}},
			&Logs{Selector: Selector{Container: "lab-db-1"}, Match: "x"},
		} {
			wantErr(t, env, a, "via "+endpoint+": ", `is dockerd running there? point runbook at another engine with DOCKER_HOST or the "docker" target`)
		}
		wantErr(t, env, &Find{Selector: Selector{Target: "lab", Container: "x"}}, `via `+endpoint, `or the "lab" target`)
	}
}
