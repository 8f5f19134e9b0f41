package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/goccy/go-yaml"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The wiring's ports, as the shipped runbook expects them.
const (
	AppPort = 8001
	DBPort  = 55433
)

func TestWiringMatchesTheShippedRunbook(t *testing.T) {
	w, err := LoadWiring()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"app": AppPort, "db": DBPort, "http": 8080, "https": 8443} {
		if got := w.Port(name); got != want {
			t.Errorf("port %s = %d, want %d", name, got, want)
		}
	}
	for _, bad := range []string{
		"ports: [{name: app, bind: 0.0.0.0, port: 0}]\ndb_target: db\ntargets: [{name: db, value: x}]",
		"db_target: nosuch\ntargets: [{name: db, value: x}]",
		"targets: [{name: db, value: x}, {name: db, value: y}]\ndb_target: db",
		"unknown: 1\ndb_target: db\ntargets: [{name: db, value: x}]",
	} {
		if _, err := parseWiring([]byte(bad)); err == nil {
			t.Errorf("parseWiring(%q): no error", bad)
		}
	}
}

func TestProfileRoundTrip(t *testing.T) {
	p, err := newProfile("/srv/lab/workspace", "rblab", "", "0123abcd", "4567ef89", "/usr/bin/python3")
	if err != nil {
		t.Fatal(err)
	}
	data := p.Encode()
	got, err := ParseProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Workspace != p.Workspace || len(got.Targets) != len(p.Targets) {
		t.Fatalf("round trip: got %+v, want %+v", got, p)
	}
	for i := range p.Targets {
		if got.Targets[i] != p.Targets[i] {
			t.Errorf("target %d: got %+v, want %+v", i, got.Targets[i], p.Targets[i])
		}
	}
	want := map[string]string{
		"app_url":     "http://localhost:8001",
		"http_url":    "http://localhost:8080",
		"https_url":   "https://localhost:8443",
		"db":          "postgres://postgres:0123abcd@127.0.0.1:55433/app?sslmode=disable",
		"docker":      "",
		"project":     "rblab",
		"nginx_image": "runbook-lab/nginx:latest",
		"workspace":   "/srv/lab/workspace",
		"python":      "/usr/bin/python3",
	}
	for k, v := range want {
		if g, ok := got.Get(k); !ok || g != v {
			t.Errorf("target.%s = %q (present %v), want %q", k, g, ok, v)
		}
	}
	if got.Store != "postgres://postgres:4567ef89@127.0.0.1:55435/runbook?sslmode=disable" || got.storePassword() != "4567ef89" {
		t.Errorf("store = %q (password %q)", got.Store, got.storePassword())
	}
	if !strings.Contains(string(data), "\nstore=postgres://") {
		t.Errorf("no store= line in the profile:\n%s", data)
	}
	if pw, err := got.dbPassword(); err != nil || pw != "0123abcd" {
		t.Errorf("dbPassword = %q, %v", pw, err)
	}
	for _, bad := range []string{"workspace", "nonsense=1", "target.db=postgres://nopass@h/db"} {
		p, err := ParseProfile([]byte(bad + "\n"))
		if err == nil {
			_, err = p.dbPassword()
		}
		if err == nil {
			t.Errorf("ParseProfile(%q): no error", bad)
		}
	}
}

func TestNewSecretsAreRandomHex(t *testing.T) {
	a, err := newSecrets()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if a.DBPassword == b.DBPassword || a.SecretKey == b.SecretKey {
		t.Fatal("two draws gave the same secret")
	}
	if len(a.DBPassword) != 32 || len(a.SecretKey) != 64 || strings.Trim(a.DBPassword+a.SecretKey, "0123456789abcdef") != "" {
		t.Fatalf("not hex of 16/32 bytes: %d, %d", len(a.DBPassword), len(a.SecretKey))
	}
}

// testLab is a Lab on a temporary directory with no engine.
func testLab(t *testing.T, api engine) *Lab {
	t.Helper()
	dir := t.TempDir()
	return &Lab{
		opt: Options{Dir: dir, Project: DefaultProject, Now: time.Now, Timeout: time.Minute,
			ProfileCopies: []string{filepath.Join(dir, "state", "profiles", "lab.env")}},
		dir: dir, api: api, host: "fake://engine", ports: stackPorts(), poll: 5 * time.Millisecond,
	}
}

