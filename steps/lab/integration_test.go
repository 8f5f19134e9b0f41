package lab

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps/docker"
	"github.com/runbook-dev/runbook/steps/store"
)

// requireEngine returns a client for the engine the lab would use, or
// skips (fails, when RUNBOOK_REQUIRE_SERVICES is set) when none answers.
func requireEngine(t testing.TB) *client.Client {
	t.Helper()
	required := os.Getenv("RUNBOOK_REQUIRE_SERVICES") != ""
	if testing.Short() && !required {
		t.Skip("-short: the lab's integration tests build images and start containers")
	}
	c, err := docker.Dial("")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.Ping(ctx, client.PingOptions{})
		cancel()
	}
	if err != nil {
		msg := "no Docker engine answered at DOCKER_HOST or the local socket: " + err.Error()
		if required {
			t.Fatal(msg + " (RUNBOOK_REQUIRE_SERVICES is set: start dockerd with .ci/services.sh)")
		}
		t.Skip(msg + " (RUNBOOK_REQUIRE_SERVICES unset, so not a failure)")
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// integrationLab opens a lab on a temporary directory with the default
// project and the contract's ports, holding the machine's lab lock: two
// labs cannot run at once.
func integrationLab(t testing.TB) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	release, err := MachineLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	waitProjectFree(ctx, t)
	dir := t.TempDir()
	l, err := Open(Options{
		Dir:           dir,
		ProfileCopies: []string{filepath.Join(dir, "state", "profiles", "lab.env")},
		Progress:      func(line string) { t.Log(line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Leave nothing running, whatever happened.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var fe *ForeignProjectError
		if _, err := l.Down(ctx); err != nil && !errors.As(err, &fe) {
			t.Errorf("cleanup: lab down: %v", err)
		}
		l.Close()
	})
	return l
}

// waitProjectFree waits until no container of the default project runs:
// a lab started by hand (not under MachineLock) has it.
func waitProjectFree(ctx context.Context, t testing.TB) {
	t.Helper()
	c, err := docker.Dial("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := make(client.Filters).Add("label", labelProject+"="+DefaultProject)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for said := false; ; {
		res, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err == nil && len(res.Items) == 0 {
			return
		}
		if err == nil && !said {
			t.Logf("compose project %s is in use (container %s, from %s): waiting for it to go down", DefaultProject, containerName(res.Items[0].Names), res.Items[0].Labels[labelWorkDir])
			said = true
		}
		select {
		case <-ctx.Done():
			t.Fatalf("compose project %s stayed in use by another lab: %v; take it down (`runbook lab down --dir DIR`) and run the test again", DefaultProject, ctx.Err())
		case <-tick.C:
		}
	}
}

// The eight security headers labapp sends (cmd/labapp).
var wantHeaders = []string{
	"Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options", "X-XSS-Protection",
	"Content-Security-Policy", "Referrer-Policy", "Permissions-Policy", "Server",
}

func TestLabUpStatusResetDown(t *testing.T) {
	api := requireEngine(t)
	l := integrationLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	res, err := l.Up(ctx)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Logf("lab up took %s, built %v", res.Took, res.Built)
	if !res.Created {
		t.Error("first lab up did not create the workspace")
	}

	// Status: every image, app and db healthy, their ports answering,
	// the workspace at its first commit, the profile written.
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Up() {
		var b strings.Builder
		st.Write(&b)
		t.Fatalf("status after up says the lab is not up:\n%s", b.String())
	}
	for _, im := range st.Images {
		if !im.Present {
			t.Errorf("image %s missing after lab up", im.Ref)
		}
	}
	health := map[string]string{}
	for _, s := range st.Services {
		health[s.Service] = s.State + "/" + s.Health
	}
	if len(health) != 2 || health["app"] != "running/healthy" || health["db"] != "running/healthy" {
		t.Errorf("services: %v, want app and db running/healthy and nothing else", health)
	}
	for _, p := range st.Ports {
		if p.Answering != p.Needed {
			t.Errorf("port %s (%s): answering %v, want %v", p.Name, p.Addr, p.Answering, p.Needed)
		}
	}
	if st.Workspace.Subject != BeforeMessage || st.Workspace.Commits != 1 || st.Workspace.Changed != 0 {
		t.Errorf("workspace: %+v", st.Workspace)
	}
	if !st.HasProfile {
		t.Error("no profile")
	}

	// The app: /health with the eight headers, secrets from env.
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://localhost:8001/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health: %s", resp.Status)
	}
	for _, h := range wantHeaders {
		if resp.Header.Get(h) == "" {
			t.Errorf("GET /health: no %s header", h)
		}
	}
	resp, err = hc.Get("http://localhost:8001/config")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]string
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if cfg["db_password"] != "env" || cfg["secret_key"] != "env" {
		t.Errorf("/config = %v, want db_password=env secret_key=env", cfg)
	}

	// The database, through the profile's DSN: PostgreSQL 15, pgcrypto
	// and pgaudit available but not installed.
	prof := readProfile(t, l.ProfilePath())
	fi, err := os.Stat(l.ProfilePath())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("profile mode: %v %v", fi.Mode().Perm(), err)
	}
	checkDB(ctx, t, prof.DSN())
	checkStore(ctx, t, l, res, st, prof)

	// The compose file is committed as it is on disk; no nginx in it.
	repo, err := gogit.PlainOpen(l.Workspace())
	if err != nil {
		t.Fatal(err)
	}
	head, _ := repo.Head()
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	f, err := commit.File(ComposeFile)
	if err != nil {
		t.Fatalf("compose file not committed: %v", err)
	}
	committed, _ := f.Contents()
	onDisk, _ := os.ReadFile(l.composePath())
	if committed != string(onDisk) {
		t.Error("compose file on disk differs from the committed one")
	}
	if strings.Contains(committed, "nginx") {
		t.Error("the before state's compose file mentions nginx")
	}

	// nginx: the image is there, no container runs it.
	cs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("ancestor", NginxImage)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Items) != 0 {
		t.Errorf("%d containers run %s; the before state has none", len(cs.Items), NginxImage)
	}

	// Again: nothing built, nothing created, same secrets.
	again, err := l.Up(ctx)
	if err != nil {
		t.Fatalf("second lab up: %v", err)
	}
	t.Logf("second lab up took %s", again.Took)
	if len(again.Built) != 0 || again.Created {
		t.Errorf("second lab up built %v, created %v; want neither", again.Built, again.Created)
	}
	if readProfile(t, l.ProfilePath()).DSN() != prof.DSN() {
		t.Error("second lab up changed the database password")
	}
	if readProfile(t, l.ProfilePath()).Store != prof.Store {
		t.Error("second lab up changed the store's password")
	}

	// Reset: a fresh lab with new secrets; the database was made anew
	// with them (its volume went with the old stack).
	if _, err := l.Reset(ctx); err != nil {
		t.Fatalf("lab reset: %v", err)
	}
	fresh := readProfile(t, l.ProfilePath())
	if fresh.DSN() == prof.DSN() {
		t.Error("lab reset kept the database password")
	}
	checkDB(ctx, t, fresh.DSN())
	if conn, err := pgx.Connect(ctx, prof.DSN()); err == nil {
		conn.Close(ctx)
		t.Error("the old password still opens the database after reset")
	}
	if fresh.Store == "" || fresh.Store == prof.Store {
		t.Errorf("lab reset: store= %q, want a new password", SafeDSN(fresh.Store))
	}
	if conn, err := pgx.Connect(ctx, prof.Store); err == nil {
		conn.Close(ctx)
		t.Error("the old password still opens the store after reset")
	}

	// Down, with a compose file a failed edit left invalid (lab reset
	// above went down the ordinary way): compose refuses the file, the
	// Engine API sweep removes the stack. Nothing of the project is left;
	// images stay.
	if err := os.WriteFile(l.composePath(), []byte("services: [broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err := l.Down(ctx)
	if err != nil {
		t.Fatalf("lab down: %v", err)
	}
	if len(removed) < 3 {
		t.Errorf("the sweep removed %v; want the two containers, the volume and the network", removed)
	}
	left, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labelProject+"="+DefaultProject)})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 0 {
		t.Errorf("%d containers of project %s left after down", len(left.Items), DefaultProject)
	}
	vols, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).Add("label", labelProject+"="+DefaultProject)})
	if err != nil {
		t.Fatal(err)
	}
	if len(vols.Items) != 0 {
		t.Errorf("volumes left after down: %d", len(vols.Items))
	}
	for _, what := range []string{"container", "volume"} {
		f := make(client.Filters).Add("label", labelProject+"="+l.StoreProject())
		n := 0
		if what == "container" {
			cs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
			if err != nil {
				t.Fatal(err)
			}
			n = len(cs.Items)
		} else {
			vs, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: f})
			if err != nil {
				t.Fatal(err)
			}
			n = len(vs.Items)
		}
		if n != 0 {
			t.Errorf("%d %ss of the store's project %s left after down", n, what, l.StoreProject())
		}
	}
	st, err = l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Up() || len(st.Services) != 0 {
		t.Errorf("status after down: up %v, services %+v", st.Up(), st.Services)
	}
	for _, p := range st.Ports[:2] {
		if p.Answering {
			t.Errorf("port %s still answers after down", p.Addr)
		}
	}
	for _, im := range st.Images {
		if !im.Present {
			t.Errorf("image %s removed by down; images stay", im.Ref)
		}
	}
}

