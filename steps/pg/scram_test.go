package pg

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps"
)

// The verifier of a known password and salt, computed independently with
// Python's hashlib/hmac from RFC 5802's definitions.
func TestScramVerifierKnownAnswer(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	got, err := scramVerifier("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
	if got != want {
		t.Fatalf("verifier\n got %s\nwant %s", got, want)
	}
	if !scramMatches(got, "pencil") || scramMatches(got, "pencil2") || scramMatches("md5abc", "pencil") || scramMatches("", "pencil") {
		t.Fatal("scramMatches")
	}
}

func TestScramVerifierFreshSalt(t *testing.T) {
	a, err := newScramVerifier("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newScramVerifier("correct horse")
	if a == b || !strings.HasPrefix(a, "SCRAM-SHA-256$4096:") || strings.Contains(a, "correct horse") {
		t.Fatalf("verifiers %s / %s", a, b)
	}
	if !scramMatches(a, "correct horse") || !scramMatches(b, "correct horse") {
		t.Fatal("a fresh verifier does not match its password")
	}
	for _, bad := range []string{"", "tab\there", "ünïcode"} {
		if _, err := newScramVerifier(bad); err == nil {
			t.Errorf("password %q accepted", bad)
		}
	}
}

func TestPasswordAndLoginDescribeMaskSecrets(t *testing.T) {
	env := &steps.Env{
		Targets: steps.Targets{"db": "postgres://admin:Adm1n-Secret-99@db:5432/app", "role": "app"},
		Redact:  steps.NewRedactor(),
	}
	for _, tc := range []struct {
		a    steps.Action
		want string
	}{
		{&Password{Role: "${target.role}", From: "secrets/db_password.next"}, "set the password of role app on target db (postgres://admin:[redacted]@db:5432/app) from the secret file secrets/db_password.next: ALTER ROLE ... PASSWORD '<SCRAM-SHA-256 verifier computed here>' (the password is never sent; the previous verifier is saved for the undo)"},
		{&Password{Role: "app", Restore: true}, "restore the password of role app on target db (postgres://admin:[redacted]@db:5432/app) to the verifier saved before this step"},
		{&Login{User: "${target.role}", Conn: Conn{PasswordFile: "secrets/old"}, Expect: "refused"}, "log in as user app to target db (postgres://admin:[redacted]@db:5432/app), password from secrets/old and expect the login to be refused"},
		{&Login{Conn: Conn{PasswordFile: "pw"}}, "log in as the target's user to target db (postgres://admin:[redacted]@db:5432/app), password from pw and expect the login to be accepted"},
	} {
		if got := tc.a.Describe(env); got != tc.want {
			t.Errorf("Describe\n got %s\nwant %s", got, tc.want)
		}
	}
}
