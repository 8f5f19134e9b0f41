package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/steptest"
)

// probeImage is built once per test run from testdata/probe.
const probeImage = "runbook-probe:test"

// The engine the integration tests use, set up once in TestMain. Test
// code only: the package itself keeps no state.
var (
	engine    *client.Client
	engineErr error
)

func TestMain(m *testing.M) {
	engine, engineErr = setUpEngine()
	code := m.Run()
	if engine != nil {
		engine.Close()
	}
	os.Exit(code)
}

// setUpEngine connects to the local engine and builds the probe image: a
// static Go program in an image FROM scratch, so no registry is needed.
func setUpEngine() (*client.Client, error) {
	c, err := Dial("")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping docker engine at %s: %w", c.DaemonHost(), err)
	}
	dir, err := os.MkdirTemp("", "probe-build")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "go"
	}
	bin := filepath.Join(dir, "probe")
	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build probe: %v: %s", err, out)
	}
	probe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	dockerfile := `FROM scratch
COPY probe /probe
ENTRYPOINT ["/probe"]
CMD ["serve"]
HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD ["/probe", "health"]
`
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"probe", 0o755, probe}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{probeImage}, Remove: true, ForceRemove: true})
	if err != nil {
		return nil, fmt.Errorf("build probe image: %w", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var msg struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Error != "" {
			return nil, fmt.Errorf("build probe image: %s", msg.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("build probe image: %w", err)
	}
	return c, nil
}

// needEngine skips without an engine, or fails when services are required.
func needEngine(t testing.TB) *client.Client {
	t.Helper()
	if engineErr == nil {
		return engine
	}
	if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
		t.Fatalf("docker engine required (RUNBOOK_REQUIRE_SERVICES is set) but not usable: tried DOCKER_HOST=%q or the default socket: %v", os.Getenv("DOCKER_HOST"), engineErr)
	}
	t.Skipf("no docker engine (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %v", engineErr)
	return nil
}

var nameRE = regexp.MustCompile(`[^a-z0-9]+`)

// prefix names everything a test creates, so parallel runs and leftovers
// never collide.
func prefix(t testing.TB) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	n := strings.Trim(nameRE.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(n) > 30 {
		n = n[len(n)-30:]
	}
	return "rbt-" + strings.Trim(n, "-") + "-" + hex.EncodeToString(b)
}

// probeOpts shape a probe container.
type probeOpts struct {
	name      string
	env       []string
	cmd       []string
	labels    map[string]string
	hostPort  string // publish 8000/tcp on 127.0.0.1:hostPort
	bind      string // host dir mounted read-only at /data
	noHealth  bool
	unhealthy bool
	// healthyAfter: /health fails for this long after start; the health
	// check's many retries keep the container "starting" meanwhile.
	healthyAfter time.Duration
}

// runProbe creates and starts a probe container, removed when the test ends.
func runProbe(t testing.TB, o probeOpts) box {
	t.Helper()
	c := needEngine(t)
	ctx := context.Background()
	cfg := &container.Config{
		Image:  probeImage,
		Env:    o.env,
		Cmd:    o.cmd,
		Labels: o.labels,
		Healthcheck: &container.HealthConfig{
			Test: []string{"CMD", "/probe", "health"}, Interval: 200 * time.Millisecond,
			Timeout: 2 * time.Second, Retries: 1,
		},
	}
	if o.noHealth {
		cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	}
	if o.unhealthy {
		cfg.Env = append(cfg.Env, "PROBE_UNHEALTHY=1")
	}
	if o.healthyAfter > 0 {
		cfg.Env = append(cfg.Env, "PROBE_HEALTHY_AFTER="+o.healthyAfter.String())
		cfg.Healthcheck.Retries = 10000
	}
	hc := &container.HostConfig{}
	if o.hostPort != "" {
		p := network.MustParsePort("8000/tcp")
		cfg.ExposedPorts = network.PortSet{p: {}}
		hc.PortBindings = network.PortMap{p: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: o.hostPort}}}
	}
	if o.bind != "" {
		hc.Binds = []string{o.bind + ":/data:ro"}
	}
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: o.name, Config: cfg, HostConfig: hc})
	if err != nil {
		t.Fatalf("create container %s: %v", o.name, err)
	}
	t.Cleanup(func() {
		_, _ = c.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start container %s: %v", o.name, err)
	}
	return box{ID: res.ID, Name: o.name}
}

// freePort finds a host port nothing listens on.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// testEnv is an action environment on the default engine.
func testEnv(t testing.TB, secrets ...string) (*steps.Env, *steptest.Buffer) {
	out := &steptest.Buffer{}
	ws := t.TempDir()
	return &steps.Env{
		Out:         out,
		Targets:     steps.Targets{},
		Redact:      steps.NewRedactor(secrets...),
		Workspace:   ws,
		StateDir:    t.TempDir(),
		Step:        "test-step",
		Clock:       steps.SystemClock{},
		StepStarted: time.Now(),
		SaveDir:     filepath.Join(t.TempDir(), "saved"),
		Touched:     &steps.PathSet{},
	}, out
}

// run validates and runs an action as the session would.
func run(t testing.TB, env *steps.Env, a steps.Action) error {
	t.Helper()
	if v, ok := a.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			t.Fatalf("validate %T: %v", a, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return a.Run(ctx, env)
}

func mustRun(t testing.TB, env *steps.Env, a steps.Action) {
	t.Helper()
	if err := run(t, env, a); err != nil {
		t.Fatalf("%s: %v", a.Describe(env), err)
	}
}

// wantErr runs an action that must fail with a message holding every part.
func wantErr(t testing.TB, env *steps.Env, a steps.Action, parts ...string) error {
	t.Helper()
	err := run(t, env, a)
	if err == nil {
		t.Fatalf("%s: expected an error, got none", a.Describe(env))
	}
	t.Logf("error, as expected: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s:\nerror %q\ndoes not say %q", a.Describe(env), err, p)
		}
	}
	return err
}

// waitHealthy blocks until a container is healthy, through the action
// under test's own code path being exercised elsewhere; here plain polling
// keeps setup independent of it.
func waitHealthy(t testing.TB, b box) {
	t.Helper()
	c := needEngine(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := c.ContainerInspect(context.Background(), b.ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Container.State.Health != nil && r.Container.State.Health.Status == container.Healthy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not healthy after 30s: %+v", b, r.Container.State)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

func ptr[T any](v T) *T { return &v }