func TestEnsureWorkspaceCreatesBeforeState(t *testing.T) {
	l := testLab(t, nil)
	created, prof, err := l.ensureWorkspace()
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("created = false on an empty lab directory")
	}
	ws := l.Workspace()
	pw, err := prof.dbPassword()
	if err != nil {
		t.Fatal(err)
	}

	// Files of the before state.
	for _, name := range []string{ComposeFile, ".gitignore", "tests/test_smoke.py", "README.md"} {
		if _, err := os.Stat(filepath.Join(ws, name)); err != nil {
			t.Errorf("workspace lacks %s: %v", name, err)
		}
	}
	for _, name := range []string{"nginx", "db/migrations", "secrets"} {
		if _, err := os.Stat(filepath.Join(ws, name)); err == nil {
			t.Errorf("workspace has %s; the before state has none", name)
		}
	}
	gi, _ := os.ReadFile(filepath.Join(ws, ".gitignore"))
	for _, want := range []string{".env", ".env.*", "secrets/", "nginx/certs/*.key"} {
		if !strings.Contains("\n"+string(gi), "\n"+want+"\n") {
			t.Errorf(".gitignore lacks %q:\n%s", want, gi)
		}
	}

	// The compose file, as compose reads it.
	compose, err := os.ReadFile(filepath.Join(ws, ComposeFile))
	if err != nil {
		t.Fatal(err)
	}
	proj := loadCompose(t, ws, compose)
	if len(proj.Services) != 2 {
		t.Fatalf("services: got %v, want db and app", proj.ServiceNames())
	}
	db, app := proj.Services["db"], proj.Services["app"]
	if db.Image != PostgresImage || app.Image != AppImage {
		t.Errorf("images: db %s, app %s", db.Image, app.Image)
	}
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if env(db, "POSTGRES_PASSWORD") != pw || env(app, "DB_PASSWORD") != pw || env(db, "POSTGRES_DB") != "app" {
		t.Errorf("db password/database not as in the profile")
	}
	if k := env(app, "SECRET_KEY"); len(k) != 64 {
		t.Errorf("SECRET_KEY: %d characters, want 64", len(k))
	}
	for k, want := range map[string]string{"DB_HOST": "db", "DB_PORT": "5432", "DB_NAME": "app", "DB_USER": "postgres"} {
		if got := env(app, k); got != want {
			t.Errorf("app %s = %q, want %q", k, got, want)
		}
	}
	if len(app.Ports) != 1 || app.Ports[0].Published != "8001" || app.Ports[0].Target != 8000 || app.Ports[0].HostIP != "" {
		t.Errorf("app ports: %+v, want 8001:8000 on every address", app.Ports)
	}
	if len(db.Ports) != 1 || db.Ports[0].Published != "55433" || db.Ports[0].Target != 5432 || db.Ports[0].HostIP != "127.0.0.1" {
		t.Errorf("db ports: %+v, want 127.0.0.1:55433:5432", db.Ports)
	}
	if _, ok := app.DependsOn["db"]; !ok {
		t.Error("app does not depend on db")
	}
	if db.HealthCheck == nil || strings.Join(db.HealthCheck.Test, " ") != "CMD pg_isready -U postgres" {
		t.Errorf("db healthcheck: %+v", db.HealthCheck)
	}
	if app.HealthCheck == nil || strings.Join(app.HealthCheck.Test, " ") != "CMD /labapp healthcheck" {
		t.Errorf("app healthcheck: %+v", app.HealthCheck)
	}
	if len(db.Volumes) != 1 || db.Volumes[0].Source != "dbdata" || db.Volumes[0].Target != "/var/lib/postgresql/data" {
		t.Errorf("db volumes: %+v", db.Volumes)
	}
	// The password is quoted: a hex string such as 1e10 would otherwise be
	// read as a number.
	var raw map[string]any
	if err := yaml.Unmarshal(compose, &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), `POSTGRES_PASSWORD: "`+pw+`"`) {
		t.Error("POSTGRES_PASSWORD is not a quoted string")
	}

	// Repository: one commit holding every file, on main, tracking origin.
	repo, err := gogit.PlainOpen(ws)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	if head.Name() != plumbing.Main {
		t.Errorf("HEAD is %s, want main", head.Name())
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if c.Message != BeforeMessage || c.NumParents() != 0 {
		t.Errorf("first commit: %q with %d parents", c.Message, c.NumParents())
	}
	f, err := c.File(ComposeFile)
	if err != nil {
		t.Fatalf("compose file not committed: %v", err)
	}
	if committed, _ := f.Contents(); committed != string(compose) {
		t.Error("committed compose file differs from the worktree's")
	}
	origin, err := gogit.PlainOpen(filepath.Join(l.dir, OriginDir))
	if err != nil {
		t.Fatal(err)
	}
	om, err := origin.Reference(plumbing.Main, true)
	if err != nil || om.Hash() != head.Hash() {
		t.Fatalf("origin main = %v (%v), want %s", om, err, head.Hash())
	}
	if _, err := exec.LookPath("git"); err == nil {
		out, err := exec.Command("git", "-C", ws, "pull", "--ff-only").CombinedOutput()
		if err != nil {
			t.Errorf("git pull --ff-only: %v\n%s", err, out)
		}
		out, err = exec.Command("git", "-C", ws, "status", "--porcelain", "--branch").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "## main...origin/main\n") || strings.Count(string(out), "\n") != 1 {
			t.Errorf("git status: %v\n%s", err, out)
		}
	}

	// Profile: 0600, here and in its copy, naming the workspace.
	for _, p := range append([]string{l.ProfilePath()}, l.opt.ProfileCopies...) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
		data, _ := os.ReadFile(p)
		got, err := ParseProfile(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.Workspace != ws {
			t.Errorf("%s: workspace %q, want %q", p, got.Workspace, ws)
		}
	}
	if fi, _ := os.Stat(l.dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("lab directory mode %v, want 0700 (the workspace holds passwords)", fi.Mode().Perm())
	}
}

