package pg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"

	"github.com/runbook-dev/runbook/steps/steptest"
)

// The integration tests run against the server RUNBOOK_TEST_PGDSN names (a
// superuser on a throwaway cluster with pgaudit preloaded; .ci/services.sh
// starts one). Each test works in a database of its own with a random
// name, dropped at the end, so tests run in parallel with each other and
// with other packages using the same cluster.

func adminDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("RUNBOOK_TEST_PGDSN")
	if dsn == "" {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatal("RUNBOOK_REQUIRE_SERVICES is set but RUNBOOK_TEST_PGDSN is not: run eval \"$(bash .ci/services.sh)\" to start PostgreSQL and export it")
		}
		t.Skip("RUNBOOK_TEST_PGDSN is not set: no PostgreSQL to test against (eval \"$(bash .ci/services.sh)\")")
	}
	return dsn
}

// adminConn connects to the admin DSN; it fails the test when the server is
// required, else skips.
func adminConn(t *testing.T) *pgx.Conn {
	t.Helper()
	dsn := adminDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("RUNBOOK_REQUIRE_SERVICES") != "" {
			t.Fatalf("connect to RUNBOOK_TEST_PGDSN %s: %v", steps.NewRedactor().String(dsn), err)
		}
		t.Skipf("no PostgreSQL at RUNBOOK_TEST_PGDSN: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// withDatabase returns dsn pointing at another database of the same server.
func withDatabase(t *testing.T, dsn, db string) string {
	t.Helper()
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + db
		return u.String()
	}
	return dsn + " dbname=" + db
}

// testDB creates a database for one test and returns its DSN and name.
func testDB(t *testing.T) (dsn, name string) {
	t.Helper()
	admin := adminConn(t)
	name = randName("rb_pg_")
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, adminDSN(t))
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(t, adminDSN(t), name), name
}

func testEnv(t *testing.T, dsn string) (*steps.Env, *steptest.Buffer) {
	out := new(steptest.Buffer)
	return &steps.Env{
		Out:     out,
		Targets: steps.Targets{"db": dsn},
		Redact:  steps.NewRedactor(),
		SaveDir: t.TempDir(),
		Step:    "item3/test",
		Clock:   steps.SystemClock{},
	}, out
}

// run validates an action as the loader would, then runs it.
func run(t *testing.T, env *steps.Env, a steps.Action) error {
	t.Helper()
	if v, ok := a.(runbooks.Validator); ok {
		if err := v.Validate(); err != nil {
			t.Fatalf("%T does not validate: %v", a, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return a.Run(ctx, env)
}

// mustRun runs an action that must succeed.
func mustRun(t *testing.T, env *steps.Env, a steps.Action) {
	t.Helper()
	if err := run(t, env, a); err != nil {
		t.Fatalf("%T: %v", a, err)
	}
}

// mustFail runs an action that must fail with exactly want (after
// replacing {DB} and {EP} with the test database and endpoint).
func mustFail(t *testing.T, env *steps.Env, a steps.Action, want string) error {
	t.Helper()
	err := run(t, env, a)
	if err == nil {
		t.Fatalf("%T succeeded; want error %q", a, want)
	}
	if want != "" && err.Error() != want {
		t.Fatalf("%T error:\n got %s\nwant %s", a, err, want)
	}
	return err
}

// endpointOf is how messages name the database of dsn.
func endpointOf(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return endpoint(&cfg.Config)
}

func pFalse() *bool       { b := false; return &b }
func pInt(i int) *int     { return &i }
func pI64(i int64) *int64 { return &i }

func contains(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
