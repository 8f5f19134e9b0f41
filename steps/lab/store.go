package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/moby/moby/client"
)

// The lab's shared-run store: a container of the lab's PostgreSQL image
// beside the stack, in a compose project of its own (PROJECT-store: the
// runbook's steps bring the stack's project up and down, never this one),
// on the wiring's store port, with a password of its own. `lab up` starts
// it, waits until it accepts connections and writes its DSN into the
// profile (store=), so a rehearsal with --target lab is shared and
// `runbook follow --target lab --rehearsal` follows it. `lab down` and
// `lab reset` remove it with its data.

// StoreDir is the folder of the lab directory that holds the store's
// compose file and its password file (0600, mounted as a compose secret).
const StoreDir = "store"

// storeData is what the wiring's store DSN template may use.
type storeData struct {
	Bind     string
	Port     int
	Database string
	Password string // URL-escaped
}

// storeDSN renders the profile's store= line.
func (w Wiring) storeDSN(password string) (string, error) {
	tm, err := template.New("store").Option("missingkey=error").Parse(w.Store.DSN)
	if err != nil {
		return "", fmt.Errorf("lab wiring %s: store dsn: %w", WiringFile, err)
	}
	var b bytes.Buffer
	if err := tm.Execute(&b, storeData{Bind: w.Store.Bind, Port: w.Store.Port, Database: w.Store.Database, Password: url.QueryEscape(password)}); err != nil {
		return "", fmt.Errorf("lab wiring %s: store dsn: %w", WiringFile, err)
	}
	return b.String(), nil
}

// StoreProject is the store's compose project.
func (l *Lab) StoreProject() string { return l.opt.Project + "-store" }

func (l *Lab) storeCompose() string { return filepath.Join(l.dir, StoreDir, "compose.yml") }

// storeComposeFile is the store's compose file. The password is not in
// it: compose mounts the password file as a secret, which the image's
// entrypoint reads as root on first start.
const storeComposeFile = `# The rehearsal lab's shared-run store (written by runbook lab up).
services:
  store:
    image: {{.Image}}
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/store_password
      POSTGRES_DB: "{{.Database}}"
    secrets: [store_password]
    ports:
      - "{{.Bind}}:{{.Port}}:5432"
    volumes:
      - storedata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", "{{.Database}}"]
      interval: 1s
      timeout: 3s
      retries: 60
secrets:
  store_password:
    file: ./password
volumes:
  storedata: {}
`

// writeStore writes the store's compose file and password file.
func (l *Lab) writeStore(password string) error {
	w, err := LoadWiring()
	if err != nil {
		return err
	}
	tm := template.Must(template.New("store").Parse(storeComposeFile))
	var b bytes.Buffer
	if err := tm.Execute(&b, map[string]any{"Image": PostgresImage, "Database": w.Store.Database, "Bind": w.Store.Bind, "Port": w.Store.Port}); err != nil {
		return err
	}
	dir := filepath.Dir(l.storeCompose())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := writePrivate(filepath.Join(dir, "password"), []byte(password)); err != nil {
		return fmt.Errorf("write the store's password file: %w", err)
	}
	if err := os.WriteFile(l.storeCompose(), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the store's compose file: %w", err)
	}
	return nil
}

// checkStorePort refuses to start the store when its port is published by
// a container of another project or held by a process of this host.
func (l *Lab) checkStorePort(ctx context.Context) error {
	w, err := LoadWiring()
	if err != nil {
		return err
	}
	res, err := l.api.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return l.engineErr(err, "list containers")
	}
	if c := publisher(res.Items, w.Store.Port); c != nil {
		if c.Labels[labelProject] == l.StoreProject() {
			return nil
		}
		return fmt.Errorf("port %d (the lab's shared-run store) is published by container %s: stop it first; the lab's ports are fixed", w.Store.Port, containerName(c.Names))
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(w.Store.Bind, strconv.Itoa(w.Store.Port)))
	if err != nil {
		return fmt.Errorf("port %d (the lab's shared-run store) is taken by a process on this host (%v): stop it first; the lab's ports are fixed", w.Store.Port, err)
	}
	ln.Close()
	return nil
}

// upStore starts the store (compose up; its wait is waitStore).
func (l *Lab) upStore(ctx context.Context, p Profile) error {
	if err := l.writeStore(p.storePassword()); err != nil {
		return err
	}
	return l.composeFile(ctx, l.storeCompose(), l.StoreProject(), "up -d (store)", "up", "-d", "--remove-orphans")
}

// waitStore waits until the store's container is healthy: its server
// accepts connections.
func (l *Lab) waitStore(ctx context.Context) ([]ServiceState, error) {
	return l.waitProjectHealthy(ctx, l.StoreProject())
}

// downStore removes the store's container, volume and network.
func (l *Lab) downStore(ctx context.Context) ([]string, error) {
	cs, err := l.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labelProject+"="+l.StoreProject())})
	if err != nil {
		return nil, l.engineErr(err, "list the containers of project %s", l.StoreProject())
	}
	if len(cs.Items) > 0 && exists(l.storeCompose()) {
		if err := l.composeFile(ctx, l.storeCompose(), l.StoreProject(), "down -v (store)", "down", "-v", "--remove-orphans"); err != nil && ctx.Err() != nil {
			return nil, err
		}
	}
	return l.sweepProject(ctx, l.StoreProject())
}

// SafeDSN shows a DSN without its password.
func SafeDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