func loadCompose(t *testing.T, dir string, content []byte) *types.Project {
	t.Helper()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, ComposeFile), Content: content}},
		Environment: map[string]string{},
	}, func(o *loader.Options) { o.SetProjectName(DefaultProject, true) })
	if err != nil {
		t.Fatalf("compose cannot load the compose file: %v", err)
	}
	return p
}

func TestEnsureWorkspaceReusesAndRefusesPartial(t *testing.T) {
	l := testLab(t, nil)
	_, first, err := l.ensureWorkspace()
	if err != nil {
		t.Fatal(err)
	}
	compose, _ := os.ReadFile(l.composePath())

	// Again, with another project: same secrets, same files, the profile
	// follows the project.
	l.opt.Project = "other"
	created, again, err := l.ensureWorkspace()
	if err != nil {
		t.Fatal(err)
	}
	if created || again.DSN() != first.DSN() {
		t.Fatalf("second run: created %v, DSN changed %v", created, again.DSN() != first.DSN())
	}
	if p, _ := again.Get("project"); p != "other" {
		t.Errorf("profile project = %q, want other", p)
	}
	if now, _ := os.ReadFile(l.composePath()); !bytes.Equal(now, compose) {
		t.Error("the compose file changed on reuse")
	}

	// A lab directory missing its profile is refused, with the way out.
	if err := os.Remove(l.ProfilePath()); err != nil {
		t.Fatal(err)
	}
	_, _, err = l.ensureWorkspace()
	if err == nil || !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), "lab reset") || !strings.Contains(err.Error(), ProfileFile) {
		t.Fatalf("partial lab: err = %v", err)
	}
}

func TestReadTreeAndContextTar(t *testing.T) {
	files, err := recipeFiles("postgres")
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]int64{}
	for _, f := range files {
		modes[f.name] = f.mode
	}
	if modes["Dockerfile"] != 0o644 || modes["entrypoint.sh"] != 0o755 {
		t.Fatalf("modes: %v (want the script executable)", modes)
	}
	files = append(files, ctxFile{name: "sub/dir/x", mode: 0o600, data: []byte("x")})
	a, err := contextTar(files)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := contextTar(files)
	if !bytes.Equal(a, b) {
		t.Error("the same recipe gave different build contexts")
	}
	got := map[string]int64{}
	tr := tar.NewReader(bytes.NewReader(a))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.Mode
	}
	for name, mode := range map[string]int64{"Dockerfile": 0o644, "entrypoint.sh": 0o755, "sub/": 0o755, "sub/dir/": 0o755, "sub/dir/x": 0o600} {
		if got[name] != mode {
			t.Errorf("%s: mode %o in the tar, want %o (entries %v)", name, got[name], mode, got)
		}
	}
	if hashFiles(files) == hashFiles(files[:len(files)-1]) {
		t.Error("recipe hash ignores a file")
	}
}

