package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The store's compose file is one compose loads, with the lab's
// PostgreSQL image on the wiring's store port, the password only in its
// 0600 file (a compose secret), and a healthcheck that asks the server.
func TestStoreComposeFile(t *testing.T) {
	l := testLab(t, nil)
	const pw = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	if err := l.writeStore(pw); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(l.storeCompose())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(content), pw) {
		t.Fatalf("the store's compose file holds the password:\n%s", content)
	}
	fi, err := os.Stat(filepath.Join(l.dir, StoreDir, "password"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(filepath.Join(l.dir, StoreDir, "password")); string(got) != pw {
		t.Fatalf("password file holds %q", got)
	}
	proj := loadCompose(t, filepath.Dir(l.storeCompose()), content)
	svc, ok := proj.Services["store"]
	if !ok || len(proj.Services) != 1 {
		t.Fatalf("services %v, want store alone", proj.ServiceNames())
	}
	if svc.Image != PostgresImage || svc.Environment["POSTGRES_PASSWORD_FILE"] == nil || *svc.Environment["POSTGRES_DB"] != "runbook" {
		t.Errorf("store service: image %s, environment %v", svc.Image, svc.Environment)
	}
	if len(svc.Ports) != 1 || svc.Ports[0].HostIP != "127.0.0.1" || svc.Ports[0].Published != "55435" || svc.Ports[0].Target != 5432 {
		t.Errorf("ports %+v, want 127.0.0.1:55435:5432", svc.Ports)
	}
	if svc.HealthCheck == nil || !strings.Contains(strings.Join(svc.HealthCheck.Test, " "), "pg_isready -h 127.0.0.1") {
		t.Errorf("healthcheck %+v", svc.HealthCheck)
	}
	if s := proj.Secrets["store_password"]; !strings.HasSuffix(s.File, filepath.Join(StoreDir, "password")) {
		t.Errorf("secret %+v", s)
	}
}

func TestStoreDSNIsEscapedAndSafeDSNHidesIt(t *testing.T) {
	w, err := LoadWiring()
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := w.storeDSN("p@ss/word")
	if err != nil {
		t.Fatal(err)
	}
	if dsn != "postgres://postgres:p%40ss%2Fword@127.0.0.1:55435/runbook?sslmode=disable" {
		t.Fatalf("dsn %s", dsn)
	}
	if p := (Profile{Store: dsn}); p.storePassword() != "p@ss/word" {
		t.Fatalf("storePassword %q", p.storePassword())
	}
	if s := SafeDSN(dsn); strings.Contains(s, "word") || !strings.Contains(s, "postgres:xxxxx@127.0.0.1:55435") {
		t.Fatalf("SafeDSN %s", s)
	}
	bad := strings.Replace(mustRead(t), "port: 55435", "port: 55433", 1)
	if _, err := parseWiring([]byte(bad)); err == nil || !strings.Contains(err.Error(), "the store's port 55433 is also port db") {
		t.Fatalf("a store on the database's port: %v", err)
	}
}

func mustRead(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "assets", "lab", WiringFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
