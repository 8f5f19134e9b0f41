package main

import "testing"

func TestSafeDSNHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://ops:s3cret@db.example:5432/runs": "postgres://ops:xxxxx@db.example:5432/runs",
		"postgres://ops@db.example/runs":             "postgres://ops@db.example/runs",
		"host=db user=ops password=s3cret dbname=r":  "host=db user=ops password=xxxxx dbname=r",
	} {
		if got := safeDSN(in); got != want {
			t.Errorf("safeDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStoreChosenByFlagThenEnvThenProfile(t *testing.T) {
	env := map[string]string{}
	c := &common{getenv: func(k string) string { return env[k] }}
	if dsn, _ := c.storeDSN(); dsn != "" {
		t.Fatalf("no store named, got %q", dsn)
	}
	c.store, c.storeFrom = "postgres://profile/x", "store= in profile p"
	if dsn, from := c.storeDSN(); dsn != "postgres://profile/x" || from != "store= in profile p" {
		t.Fatalf("profile: got %q from %q", dsn, from)
	}
	env["RUNBOOK_STORE"] = "postgres://env/x"
	if dsn, from := c.storeDSN(); dsn != "postgres://env/x" || from != "$RUNBOOK_STORE" {
		t.Fatalf("env over profile: got %q from %q", dsn, from)
	}
	c.store, c.storeFrom = "postgres://flag/x", ""
	if dsn, from := c.storeDSN(); dsn != "postgres://flag/x" || from != "--store" {
		t.Fatalf("flag over env: got %q from %q", dsn, from)
	}
}