func TestWriteRootfs(t *testing.T) {
	root := t.TempDir()
	mk := func(p, content string) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	mk("etc/hostname", "lab\n")
	mk("usr/bin/a", "binary")
	mk("dev/null", "not a device")
	mk("proc/1/status", "x")
	mk("tmp/junk", "x")
	if err := os.Link(filepath.Join(root, "usr/bin/a"), filepath.Join(root, "usr/bin/b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "etc/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeRootfs(&buf, root); err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner names %q/%q, want numeric only", h.Name, h.Uname, h.Gname)
		}
		got[h.Name] = h
	}
	for _, name := range []string{"etc/", "etc/hostname", "usr/bin/a", "usr/bin/b", "bin", "dev/", "proc/", "tmp/"} {
		if got[name] == nil {
			t.Errorf("missing %s (have %v)", name, keys(got))
		}
	}
	for _, name := range []string{"dev/null", "proc/1/", "proc/1/status", "tmp/junk", "etc/fifo"} {
		if got[name] != nil {
			t.Errorf("%s is in the image; it should not be", name)
		}
	}
	if h := got["bin"]; h != nil && (h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/bin") {
		t.Errorf("bin: type %c → %q, want a symlink to usr/bin", h.Typeflag, h.Linkname)
	}
	a, b := got["usr/bin/a"], got["usr/bin/b"]
	if a != nil && b != nil && !(a.Typeflag == tar.TypeReg && b.Typeflag == tar.TypeLink && b.Linkname == "usr/bin/a") {
		t.Errorf("hard link: a %c, b %c → %q", a.Typeflag, b.Typeflag, b.Linkname)
	}
	if h := got["etc/hostname"]; h != nil && (h.Mode&0o777 != 0o640 || h.Size != 4) {
		t.Errorf("etc/hostname: mode %o size %d", h.Mode, h.Size)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestReadStream(t *testing.T) {
	in := `{"stream":"Step 1/2 : FROM x\n"}{"stream":" ---\u003e abc\nStep 2/2 : RUN y\n"}{"status":"sha256:123"}`
	var lines []string
	if err := readStream(strings.NewReader(in), func(s string) { lines = append(lines, s) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"Step 1/2 : FROM x", " ---> abc", "Step 2/2 : RUN y", "sha256:123"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", lines, want)
	}
	err := readStream(strings.NewReader(`{"stream":"ok\n"}{"errorDetail":{"message":"E: Unable to locate package x"},"error":"E: Unable to locate package x"}`), func(string) {})
	if err == nil || !strings.Contains(err.Error(), "Unable to locate package x") {
		t.Errorf("stream error: %v", err)
	}
	if err := readStream(strings.NewReader(`{"stream":`), func(string) {}); err == nil {
		t.Error("a torn stream gave no error")
	}
}

func TestTail(t *testing.T) {
	tl := newTail(2)
	io.WriteString(tl, "one\ntwo\n\nthr")
	io.WriteString(tl, "ee\nfour")
	// The last two complete lines, then the unfinished one.
	if got, want := tl.String(), "two\nthree\nfour"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

func TestSourceRoot(t *testing.T) {
	l := testLab(t, nil)
	root, err := l.sourceRoot() // the test runs inside the source tree
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "labapp", "main.go")); err != nil {
		t.Errorf("source root %s has no cmd/labapp: %v", root, err)
	}
	files, err := appSourceFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f.name, "_test.go") {
			t.Errorf("recipe includes test file %s", f.name)
		}
	}
	l.opt.Source = t.TempDir()
	if _, err := l.sourceRoot(); err == nil || !strings.Contains(err.Error(), "--source") {
		t.Errorf("--source at an empty directory: %v", err)
	}
}

