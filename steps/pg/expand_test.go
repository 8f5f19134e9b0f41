package pg

import (
	"strings"
	"testing"
)

// Expected values may name a target: pg.query's value: and expect:, and
// pg.settings' expect lines, compare with the target's value.
func TestExpectedValuesExpandTargets(t *testing.T) {
	t.Parallel()
	dsn, db := testDB(t)
	env, _ := testEnv(t, dsn)
	env.Targets["app_db"] = db
	env.Targets["wrong"] = "not-" + db
	env.Targets["min_conn"] = "5"
	env.Targets["secret_v"] = "Sekret-Value-0099"
	env.Redact.Add("Sekret-Value-0099")

	mustRun(t, env, &Query{SQL: "SELECT current_database()", Value: "${target.app_db}"})
	mustRun(t, env, &Query{SQL: "SELECT current_database(), 1", Expect: [][]any{{"${target.app_db}", uint64(1)}}})
	mustRun(t, env, &Query{SQL: "SELECT current_setting('max_connections')::int", Op: ">=", Value: "${target.min_conn}"})
	mustRun(t, env, &Settings{Expect: []string{"max_connections >= ${target.min_conn}"}})
	mustFail(t, env, &Query{SQL: "SELECT current_database()", Value: "${target.wrong}"},
		"query on "+endpointOf(t, dsn)+": expected the value = 'not-"+db+"', found '"+db+"'")
	mustFail(t, env, &Query{SQL: "SELECT current_database()", Value: "${target.nope}"},
		`value: unknown target "nope" in "${target.nope}"`)
	// A secret target's value is compared, never shown.
	q := &Query{SQL: "SELECT 'x'", Value: "${target.secret_v}"}
	err := mustFail(t, env, q, "")
	if strings.Contains(err.Error(), "Sekret-Value-0099") || strings.Contains(q.Describe(env), "Sekret-Value-0099") {
		t.Errorf("a secret target's value shows: %v / %s", err, q.Describe(env))
	}
	if d := (&Query{SQL: "SELECT 1", Value: "${target.app_db}"}).Describe(env); !strings.HasSuffix(d, "expect the value = '"+db+"'") {
		t.Errorf("describe: %s", d)
	}
}
