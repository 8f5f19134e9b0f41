package pg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/steptest"
)

// The integration tests run against the test PostgreSQL (steptest), each
// in a database of its own, so tests run in parallel with each other and
// with other packages using the same cluster.

func adminDSN(t *testing.T) string { return steptest.PostgresDSN(t) }

func adminConn(t *testing.T) *pgx.Conn { return steptest.PostgresConn(t) }

func randName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// testDB creates a database for one test and returns its DSN and name.
func testDB(t *testing.T) (dsn, name string) { return steptest.PostgresDatabase(t, "rb_pg_") }

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
