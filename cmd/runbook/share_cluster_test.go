package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// privateCluster is a PostgreSQL cluster of one test's own, on a free
// loopback port, which the test stops and starts again: the store going
// away for real. As root (CI) initdb and pg_ctl run as the OS user
// postgres, in a data directory that user owns, the way .ci/services.sh
// starts the shared clusters; otherwise they run as the test's user.
type privateCluster struct {
	t    *testing.T
	bin  string // directory of initdb and pg_ctl
	dir  string // holds data/
	data string
	port int
	as   []string // runuser -u postgres -- (root), else empty
}

// pgServerBin finds the PostgreSQL server programs as .ci/services.sh
// does: the directory of `postgres` on PATH with symlinks resolved, else
// the newest of Debian's /usr/lib/postgresql/*/bin.
func pgServerBin() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		return filepath.Dir(p), nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(found) == 0 {
		return "", errors.New("no PostgreSQL server: `postgres` is not on PATH nor in /usr/lib/postgresql/*/bin (install postgresql, as .ci/services.sh does)")
	}
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[j]))))
		return vi < vj
	})
	return filepath.Dir(found[len(found)-1]), nil
}

// needCluster fails the test when RUNBOOK_REQUIRE_SERVICES is set, else
// skips it, naming what is missing.
func needCluster(t *testing.T, missing string) {
	t.Helper()
	if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
		t.Fatalf("RUNBOOK_REQUIRE_SERVICES is set and a private store cluster cannot be made: %s", missing)
	}
	t.Skipf("no private store cluster (RUNBOOK_REQUIRE_SERVICES unset, so not a failure): %s", missing)
}

func startPrivateCluster(t *testing.T) *privateCluster {
	t.Helper()
	bin, err := pgServerBin()
	if err != nil {
		needCluster(t, err.Error())
	}
	for _, prog := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(bin, prog)); err != nil {
			needCluster(t, fmt.Sprintf("%s is not beside postgres in %s", prog, bin))
		}
	}
	c := &privateCluster{t: t, bin: bin}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			needCluster(t, "running as root, and there is no OS user postgres to run initdb and pg_ctl as (.ci/services.sh creates it): "+err.Error())
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			needCluster(t, "running as root, and runuser (util-linux) is not on PATH to run initdb and pg_ctl as postgres")
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.as = []string{runuser, "-u", "postgres", "--"}
	}
	dir, err := os.MkdirTemp("", "rb-store-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The server's user must reach its data directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.dir, c.data = dir, filepath.Join(dir, "data")
	if err := os.Mkdir(c.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Chown(c.data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	c.port = freeLoopbackPort(t)
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\n", c.port, c.data)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c.start()
	t.Cleanup(func() {
		// Whatever happened: no server outlives the test.
		cmd := c.command("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop")
		_ = cmd.Run()
	})
	return c
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (c *privateCluster) command(prog string, args ...string) *exec.Cmd {
	argv := append(append(append([]string(nil), c.as...), filepath.Join(c.bin, prog)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir // a directory the postgres user may enter
	return cmd
}

func (c *privateCluster) run(prog string, args ...string) {
	c.t.Helper()
	if out, err := c.command(prog, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.data, "server.log"))
		c.t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", prog, strings.Join(args, " "), err, out, tail(string(log), 20))
	}
}

// start starts the server and waits until it accepts connections.
func (c *privateCluster) start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.data, "server.log"), "-w", "-t", "60", "start")
}

// stop stops the server the way an administrator would: pg_ctl stop -m
// fast ends every session and shuts down.
func (c *privateCluster) stop() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "-t", "60", "stop")
}

func (c *privateCluster) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// answers reports whether the server accepts a connection now.
func (c *privateCluster) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn())
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}
