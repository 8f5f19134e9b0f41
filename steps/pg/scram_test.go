package pg

import (
	"encoding/base64"
	"strings"
	"testing"
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