func TestOpenRejectsUnknownRebuild(t *testing.T) {
	if _, err := Open(Options{Rebuild: []string{"postgress"}}); err == nil || !strings.Contains(err.Error(), "base, postgres, nginx, app") {
		t.Fatalf("err = %v", err)
	}
	l, err := Open(Options{Rebuild: []string{"postgres"}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.wantRebuild("postgres") || l.wantRebuild("app") {
		t.Error("wantRebuild does not follow Options.Rebuild")
	}
}

// fakeEngine answers container queries from a script; other methods are
// not used by the tests that use it (calling one panics).
type fakeEngine struct {
	engine
	ping    bool // answer Ping
	list    []container.Summary
	inspect func(id string, call int) container.InspectResponse
	calls   map[string]int
	logs    string
}

func (f *fakeEngine) Ping(ctx context.Context, opts client.PingOptions) (client.PingResult, error) {
	if !f.ping {
		return client.PingResult{}, errors.New("fake engine: no ping")
	}
	return client.PingResult{}, nil
}

func (f *fakeEngine) ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{Items: f.list}, nil
}

func (f *fakeEngine) ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[id]++
	return client.ContainerInspectResult{Container: f.inspect(id, f.calls[id])}, nil
}

func (f *fakeEngine) ContainerLogs(ctx context.Context, id string, opts client.ContainerLogsOptions) (client.ContainerLogsResult, error) {
	return io.NopCloser(strings.NewReader(f.logs)), nil
}

func summary(id, service, project string, ports ...uint16) container.Summary {
	s := container.Summary{ID: id, Names: []string{"/" + project + "_" + service + "_1"},
		Labels: map[string]string{labelProject: project, labelService: service}}
	for _, p := range ports {
		s.Ports = append(s.Ports, container.PortSummary{PublicPort: p})
	}
	return s
}

func state(status container.ContainerState, health container.HealthStatus, exit int) container.InspectResponse {
	st := &container.State{Status: status, Running: status == container.StateRunning, ExitCode: exit}
	if health != "" {
		st.Health = &container.Health{Status: health, Log: []*container.HealthcheckResult{{Output: "connection refused"}}}
	}
	return container.InspectResponse{State: st}
}

func TestWaitHealthy(t *testing.T) {
	list := []container.Summary{summary("a", "app", DefaultProject), summary("d", "db", DefaultProject)}
	cases := []struct {
		name    string
		inspect func(id string, call int) container.InspectResponse
		wantErr string
	}{
		{"becomes healthy", func(id string, call int) container.InspectResponse {
			if call < 3 {
				return state(container.StateRunning, container.Starting, 0)
			}
			return state(container.StateRunning, container.Healthy, 0)
		}, ""},
		{"no healthcheck counts when running", func(id string, call int) container.InspectResponse {
			if id == "a" {
				return state(container.StateRunning, "", 0)
			}
			return state(container.StateRunning, container.Healthy, 0)
		}, ""},
		{"exits", func(id string, call int) container.InspectResponse {
			if id == "d" && call > 1 {
				return state(container.StateExited, "", 1)
			}
			return state(container.StateRunning, container.Starting, 0)
		}, "service db (container rblab_db_1) stopped with exit code 1"},
		{"unhealthy", func(id string, call int) container.InspectResponse {
			if id == "a" {
				return state(container.StateRunning, container.Unhealthy, 0)
			}
			return state(container.StateRunning, container.Healthy, 0)
		}, "service app (container rblab_app_1) is unhealthy: connection refused"},
		{"times out", func(id string, call int) container.InspectResponse {
			return state(container.StateRunning, container.Starting, 0)
		}, "was not healthy within"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fe := &fakeEngine{list: list, inspect: tc.inspect, logs: "lab-postgres: FATAL: boom\n"}
			l := testLab(t, fe)
			l.opt.Timeout = 5 * time.Second
			if tc.name == "times out" {
				l.opt.Timeout = 100 * time.Millisecond
			}
			ss, err := l.waitHealthy(context.Background())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(ss) != 2 || !ss[0].Ready() || !ss[1].Ready() || ss[0].Service != "app" {
					t.Fatalf("services %+v", ss)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if tc.name == "exits" && !strings.Contains(err.Error(), "FATAL: boom") {
				t.Errorf("the error lacks the container's last log lines: %v", err)
			}
		})
	}
}