// checkStore: lab up started the shared-run store, waited for it, and
// wrote its DSN into the profile and its copy; status shows it; the
// store migrates through that DSN; no output shows its password.
func checkStore(ctx context.Context, t *testing.T, l *Lab, res *UpResult, st *Status, prof Profile) {
	t.Helper()
	pw := prof.storePassword()
	if prof.Store == "" || pw == "" {
		t.Fatalf("no store= with a password in the profile %s", l.ProfilePath())
	}
	if len(res.Store) != 1 || !res.Store[0].Ready() || len(st.Store.Services) != 1 || !st.Store.Services[0].Ready() || !st.Store.Answering {
		t.Errorf("store after up: result %+v, status %+v", res.Store, st.Store)
	}
	var b strings.Builder
	st.Write(&b)
	if out := b.String() + res.StoreDSN + st.Store.DSN; strings.Contains(out, pw) || !strings.Contains(b.String(), "store=") {
		t.Errorf("status shows the store's password, or not its DSN:\n%s", b.String())
	}
	copyProf := readProfile(t, filepath.Join(filepath.Dir(l.ProfilePath()), "state", "profiles", "lab.env"))
	if copyProf.Store != prof.Store {
		t.Errorf("the CLI's lab profile has store= %q, the lab's %q", SafeDSN(copyProf.Store), SafeDSN(prof.Store))
	}
	if fi, err := os.Stat(filepath.Join(l.Dir(), StoreDir, "password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the store's password file: %v %v", fi, err)
	}
	s, err := store.Open(ctx, prof.Store, store.Options{})
	if err != nil {
		t.Fatalf("store.Open with the profile's store=: %v", err)
	}
	defer s.Close()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].Version {
		t.Errorf("the lab's store is at schema version %d (%v), want %d", v, err, ms[len(ms)-1].Version)
	}
	if strings.Contains(prof.Store, "@127.0.0.1:55433/") {
		t.Error("the store is the database the runbook changes")
	}
}

func readProfile(t *testing.T, path string) Profile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkDB(ctx context.Context, t *testing.T, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect with the profile's DSN: %v", err)
	}
	defer conn.Close(ctx)
	var version, db string
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_database()").Scan(&version, &db); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "15.") || db != "app" {
		t.Errorf("server %s, database %s; want 15.x and app", version, db)
	}
	var installed, available int
	err = conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_extension WHERE extname IN ('pgcrypto', 'pgaudit')),
		(SELECT count(*) FROM pg_available_extensions WHERE name IN ('pgcrypto', 'pgaudit'))`).Scan(&installed, &available)
	if err != nil {
		t.Fatal(err)
	}
	if installed != 0 || available != 2 {
		t.Errorf("pgcrypto/pgaudit: %d installed, %d available; want 0 and 2", installed, available)
	}
}

// BenchmarkUpWarm measures `lab up` on a lab that is already up: the
// path every rehearsal after the first takes.
func BenchmarkUpWarm(b *testing.B) {
	requireEngine(b)
	l := integrationLab(b)
	l.opt.Progress = nil
	ctx := context.Background()
	if _, err := l.Up(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := l.Up(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
