package main

// The rehearsal tests drive the real binary against a lab of their own on
// the local Docker engine: lab up, the whole runbook headless, checks made
// by the test itself against the stack (never by trusting the run), a
// rollback and the "before" checks, lab down. They hold the machine's lab
// lock for their whole run (the lab has fixed ports) and only ever take
// down the lab they created.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/steps/docker"
	"github.com/runbook-dev/runbook/steps/lab"
)

// requireLabEngine returns a client of the engine the lab runs on, or
// skips; it fails when RUNBOOK_REQUIRE_SERVICES is set.
func requireLabEngine(t *testing.T) *client.Client {
	t.Helper()
	required := os.Getenv("RUNBOOK_REQUIRE_SERVICES") != ""
	if testing.Short() && !required {
		t.Skip("-short: a rehearsal needs a Docker engine and a few minutes")
	}
	api, err := docker.Dial("")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = api.Ping(ctx, client.PingOptions{})
		cancel()
	}
	if err != nil {
		msg := fmt.Sprintf("no Docker engine answered at DOCKER_HOST=%q (empty: the local socket): %v", os.Getenv("DOCKER_HOST"), err)
		if required {
			t.Fatal(msg + "; RUNBOOK_REQUIRE_SERVICES is set: start dockerd with .ci/services.sh")
		}
		t.Skip(msg + " (RUNBOOK_REQUIRE_SERVICES unset, so not a failure)")
	}
	t.Cleanup(func() { api.Close() })
	return api
}

// rehearsal is one test's own lab and state directory.
type rehearsal struct {
	t       *testing.T
	api     *client.Client
	dir     string // lab directory: workspace/, origin.git, profile.env
	state   string // runbook's state directory (journal, lock, profile "lab")
	ws      string // the lab's workspace repository
	tmp     string
	profile map[string]string
	rb      *runbooks.Runbook
}