func TestCheckConflicts(t *testing.T) {
	// A port held by a host process: a listener on a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := ln.Addr().(*net.TCPAddr).Port

	cases := []struct {
		name    string
		list    []container.Summary
		ports   []port
		wantErr string
	}{
		{"ours already up", []container.Summary{summary("a", "app", DefaultProject, AppPort), summary("d", "db", DefaultProject, DBPort)}, stackPorts(), ""},
		{"another project", []container.Summary{summary("x", "web", "shop", AppPort)}, stackPorts(), `port 8001 (app) is published by container shop_web_1 of compose project "shop"`},
		{"plain container", []container.Summary{{ID: "x", Names: []string{"/pg"}, Ports: []container.PortSummary{{PublicPort: DBPort}}}}, []port{{"db", "127.0.0.1", DBPort}}, "port 55433 (db) is published by container pg: stop it first"},
		{"host process", nil, []port{{"app", "127.0.0.1", held}}, "port " + strconv.Itoa(held) + " (app) is taken by a process on this host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := testLab(t, &fakeEngine{list: tc.list})
			l.ports = tc.ports
			err := l.checkConflicts(context.Background())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}

	t.Run("project from another lab directory", func(t *testing.T) {
		other := summary("a", "app", DefaultProject, AppPort)
		other.Labels[labelWorkDir] = "/srv/other-lab/workspace"
		l := testLab(t, &fakeEngine{list: []container.Summary{other}})
		err := l.checkConflicts(context.Background())
		var fe *ForeignProjectError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "started from /srv/other-lab/workspace") || !strings.Contains(err.Error(), "lab down --dir /srv/other-lab") {
			t.Fatalf("err = %v", err)
		}
		// Down refuses too: it would remove the other lab's containers.
		l.api = &fakeEngine{list: []container.Summary{other}, ping: true}
		if _, err := l.down(context.Background()); !errors.As(err, &fe) {
			t.Fatalf("down over another lab's project: %v", err)
		}
		other.Labels[labelWorkDir] = l.Workspace()
		l.api = &fakeEngine{list: []container.Summary{other}}
		l.ports = nil
		if err := l.checkConflicts(context.Background()); err != nil {
			t.Fatalf("own workspace refused: %v", err)
		}
	})
}

func TestStatusUp(t *testing.T) {
	healthy := ServiceState{Service: "db", State: "running", Health: "healthy"}
	open := []PortState{{Name: "app", Answering: true, Needed: true}, {Name: "http", Needed: false}}
	store := StoreState{Services: []ServiceState{{Service: "store", State: "running", Health: "healthy"}}, Answering: true}
	cases := []struct {
		name string
		s    Status
		want bool
	}{
		{"healthy", Status{Services: []ServiceState{healthy, {Service: "nginx", State: "running"}}, Ports: open, Store: store}, true},
		{"no containers", Status{Ports: open, Store: store}, false},
		{"starting", Status{Services: []ServiceState{{State: "running", Health: "starting"}}, Ports: open, Store: store}, false},
		{"port closed", Status{Services: []ServiceState{healthy}, Ports: []PortState{{Needed: true}}, Store: store}, false},
		{"engine down", Status{EngineError: "no engine", Services: []ServiceState{healthy}, Ports: open, Store: store}, false},
		{"no store", Status{Services: []ServiceState{healthy}, Ports: open}, false},
		{"store starting", Status{Services: []ServiceState{healthy}, Ports: open, Store: StoreState{Services: []ServiceState{{State: "running", Health: "starting"}}, Answering: true}}, false},
		{"store closed", Status{Services: []ServiceState{healthy}, Ports: open, Store: StoreState{Services: store.Services}}, false},
	}
	for _, tc := range cases {
		if got := tc.s.Up(); got != tc.want {
			t.Errorf("%s: Up() = %v, want %v", tc.name, got, tc.want)
		}
		var b bytes.Buffer
		tc.s.Write(&b)
		if want := map[bool]string{true: "the lab is up\n", false: "the lab is not up"}[tc.want]; !strings.Contains(b.String(), want) {
			t.Errorf("%s: Write says\n%s", tc.name, b.String())
		}
	}
}

func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	release, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		release()
		t.Fatalf("second lock while held: %v", err)
	}
	release()
	release2, err := lockFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	release2()
}