// newRehearsal takes the machine's lab lock, waits until no other lab
// runs, and brings up a lab in a temporary directory; cleanup takes that
// lab down.
func newRehearsal(t *testing.T) *rehearsal {
	t.Helper()
	api := requireLabEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	began := time.Now()
	release, err := lab.MachineLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	waitProjectFree(ctx, t, api, lab.DefaultProject)
	if d := time.Since(began); d > time.Second {
		t.Logf("waited %s for the machine's lab lock and the compose project", d.Round(time.Second))
	}
	rb, err := runbooks.LoadEmbedded(defaultRunbook, runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	r := &rehearsal{t: t, api: api, dir: filepath.Join(tmp, "lab"), state: filepath.Join(tmp, "state"), tmp: tmp, rb: rb}
	r.ws = filepath.Join(r.dir, lab.WorkspaceDir)
	t.Cleanup(r.down)
	r.phase("lab up", func() {
		res := r.runbook("lab", "up", "--dir", r.dir, "--state", r.state)
		if res.code != 0 {
			t.Fatalf("lab up: exit %d\n%s%s", res.code, res.out, res.err)
		}
	})
	r.profile = readProfileFile(t, filepath.Join(r.dir, lab.ProfileFile))
	for _, k := range []string{"target.db", "target.project", "target.app_url", "target.http_url", "target.https_url"} {
		if r.profile[k] == "" {
			t.Fatalf("the lab's profile has no %s", k)
		}
	}
	return r
}

// down takes this test's lab down, and only it (--dir names it; the lab
// refuses to remove containers another lab's workspace started).
func (r *rehearsal) down() {
	r.phase("lab down", func() {
		res := r.runbook("lab", "down", "--dir", r.dir, "--state", r.state)
		if res.code != 0 {
			r.t.Errorf("cleanup: lab down --dir %s: exit %d\n%s%s", r.dir, res.code, res.out, res.err)
		}
	})
}

// phase runs fn and logs its wall time.
func (r *rehearsal) phase(name string, fn func()) {
	r.t.Helper()
	began := time.Now()
	fn()
	r.t.Logf("phase %-36s %6.1fs", name, time.Since(began).Seconds())
}

// env is the environment runbook processes get on top of the test's.
// PATH is the test's own: the lab profile names the python3 that has
// pytest (`lab up` finds it), so the test steps do not depend on which
// python3 comes first on PATH.
func (r *rehearsal) env(extra ...string) []string {
	return extra
}

// args completes a runbook command line: the lab's profile and this
// test's state directory.
func (r *rehearsal) args(cmd string, extra ...string) []string {
	a := []string{cmd}
	if cmd == "lab" {
		return append(a, extra...)
	}
	if cmd == "run" {
		a = append(a, "--headless", "--rehearsal")
	}
	return append(append(a, "--target", "lab", "--state", r.state), extra...)
}

// runbook runs the binary to its end, with a deadline so that a hung
// command fails the test (and cleanup still takes the lab down).
func (r *rehearsal) runbook(cmd string, extra ...string) result {
	r.t.Helper()
	return r.runbookEnv(nil, cmd, extra...)
}

func (r *rehearsal) runbookEnv(env []string, cmd string, extra ...string) result {
	r.t.Helper()
	args := r.args(cmd, extra...)
	limit := 5 * time.Minute
	if cmd == "lab" {
		limit = 15 * time.Minute // a first lab up builds every image
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	c.Env = append(os.Environ(), r.env(env...)...)
	c.WaitDelay = 10 * time.Second
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	if ctx.Err() != nil {
		r.t.Fatalf("runbook %v did not finish in time\n%s%s", args, o.String(), e.String())
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			r.t.Fatalf("runbook %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{o.String(), e.String(), code}
}

// runner is a runbook process running in the background.
type runner struct {
	cmd  *exec.Cmd
	out  string // file with its stdout and stderr
	done chan struct{}
	err  error
}

func (r *rehearsal) start(name string, extra ...string) *runner {
	r.t.Helper()
	out := filepath.Join(r.tmp, name+".log")
	f, err := os.Create(out)
	if err != nil {
		r.t.Fatal(err)
	}
	c := exec.Command(bin, r.args("run", extra...)...)
	c.Env = append(os.Environ(), r.env()...)
	c.Stdout, c.Stderr = f, f
	if err := c.Start(); err != nil {
		f.Close()
		r.t.Fatal(err)
	}
	f.Close()
	rn := &runner{cmd: c, out: out, done: make(chan struct{})}
	go func() { rn.err = c.Wait(); close(rn.done) }()
	r.t.Cleanup(func() {
		// A test that failed half-way leaves nothing running.
		select {
		case <-rn.done:
		default:
			c.Process.Kill()
			<-rn.done
		}
	})
	return rn
}

func (rn *runner) exited() bool {
	select {
	case <-rn.done:
		return true
	default:
		return false
	}
}

func (rn *runner) output() string {
	b, _ := os.ReadFile(rn.out)
	return string(b)
}

// kill SIGKILLs the runner (no chance to journal anything) and reaps it.
func (rn *runner) kill(t *testing.T) {
	t.Helper()
	if err := rn.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-rn.done
	var ee *exec.ExitError
	if !errors.As(rn.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the runner ended on its own before the kill (%v):\n%s", rn.err, rn.output())
	}
}

// poll waits for cond, failing with what after the deadline or as soon as
// the runner (if any) has exited.
func poll(t *testing.T, what string, limit time.Duration, rn *runner, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if rn != nil && rn.exited() {
			t.Fatalf("the runner exited (%v) before %s:\n%s", rn.err, what, rn.output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rehearsal) journalPath() string { return steps.JournalPath(r.state, r.rb.ID) }

func (r *rehearsal) events() []steps.Event {
	r.t.Helper()
	ev, _, err := steps.ReadJournal(r.journalPath())
	if err != nil {
		r.t.Fatal(err)
	}
	return ev
}

// count is how many records of kind the journal has for step.
func count(ev []steps.Event, kind steps.EventKind, step string) int {
	n := 0
	for _, e := range ev {
		if e.Kind == kind && e.Step == step {
			n++
		}
	}
	return n
}

// journalHas says whether the journal file holds a whole record of kind
// for step. It reads the raw file: the runner is writing it.
func (r *rehearsal) journalHas(kind steps.EventKind, step string) bool {
	data, err := os.ReadFile(r.journalPath())
	if err != nil {
		return false
	}
	return strings.Contains(string(data), "\tk="+kind.String()+"\ts="+step+"\t")
}

func (r *rehearsal) status() statusJSON {
	r.t.Helper()
	res := r.runbook("status", "--json")
	if res.code != 0 {
		r.t.Fatalf("status: exit %d: %s", res.code, res.err)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(res.out), &st); err != nil {
		r.t.Fatalf("status --json: %v\n%s", err, res.out)
	}
	return st
}

func (st statusJSON) step(id string) stepStatusJSON {
	for _, s := range st.Steps {
		if s.ID == id {
			return s
		}
	}
	return stepStatusJSON{}
}

// stepsBefore lists, in order, the runbook's steps before id.
func (r *rehearsal) stepsBefore(id string) []string {
	var out []string
	for _, p := range r.rb.Phases {
		for _, s := range p.Steps {
			if s.ID == id {
				return out
			}
			out = append(out, s.ID)
		}
	}
	r.t.Fatalf("no step %s in %s", id, r.rb.ID)
	return nil
}

// runSteps runs the given steps one at a time (run --step), each to success.
func (r *rehearsal) runSteps(ids []string, extra ...string) {
	r.t.Helper()
	for _, id := range ids {
		res := r.runbook("run", append([]string{"--step", id}, extra...)...)
		if res.code != 0 {
			r.t.Fatalf("run --step %s: exit %d\n%s%s", id, res.code, tail(res.out, 40), res.err)
		}
	}
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n") + "\n"
}

// ---- the lab, as the test sees it ----------------------------------------

func readProfileFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

// waitProjectFree waits until no container of the compose project exists:
// a lab started by hand (not under the machine lock) may hold the ports.
func waitProjectFree(ctx context.Context, t *testing.T, api *client.Client, project string) {
	t.Helper()
	f := make(client.Filters).Add("label", "com.docker.compose.project="+project)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for said := false; ; {
		res, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err == nil && len(res.Items) == 0 {
			return
		}
		if err == nil && !said {
			t.Logf("compose project %s is in use (from %s): waiting for it to go down", project, res.Items[0].Labels["com.docker.compose.project.working_dir"])
			said = true
		}
		select {
		case <-ctx.Done():
			t.Fatalf("compose project %s stayed in use by another lab: %v; take it down (`runbook lab down --dir DIR`) and run the test again", project, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

func (r *rehearsal) project() string { return r.profile["target.project"] }

// containers lists the project's containers of a service ("" for all).
func (r *rehearsal) containers(service string) []container.Summary {
	r.t.Helper()
	f := make(client.Filters).Add("label", "com.docker.compose.project="+r.project())
	if service != "" {
		f.Add("label", "com.docker.compose.service="+service)
	}
	res, err := r.api.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		r.t.Fatalf("list containers of project %s: %v", r.project(), err)
	}
	return res.Items
}

func (r *rehearsal) inspect(service string) container.InspectResponse {
	r.t.Helper()
	cs := r.containers(service)
	if len(cs) != 1 {
		r.t.Fatalf("project %s has %d containers of service %s, want 1", r.project(), len(cs), service)
	}
	res, err := r.api.ContainerInspect(context.Background(), cs[0].ID, client.ContainerInspectOptions{})
	if err != nil {
		r.t.Fatalf("inspect %s: %v", service, err)
	}
	return res.Container
}

func health(c container.InspectResponse) string {
	if c.State == nil || c.State.Health == nil {
		return "no health"
	}
	return string(c.State.Health.Status)
}

// waitHealthy polls the engine until the service's container is healthy.
func (r *rehearsal) waitHealthy(service string) {
	r.t.Helper()
	poll(r.t, service+" to be healthy", 2*time.Minute, nil, func() bool { return health(r.inspect(service)) == "healthy" })
}

// containerConfig is what "the containers' config is the same" compares:
// no environment values (they hold secrets), only their names.
type containerConfig struct {
	Image   string
	EnvKeys []string
	Ports   []string
	Cmd     []string
	Mounts  []string
}

func configOf(c container.InspectResponse) containerConfig {
	var cc containerConfig
	if c.Config != nil {
		cc.Image, cc.Cmd = c.Config.Image, c.Config.Cmd
		for _, kv := range c.Config.Env {
			k, _, _ := strings.Cut(kv, "=")
			// docker-compose 1.x puts a Swarm scheduling hint,
			// affinity:container==OLD-ID, into the environment of every
			// container it recreates over a volume (compose v2 does not).
			// Nobody configured it and the engine ignores it outside
			// Swarm: it is not part of the service's configuration.
			if k == "affinity:container" {
				continue
			}
			cc.EnvKeys = append(cc.EnvKeys, k)
		}
	}
	if c.HostConfig != nil {
		for port, bs := range c.HostConfig.PortBindings {
			for _, b := range bs {
				host := ""
				if b.HostIP.IsValid() {
					host = b.HostIP.String()
				}
				cc.Ports = append(cc.Ports, fmt.Sprintf("%s:%s->%s", host, b.HostPort, port))
			}
		}
	}
	for _, m := range c.Mounts {
		src := m.Source
		if m.Name != "" {
			src = m.Name
		}
		cc.Mounts = append(cc.Mounts, fmt.Sprintf("%s %s->%s rw=%t", m.Type, src, m.Destination, m.RW))
	}
	sort.Strings(cc.EnvKeys)
	sort.Strings(cc.Ports)
	sort.Strings(cc.Mounts)
	return cc
}

// envValues are every environment value of every container of the lab.
func (r *rehearsal) envValues() map[string][]string {
	r.t.Helper()
	out := map[string][]string{}
	for _, s := range r.containers("") {
		res, err := r.api.ContainerInspect(context.Background(), s.ID, client.ContainerInspectOptions{})
		if err != nil {
			r.t.Fatal(err)
		}
		out[res.Container.Name] = res.Container.Config.Env
	}
	return out
}

// dbLogs are the db container's logs since a moment, read through the
// Engine API.
func (r *rehearsal) dbLogs(since time.Time) string {
	r.t.Helper()
	id := r.inspect("db").ID
	rc, err := r.api.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Since: strconv.FormatInt(since.Unix(), 10)})
	if err != nil {
		r.t.Fatalf("logs of the db container: %v", err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := stdcopy.StdCopy(&b, &b, rc); err != nil {
		r.t.Fatalf("logs of the db container: %v", err)
	}
	return b.String()
}

func (r *rehearsal) readWS(rel string) []byte {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.ws, rel))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// oldPassword is the database password of the lab's "before" state, from
// its profile.
func (r *rehearsal) oldPassword() string {
	r.t.Helper()
	cfg, err := pgx.ParseConfig(r.profile["target.db"])
	if err != nil {
		r.t.Fatalf("the profile's target.db: %v", err)
	}
	return cfg.Password
}

// newPassword is the rotated password, from the workspace's secret file
// (read the way the app and runbook read it).
func (r *rehearsal) newPassword() string {
	return strings.TrimRight(string(r.readWS("secrets/db_password")), "\r\n")
}

// connect opens the lab's database as the profile's user with password.
func (r *rehearsal) connect(password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(r.profile["target.db"])
	if err != nil {
		return nil, err
	}
	cfg.Password = password
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// mustConnect connects or fails; the caller closes the connection before
// the run restarts the database.
func (r *rehearsal) mustConnect(password, which string) *pgx.Conn {
	r.t.Helper()
	conn, err := r.connect(password)
	if err != nil {
		r.t.Fatalf("connect to the lab database with the %s password: %v", which, err)
	}
	return conn
}

// extensionsNow connects, lists the extensions the runbook manages, and
// disconnects.
func (r *rehearsal) extensionsNow(password, which string) []string {
	r.t.Helper()
	conn := r.mustConnect(password, which)
	defer conn.Close(context.Background())
	return extensions(r.t, conn)
}

func extensions(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT extname FROM pg_extension WHERE extname IN ('pgcrypto', 'pgaudit') ORDER BY extname")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func setting(t *testing.T, conn *pgx.Conn, name string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(context.Background(), "SELECT current_setting($1)", name).Scan(&v); err != nil {
		t.Fatalf("setting %s: %v", name, err)
	}
	return v
}

// httpsClient trusts only the CA Item 2 generated in the workspace, and
// does not follow redirects.
func (r *rehearsal) httpsClient() *http.Client {
	r.t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(r.readWS("nginx/certs/ca.crt")) {
		r.t.Fatal("nginx/certs/ca.crt holds no certificate")
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// secretSources is what the app's /config reports: where each secret
// came from, never its value.
func secretSources(t *testing.T, c *http.Client, url string) map[string]string {
	t.Helper()
	resp, body := get(t, c, url)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
	return m
}

// refused says whether a TCP connection to addr is refused.
func refused(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s accepts connections", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: %v (want connection refused)", addr, err)
	}
	return nil
}

// checkpoints counts the workspace's checkpoint commits of each step that
// ended with outcome (undo commits aside), from their trailers.
func (r *rehearsal) checkpoints(outcome string) map[string]int {
	r.t.Helper()
	out := git(r.t, r.ws, "log", "--format=%(trailers:key=Runbook-Step,valueonly,separator=%x2C)%x1f%(trailers:key=Runbook-Outcome,valueonly,separator=%x2C)%x1f%(trailers:key=Runbook-Undo,valueonly,separator=%x2C)%x1e")
	n := map[string]int{}
	for _, rec := range strings.Split(out, "\x1e") {
		f := strings.Split(strings.TrimSpace(rec), "\x1f")
		if len(f) != 3 || f[0] == "" || strings.TrimSpace(f[2]) == "true" {
			continue
		}
		if strings.TrimSpace(f[1]) == outcome {
			n[strings.TrimSpace(f[0])]++
		}
	}
	return n
}

// checkOneCheckpointPerStep: every step of a phase that checkpoints has
// exactly one "succeeded" checkpoint, and no other step has one.
func (r *rehearsal) checkOneCheckpointPerStep() {
	r.t.Helper()
	got := r.checkpoints("succeeded")
	want := 0
	for _, p := range r.rb.Phases {
		for _, s := range p.Steps {
			w := 0
			if p.Checkpoint {
				w, want = 1, want+1
			}
			if got[s.ID] != w {
				r.t.Errorf("workspace has %d checkpoint commit(s) of step %s, want %d", got[s.ID], s.ID, w)
			}
			delete(got, s.ID)
		}
	}
	if len(got) > 0 {
		r.t.Errorf("checkpoints of steps the runbook does not have: %v", got)
	}
	if want == 0 {
		r.t.Error("no phase of the runbook checkpoints: nothing was checked")
	}
}

// firstCommit is the workspace's "before" commit, made by lab up.
func (r *rehearsal) firstCommit() string {
	r.t.Helper()
	roots := strings.Fields(git(r.t, r.ws, "rev-list", "--max-parents=0", "HEAD"))
	if len(roots) != 1 {
		r.t.Fatalf("workspace has %d root commits, want 1", len(roots))
	}
	return roots[0]
}

func (r *rehearsal) composeAtFirstCommit() []byte {
	r.t.Helper()
	c := exec.Command("git", "show", r.firstCommit()+":docker-compose.staging.yml")
	c.Dir = r.ws
	out, err := c.Output()
	if err != nil {
		r.t.Fatalf("git show the first commit's compose file: %v", err)
	}
	return out
}

// composeServices are the service names of the workspace's compose file.
func (r *rehearsal) composeServices() []string {
	r.t.Helper()
	var doc struct {
		Services map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(r.readWS("docker-compose.staging.yml"), &doc); err != nil {
		r.t.Fatalf("parse docker-compose.staging.yml: %v", err)
	}
	var names []string
	for k := range doc.Services {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// caughtMigration is a migration step held inside its transaction: the
// test holds a lock on pg_extension that CREATE EXTENSION needs, and the
// server shows the migration's backend waiting for it.
type caughtMigration struct {
	t       *testing.T
	rn      *runner
	holder  *pgx.Conn // holds the lock in tx
	tx      pgx.Tx
	watcher *pgx.Conn
	backend int32 // the migration's server process
}

// catchMigration starts `run --step step` (a pg.migrate step whose
// migration creates an extension) and returns once it waits inside its
// transaction. The database password is still the profile's (the
// rotation comes later in the runbook).
func (r *rehearsal) catchMigration(name, step string) *caughtMigration {
	t := r.t
	t.Helper()
	ctx := context.Background()
	m := &caughtMigration{t: t, holder: r.mustConnect(r.oldPassword(), "current"), watcher: r.mustConnect(r.oldPassword(), "current")}
	tx, err := m.holder.Begin(ctx)
	if err != nil {
		m.close()
		t.Fatal(err)
	}
	m.tx = tx
	if _, err := tx.Exec(ctx, "LOCK TABLE pg_catalog.pg_extension IN EXCLUSIVE MODE"); err != nil {
		m.close()
		t.Fatalf("lock pg_extension: %v", err)
	}
	m.rn = r.start(name, "--step", step)
	poll(t, "the migration to wait inside its transaction", 2*time.Minute, m.rn, func() bool {
		err := m.watcher.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query ILIKE '%create extension%' AND pid <> pg_backend_pid() LIMIT 1`).Scan(&m.backend)
		return err == nil
	})
	return m
}

// release ends the test's lock: the migration's backend goes on.
func (m *caughtMigration) release() {
	m.t.Helper()
	if err := m.tx.Rollback(context.Background()); err != nil {
		m.t.Fatal(err)
	}
}

func (m *caughtMigration) waitBackendGone() {
	m.t.Helper()
	poll(m.t, "the migration's backend to end", time.Minute, nil, func() bool {
		var n int
		return m.watcher.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", m.backend).Scan(&n) == nil && n == 0
	})
}

// checkNotApplied: the migration's transaction was rolled back whole.
func (m *caughtMigration) checkNotApplied(when string) {
	m.t.Helper()
	var version int64
	var dirty bool
	if err := m.watcher.QueryRow(context.Background(), "SELECT version, dirty FROM runbook_schema_version").Scan(&version, &dirty); err != nil {
		m.t.Fatalf("%s: version table: %v", when, err)
	}
	if version != 0 || dirty {
		m.t.Fatalf("%s: the version table says %d (dirty %t), want 0: the migration was half-applied", when, version, dirty)
	}
	if got := extensions(m.t, m.watcher); len(got) != 0 {
		m.t.Fatalf("%s: extensions %v, want none", when, got)
	}
}

func (m *caughtMigration) close() {
	ctx := context.Background()
	if m.tx != nil {
		m.tx.Rollback(ctx)
	}
	m.holder.Close(ctx)
	m.watcher.Close(ctx)
}

// ---- 1. the whole rehearsal ------------------------------------------------

// beforeState is what the lab looks like before the run, for the
// comparison after the rollback.
type beforeState struct {
	compose []byte
	app, db containerConfig
}

func TestRehearsalEndToEnd(t *testing.T) {
	began := time.Now()
	r := newRehearsal(t)

	var before beforeState
	r.phase("before-state capture", func() {
		before.compose = r.readWS("docker-compose.staging.yml")
		if !bytes.Equal(before.compose, r.composeAtFirstCommit()) {
			t.Fatal("lab up left a compose file that differs from the workspace's first commit")
		}
		before.app, before.db = configOf(r.inspect("app")), configOf(r.inspect("db"))
		r.checkBefore(before, "after lab up")
	})

	var run result
	r.phase("rehearsal (run --headless)", func() {
		run = r.runbook("run")
		if run.code != 0 {
			t.Fatalf("rehearsal: exit %d\n%s%s", run.code, tail(run.out, 60), run.err)
		}
	})
	if st := r.status(); !st.Finished || st.Done != st.Total || len(st.Dirty) != 0 {
		t.Fatalf("after the rehearsal: finished %t, %d/%d done, dirty %v", st.Finished, st.Done, st.Total, st.Dirty)
	}

	r.phase("end-state checks", func() { r.checkAfter(before, run) })

	r.phase("report", func() {
		rep := r.runbook("report")
		if rep.code != 0 {
			t.Fatalf("report: exit %d\n%s", rep.code, rep.err)
		}
		t.Logf("runbook report:\n%s", rep.out)
		m := regexp.MustCompile(`Security score: (\d+) → (\d+)`).FindStringSubmatch(rep.out)
		if m == nil {
			t.Fatalf("the report gives no security score:\n%s", rep.out)
		}
		if from, _ := strconv.Atoi(m[1]); from != 70 {
			t.Errorf("security score started at %d, want 70 (the planning summary's rubric)", from)
		}
		if to, _ := strconv.Atoi(m[2]); to < 95 {
			t.Errorf("security score after the rehearsal is %d, want ≥ 95", to)
		}
		path := filepath.Join(t.TempDir(), "rehearsal-report.md")
		w := r.runbook("report", "-o", path)
		if w.code != 0 {
			t.Fatalf("report -o: exit %d\n%s", w.code, w.err)
		}
		written, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("report -o %s wrote nothing: %v", path, err)
		}
		for _, p := range r.rb.Phases {
			for _, s := range p.Steps {
				if !bytes.Contains(written, []byte("| "+s.ID+" — ")) {
					t.Errorf("the written report has no row for step %s", s.ID)
				}
			}
		}
		r.noSecrets("the report", rep.out+string(written))
		// Budgets learned: the plan proposes budgets from the rehearsal.
		plan := r.runbook("plan", "--from-journal", r.journalPath())
		if plan.code != 0 || !strings.Contains(plan.out, "propose") {
			t.Errorf("plan --from-journal: exit %d\n%s%s", plan.code, tail(plan.out, 10), plan.err)
		}
	})

	r.phase("rollback --to start", func() {
		rb := r.runbook("rollback", "--to", "start")
		if rb.code != 0 {
			t.Fatalf("rollback: exit %d\n%s%s", rb.code, tail(rb.out, 60), rb.err)
		}
	})
	r.phase("before-state checks", func() { r.checkBefore(before, "after the rollback") })
	t.Logf("whole test before lab down: %s", time.Since(began).Round(100*time.Millisecond))
}

// secrets are the values that must never show: the old and the new
// database password and the new signing key.
func (r *rehearsal) secrets() map[string]string {
	s := map[string]string{"the old database password": r.oldPassword()}
	if b, err := os.ReadFile(filepath.Join(r.ws, "secrets/db_password")); err == nil {
		s["the new database password"] = strings.TrimRight(string(b), "\r\n")
	}
	if b, err := os.ReadFile(filepath.Join(r.ws, "secrets/secret_key")); err == nil {
		s["the new secret key"] = strings.TrimRight(string(b), "\r\n")
	}
	return s
}

func (r *rehearsal) noSecrets(where, text string) {
	r.t.Helper()
	for name, v := range r.secrets() {
		if len(v) >= 8 && strings.Contains(text, v) {
			r.t.Errorf("%s shows %s", where, name)
		}
	}
}

// checkAfter checks the end state of the rehearsal against the lab itself.
func (r *rehearsal) checkAfter(before beforeState, run result) {
	t := r.t
	ctx := context.Background()
	https, httpURL, appURL := r.profile["target.https_url"], r.profile["target.http_url"], r.profile["target.app_url"]
	hc := r.httpsClient()

	// HTTPS with the generated CA, TLS 1.2 at least; TLS 1.1 refused.
	resp, body := get(t, hc, https+"/health")
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET %s/health: %s, TLS %v\n%s", https, resp.Status, resp.TLS, body)
	}
	u := strings.TrimPrefix(https, "https://")
	c, err := tls.Dial("tcp", u, &tls.Config{RootCAs: hc.Transport.(*http.Transport).TLSClientConfig.RootCAs, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	switch {
	case err == nil:
		c.Close()
		t.Errorf("%s accepts TLS 1.1", u)
	case strings.Contains(err.Error(), "no supported versions"):
		t.Fatalf("this client cannot offer TLS 1.1, so the check proves nothing: %v", err)
	}

	// The eight security headers, HSTS once, the Server header masked.
	for _, h := range []string{"Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options", "X-XSS-Protection",
		"Content-Security-Policy", "Referrer-Policy", "Permissions-Policy", "Server"} {
		if v := resp.Header.Values(h); len(v) != 1 || v[0] == "" {
			t.Errorf("HTTPS response header %s = %q, want one value", h, v)
		}
	}
	if m := regexp.MustCompile(`max-age=(\d+)`).FindStringSubmatch(resp.Header.Get("Strict-Transport-Security")); m == nil {
		t.Errorf("HSTS header %q has no max-age", resp.Header.Get("Strict-Transport-Security"))
	} else if age, _ := strconv.Atoi(m[1]); age < 31536000 {
		t.Errorf("HSTS max-age %d, want at least a year", age)
	}
	if s := resp.Header.Get("Server"); strings.Contains(strings.ToLower(s), "nginx") || strings.ContainsAny(s, "0123456789") {
		t.Errorf("Server header %q is not masked (names the server or its version)", s)
	}

	// Plain HTTP redirects permanently to HTTPS.
	resp, _ = get(t, hc, httpURL+"/health")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != https+"/health" {
		t.Errorf("GET %s/health: %s, Location %q; want 301 to %s/health", httpURL, resp.Status, resp.Header.Get("Location"), https)
	}

	// P95 and TLS overhead, measured here: interleaved requests to the app
	// itself and through nginx over TLS, after a warm-up, so that load on
	// the machine falls on both alike.
	plain := &http.Client{Timeout: 10 * time.Second}
	timed := func(c *http.Client, url string) time.Duration {
		t0 := time.Now()
		resp, body := get(t, c, url)
		d := time.Since(t0)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
		}
		return d
	}
	for range 10 {
		timed(plain, appURL+"/health")
		timed(hc, https+"/health")
	}
	var base, overTLS []time.Duration
	for range 100 {
		base = append(base, timed(plain, appURL+"/health"))
		overTLS = append(overTLS, timed(hc, https+"/health"))
	}
	pct := func(d []time.Duration, p int) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[(len(s)*p+99)/100-1]
	}
	p95, overhead := pct(overTLS, 95), pct(overTLS, 50)-pct(base, 50)
	t.Logf("latency over 100 requests each: HTTPS P50 %s P95 %s; plain HTTP P50 %s P95 %s; TLS overhead on the median %s",
		pct(overTLS, 50), p95, pct(base, 50), pct(base, 95), overhead)
	if p95 >= 100*time.Millisecond {
		t.Errorf("HTTPS P95 %s, want < 100ms", p95)
	}
	if overhead >= 5*time.Millisecond {
		t.Errorf("TLS overhead on the median %s, want < 5ms", overhead)
	}

	// The database: the new password opens it, the old one is refused.
	if _, err := os.Stat(filepath.Join(r.ws, "secrets/db_password")); err != nil {
		t.Fatalf("no rotated password in the workspace: %v", err)
	}
	if r.newPassword() == r.oldPassword() {
		t.Error("the rotated password equals the old one")
	}
	conn := r.mustConnect(r.newPassword(), "new")
	defer conn.Close(ctx)
	if got := extensions(t, conn); !slices.Equal(got, []string{"pgaudit", "pgcrypto"}) {
		t.Errorf("extensions after the rehearsal: %v, want pgaudit and pgcrypto", got)
	}
	if spl := setting(t, conn, "shared_preload_libraries"); !strings.Contains(spl, "pgaudit") {
		t.Errorf("shared_preload_libraries = %q, want pgaudit in it", spl)
	}
	if old, err := r.connect(r.oldPassword()); err == nil {
		old.Close(ctx)
		t.Error("the old database password still opens the database")
	} else if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Errorf("connect with the old password: %v; want an authentication failure (28P01)", err)
	}

	// A DDL statement leaves an AUDIT line in the db container's logs.
	probe := fmt.Sprintf("rehearsal_audit_probe_%d", rand.Uint32())
	since := time.Now().Add(-time.Second)
	if _, err := conn.Exec(ctx, "CREATE TABLE "+probe+" (id int)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DROP TABLE "+probe); err != nil {
		t.Fatal(err)
	}
	audit := regexp.MustCompile(`AUDIT: SESSION,\d+,\d+,DDL,CREATE TABLE,.*` + probe)
	poll(t, "the AUDIT line of CREATE TABLE "+probe+" in the db container's logs", 15*time.Second, nil, func() bool {
		return audit.MatchString(r.dbLogs(since))
	})

	// Secrets: read from files by the app, in no container's environment.
	if src := secretSources(t, hc, https+"/config"); src["db_password"] != "file" || src["secret_key"] != "file" {
		t.Errorf("app /config = %v, want db_password=file secret_key=file", src)
	}
	secretVals := r.secrets()
	for name, env := range r.envValues() {
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			if k == "DB_PASSWORD" || k == "SECRET_KEY" || k == "POSTGRES_PASSWORD" {
				t.Errorf("container %s still has %s in its environment", name, k)
			}
			for what, s := range secretVals {
				if len(s) >= 8 && strings.Contains(v, s) {
					t.Errorf("container %s has %s in its environment (%s)", name, what, k)
				}
			}
		}
	}
	if h := health(r.inspect("app")); h != "healthy" {
		t.Errorf("app is %s after the rehearsal, want healthy", h)
	}

	// One checkpoint per step, and the compose file grew nginx once.
	r.checkOneCheckpointPerStep()
	if svcs := r.composeServices(); !slices.Equal(svcs, []string{"app", "db", "nginx"}) {
		t.Errorf("compose services after the rehearsal: %v", svcs)
	}

	// Nothing secret in what runbook wrote.
	j, err := os.ReadFile(r.journalPath())
	if err != nil {
		t.Fatal(err)
	}
	r.noSecrets("the journal", string(j))
	r.noSecrets("the run's output", run.out+run.err)

	// Rate limit, auth tier: 5 per minute, then 429. nginx sets X-Real-IP
	// to the address it sees (proxy_set_header X-Real-IP $remote_addr) and
	// the app keys its windows on X-Real-IP, so through nginx every request
	// of this test is one client, whatever X-Real-IP it sends: each request
	// sends another made-up one, and must still count against the same
	// window. The rehearsal's own checks may have used this window up:
	// the test waits for the Retry-After the app gives.
	r.checkAuthTier(hc, https+"/api/auth/login")
}

func (r *rehearsal) checkAuthTier(c *http.Client, url string) {
	t := r.t
	n := 0
	post := func() *http.Response {
		n++
		req, err := http.NewRequest("POST", url, strings.NewReader(`{"username": "rehearsal-test", "password": "wrong"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Real-IP", fmt.Sprintf("198.51.100.%d", n))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := post()
	for waits := 0; resp.StatusCode == http.StatusTooManyRequests; waits++ {
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs < 0 || secs > 60 || waits == 2 {
			t.Fatalf("auth tier: 429 with Retry-After %q (wait %d); want a window of at most a minute that reopens", resp.Header.Get("Retry-After"), waits)
		}
		t.Logf("auth tier: the window is used up (by the rehearsal's own check); waiting %ds as Retry-After says", secs+1)
		time.Sleep(time.Duration(secs+1) * time.Second)
		resp = post()
	}
	// That request opened a fresh window: it and four more pass.
	for i := 1; i <= 5; i++ {
		if i > 1 {
			resp = post()
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("auth tier: request %d of a fresh window: %s, want 200", i, resp.Status)
		}
	}
	resp = post()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("auth tier: request 6 in a minute: %s (Retry-After %q), want 429 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
}

// checkBefore checks the lab's "before" state: the compose file of the
// first commit, the containers as they were, no extensions, HTTP only,
// secrets from the environment, the old password.
func (r *rehearsal) checkBefore(before beforeState, when string) {
	t := r.t
	if got := r.readWS("docker-compose.staging.yml"); !bytes.Equal(got, before.compose) {
		t.Errorf("%s: the compose file differs from the workspace's first commit", when)
	}
	if app := configOf(r.inspect("app")); fmt.Sprint(app) != fmt.Sprint(before.app) {
		t.Errorf("%s: app container config\n got %+v\nwant %+v", when, app, before.app)
	}
	if db := configOf(r.inspect("db")); fmt.Sprint(db) != fmt.Sprint(before.db) {
		t.Errorf("%s: db container config\n got %+v\nwant %+v", when, db, before.db)
	}
	if n := len(r.containers("nginx")); n != 0 {
		t.Errorf("%s: %d nginx container(s), want none", when, n)
	}
	if svcs := r.composeServices(); !slices.Equal(svcs, []string{"app", "db"}) {
		t.Errorf("%s: compose services %v, want app and db", when, svcs)
	}
	// The old password opens the database (the rotation is undone).
	conn := r.mustConnect(r.oldPassword(), "old")
	defer conn.Close(context.Background())
	if got := extensions(t, conn); len(got) != 0 {
		t.Errorf("%s: extensions %v, want neither pgcrypto nor pgaudit", when, got)
	}
	if spl := setting(t, conn, "shared_preload_libraries"); strings.Contains(spl, "pgaudit") {
		t.Errorf("%s: shared_preload_libraries = %q still preloads pgaudit", when, spl)
	}
	// HTTP only: nginx's ports refuse connections, the app answers.
	for _, u := range []string{r.profile["target.https_url"], r.profile["target.http_url"]} {
		if err := refused(strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	resp, body := get(t, plain, r.profile["target.app_url"]+"/health")
	if resp.StatusCode != 200 {
		t.Errorf("%s: GET %s/health: %s\n%s", when, r.profile["target.app_url"], resp.Status, body)
	}
	if src := secretSources(t, plain, r.profile["target.app_url"]+"/config"); src["db_password"] != "env" || src["secret_key"] != "env" {
		t.Errorf("%s: app /config = %v, want db_password=env secret_key=env", when, src)
	}
	for _, svc := range []string{"app", "db"} {
		if h := health(r.inspect(svc)); h != "healthy" {
			t.Errorf("%s: %s is %s, want healthy", when, svc, h)
		}
	}
	// The workspace: tracked files as in the first commit (but for the
	// journal copy the checkpoints carry), and nothing the run generated.
	for _, f := range strings.Fields(git(t, r.ws, "diff", "--name-only", r.firstCommit(), "HEAD")) {
		if !strings.HasPrefix(f, ".runbook-journal/") {
			t.Errorf("%s: workspace file %s differs from the first commit", when, f)
		}
	}
	for _, d := range []string{"secrets", "nginx", "db", ".env.staging.example"} {
		if _, err := os.Stat(filepath.Join(r.ws, d)); err == nil {
			t.Errorf("%s: the workspace still has %s", when, d)
		}
	}
}

// ---- 2. kill -9 during a compose apply and during a migration --------------

// composeChild finds the runner's `docker-compose ... up -d` (or `docker
// compose ... up -d`) child process.
func composeChild(runner int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(runner) {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		if slices.Contains(args, "up") && slices.Contains(args, "-d") && strings.Contains(string(cmdline), "compose") {
			return pid
		}
	}
	return 0
}

// gone says whether a process has ended (exited, or a zombie nobody reaps).
func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

func TestRehearsalSurvivesKill(t *testing.T) {
	began := time.Now()
	r := newRehearsal(t)
	const composeStep, migrateStep = "item2-update-compose", "item3-run-migrations"
	before := r.readWS("docker-compose.staging.yml")

	// 1. SIGKILL while the compose step's `docker-compose up -d` runs.
	var composePID int
	r.phase("run until compose apply, kill", func() {
		rn := r.start("run-killed-in-compose")
		poll(t, "the runner to start "+composeStep+" and its compose apply", 3*time.Minute, rn, func() bool {
			if !r.journalHas(steps.EvStepStarted, composeStep) {
				return false
			}
			composePID = composeChild(rn.cmd.Process.Pid)
			return composePID != 0
		})
		rn.kill(t)
		if gone(composePID) {
			t.Fatal("the compose apply ended before the runner was killed: the kill did not land mid-apply")
		}
		// The compose CLI runs in its own process group, so the kill does
		// not reach it; but it writes its progress into the dead runner's
		// pipe and stops at its next line (broken pipe), leaving the stack
		// half-applied, as when an operator's session dies. Let it end
		// before resuming.
		poll(t, "the interrupted compose apply to end", 3*time.Minute, nil, func() bool { return gone(composePID) })
		t.Logf("after the kill: %d nginx container(s) of the half-done apply", len(r.containers("nginx")))
	})
	st := r.status()
	if !slices.Equal(st.Dirty, []string{composeStep}) {
		t.Fatalf("after the kill: dirty %v, want [%s]", st.Dirty, composeStep)
	}
	if ev := r.events(); count(ev, steps.EvStepSucceeded, composeStep) != 0 || count(ev, steps.EvStepVerifying, composeStep) != 0 {
		t.Fatalf("the kill came after %s's do had finished", composeStep)
	}

	// Resume with retry, not verify: the apply stopped half-way, so the
	// verify can only fail, and the step's do is idempotent: compose.edit
	// leaves a file that already holds its patch alone (and keeps the
	// first original for the undo), and `up -d` converges the services to
	// the file. The dead runner's lock is taken over explicitly.
	r.phase("resume --on-dirty=retry (compose)", func() {
		res := r.runbook("run", "--take-over", "--on-dirty=retry", "--step", composeStep)
		if res.code != 0 {
			t.Fatalf("resume with --on-dirty=retry: exit %d\n%s%s", res.code, tail(res.out, 40), res.err)
		}
	})
	ev := r.events()
	if n, d, s := count(ev, steps.EvStepStarted, composeStep), count(ev, steps.EvStepDirty, composeStep), count(ev, steps.EvStepSucceeded, composeStep); n != 2 || d != 1 || s != 1 {
		t.Fatalf("journal of %s: started %d, dirty %d, succeeded %d; want 2 (killed, retried), 1, 1", composeStep, n, d, s)
	}
	if n := strings.Count(string(r.readWS("docker-compose.staging.yml")), "\n  nginx:"); n != 1 {
		t.Fatalf("compose file has %d nginx services, want 1", n)
	}
	if n := len(r.containers("nginx")); n != 1 {
		t.Fatalf("%d nginx containers after the retry, want 1", n)
	}

	// 2. SIGKILL in the middle of the migration's transaction. The test
	// holds a lock on pg_extension that CREATE EXTENSION needs, so the
	// migration is caught inside its transaction; the kill lands while
	// the server shows it waiting.
	r.phase("steps up to the migration", func() {
		done := r.stepsBefore(migrateStep)
		r.runSteps(done[slices.Index(done, composeStep)+1:])
	})
	r.phase("migration, kill mid-transaction", func() {
		m := r.catchMigration("run-killed-in-migration", migrateStep)
		defer m.close()
		m.rn.kill(t)
		m.release()
		// The server finds the client gone and aborts the transaction.
		m.waitBackendGone()
		m.checkNotApplied("after the kill mid-transaction")
	})
	if st := r.status(); !slices.Equal(st.Dirty, []string{migrateStep}) {
		t.Fatalf("after the kill: dirty %v, want [%s]", st.Dirty, migrateStep)
	}

	// Resume the whole run with retry: the transaction was rolled back, so
	// verify would only fail; pg.migrate is idempotent by its version
	// table (it applies only what is not recorded), so a retry applies
	// version 1 once.
	r.phase("resume --on-dirty=retry", func() {
		res := r.runbook("run", "--take-over", "--on-dirty=retry")
		if res.code != 0 {
			t.Fatalf("resume with --on-dirty=retry: exit %d\n%s%s", res.code, tail(res.out, 60), res.err)
		}
	})
	st = r.status()
	if !st.Finished || st.Done != st.Total || len(st.Dirty) != 0 {
		t.Fatalf("after the resume: finished %t, %d/%d done, dirty %v", st.Finished, st.Done, st.Total, st.Dirty)
	}
	ev = r.events()
	if n, d, s := count(ev, steps.EvStepStarted, migrateStep), count(ev, steps.EvStepDirty, migrateStep), count(ev, steps.EvStepSucceeded, migrateStep); n != 2 || d != 1 || s != 1 {
		t.Errorf("journal of %s: started %d, dirty %d, succeeded %d; want 2 (killed, retried), 1, 1", migrateStep, n, d, s)
	}
	for _, p := range r.rb.Phases {
		for _, s := range p.Steps {
			want := 1
			if s.ID == migrateStep || s.ID == composeStep {
				want = 2 // killed once, retried once
			}
			if n := count(ev, steps.EvStepStarted, s.ID); n != want {
				t.Errorf("step %s started %d times, want %d", s.ID, n, want)
			}
			if n := count(ev, steps.EvStepSucceeded, s.ID); n != 1 {
				t.Errorf("step %s succeeded %d times, want 1", s.ID, n)
			}
		}
	}
	conn := r.mustConnect(r.newPassword(), "new")
	rows, err := conn.Query(context.Background(), "SELECT version, dirty, migration FROM runbook_schema_version")
	if err != nil {
		t.Fatal(err)
	}
	type versionRow struct {
		Version   int64
		Dirty     bool
		Migration string
	}
	vrows, err := pgx.CollectRows(rows, pgx.RowToStructByPos[versionRow])
	if err != nil {
		t.Fatal(err)
	}
	if len(vrows) != 1 || vrows[0] != (versionRow{1, false, "001_security_extensions.up.sql"}) {
		t.Errorf("version table: %+v, want one row: version 1 by 001_security_extensions.up.sql, not dirty", vrows)
	}
	if got := extensions(t, conn); !slices.Equal(got, []string{"pgaudit", "pgcrypto"}) {
		t.Errorf("extensions after the resume: %v", got)
	}
	conn.Close(context.Background())
	if svcs := r.composeServices(); !slices.Equal(svcs, []string{"app", "db", "nginx"}) {
		t.Errorf("compose services after the resume: %v", svcs)
	}
	r.checkOneCheckpointPerStep()

	// The journal of a run that was killed twice still rolls back whole.
	r.phase("rollback --to start", func() {
		res := r.runbook("rollback", "--to", "start")
		if res.code != 0 {
			t.Fatalf("rollback: exit %d\n%s%s", res.code, tail(res.out, 60), res.err)
		}
	})
	if !bytes.Equal(r.readWS("docker-compose.staging.yml"), before) {
		t.Error("after the rollback the compose file differs from before the run")
	}
	if got := r.extensionsNow(r.oldPassword(), "old"); len(got) != 0 {
		t.Errorf("after the rollback: extensions %v", got)
	}
	t.Logf("whole test before lab down: %s", time.Since(began).Round(100*time.Millisecond))
}

// ---- 3. the database stops under a step ------------------------------------

func TestRehearsalDatabaseStoppedMidStep(t *testing.T) {
	began := time.Now()
	r := newRehearsal(t)
	const step = "item3-run-migrations"
	r.phase("steps up to the migration", func() { r.runSteps(r.stepsBefore(step)) })
	cfg, err := pgx.ParseConfig(r.profile["target.db"])
	if err != nil {
		t.Fatal(err)
	}
	endpoint := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	db := r.inspect("db").ID
	stopDB := func() {
		timeout := 10
		if _, err := r.api.ContainerStop(context.Background(), db, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
			t.Fatalf("stop the db container: %v", err)
		}
	}
	startDB := func() {
		if _, err := r.api.ContainerStart(context.Background(), db, client.ContainerStartOptions{}); err != nil {
			t.Fatalf("start the db container: %v", err)
		}
		r.waitHealthy("db")
		r.waitHealthy("app")
	}
	// failed checks that the step failed, saying what it tried.
	failed := func(res result, attempt int, want ...string) {
		t.Helper()
		if res.code != exitFailed {
			t.Fatalf("attempt %d: exit %d, want %d\n%s%s", attempt, res.code, exitFailed, tail(res.out, 30), res.err)
		}
		for _, w := range append([]string{step, endpoint}, want...) {
			if !strings.Contains(res.err, w) {
				t.Errorf("attempt %d: stderr lacks %q:\n%s", attempt, w, res.err)
			}
		}
		r.noSecrets("the failed step's output", res.out+res.err)
		st := r.status().step(step)
		if st.Status != steps.Failed || st.Attempts != attempt || !strings.Contains(st.Error, endpoint) {
			t.Errorf("status --json of %s: %s after %d attempt(s), error %q; want failed after %d naming %s", step, st.Status, st.Attempts, st.Error, attempt, endpoint)
		}
		last := strings.Split(strings.TrimSpace(res.err), "\n")
		t.Logf("attempt %d, the error as the operator sees it: %s", attempt, last[len(last)-1])
	}

	// 1. The database is stopped (through the Engine API) right before
	// the step that migrates it: the connection is refused.
	r.phase("db stopped before the step", func() {
		stopDB()
		// Without the run lock: the engine stops a run that cannot take
		// it unless told to go on (the step then meets the refusal).
		if res := r.runbook("run", "--step", step); res.code != exitEnv || !strings.Contains(res.err, "no run lock on database target") {
			t.Fatalf("run with the database stopped: exit %d, %s; want exit %d naming the run lock", res.code, res.err, exitEnv)
		}
		failed(r.runbook("run", "--step", step, "--no-db-lock"), 1, "connection refused")
		startDB()
	})

	// 2. The database stops in the middle of the step: the migration is
	// held inside its transaction (see catchMigration) when the container
	// stops. The server ends the session; nothing is half-applied.
	r.phase("db stopped mid-migration", func() {
		m := r.catchMigration("run-db-stopped", step)
		defer m.close()
		stopDB()
		<-m.rn.done
		var ee *exec.ExitError
		if !errors.As(m.rn.err, &ee) || ee.ExitCode() != exitFailed {
			t.Fatalf("attempt 2 with the database stopped under it: %v, want exit %d\n%s", m.rn.err, exitFailed, m.rn.output())
		}
		out := m.rn.output()
		failed(result{out: out, err: out, code: exitFailed}, 2, "001_security_extensions.up.sql", "rolled back", "connection was lost")
		startDB()
		m.close()
		m.holder, m.watcher, m.tx = r.mustConnect(r.oldPassword(), "current"), r.mustConnect(r.oldPassword(), "current"), nil
		m.checkNotApplied("after the database stopped mid-migration")
	})

	// The database is back: the next run retries the failed step.
	var res result
	r.phase("run again (retries the step)", func() {
		res = r.runbook("run")
		if res.code != 0 {
			t.Fatalf("run after the database is back: exit %d\n%s%s", res.code, tail(res.out, 60), res.err)
		}
	})
	if !strings.Contains(res.out, step+" retrying (attempt 3)") {
		t.Errorf("the run does not say it retries %s:\n%s", step, tail(res.out, 60))
	}
	ev := r.events()
	if f, n, s := count(ev, steps.EvStepFailed, step), count(ev, steps.EvStepStarted, step), count(ev, steps.EvStepSucceeded, step); f != 2 || n != 3 || s != 1 {
		t.Errorf("journal of %s: failed %d, started %d, succeeded %d; want 2, 3, 1", step, f, n, s)
	}
	if st := r.status(); !st.Finished || st.Done != st.Total {
		t.Errorf("after the retry: finished %t, %d/%d done", st.Finished, st.Done, st.Total)
	}
	if got := r.extensionsNow(r.newPassword(), "new"); !slices.Equal(got, []string{"pgaudit", "pgcrypto"}) {
		t.Errorf("extensions after the retry: %v", got)
	}
	r.phase("rollback --to start", func() {
		res := r.runbook("rollback", "--to", "start")
		if res.code != 0 {
			t.Fatalf("rollback: exit %d\n%s%s", res.code, tail(res.out, 60), res.err)
		}
	})
	if got := r.extensionsNow(r.oldPassword(), "old"); len(got) != 0 {
		t.Errorf("after the rollback: extensions %v", got)
	}
	t.Logf("whole test before lab down: %s", time.Since(began).Round(100*time.Millisecond))
}
