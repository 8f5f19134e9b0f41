package pg

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// scramIterations is the iteration count PostgreSQL itself uses
// (scram_iterations' default).
const scramIterations = 4096

// scramSaltLen is the salt length PostgreSQL generates.
const scramSaltLen = 16

// scramVerifier computes the SCRAM-SHA-256 verifier PostgreSQL stores for
// password (RFC 5802 / RFC 7677), in the format of pg_authid.rolpassword:
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// The server accepts such a string as an already-encrypted password, so
// the plaintext never has to be sent.
func scramVerifier(password string, salt []byte, iterations int) (string, error) {
	if err := scramPasswordOK(password); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

// newScramVerifier is scramVerifier with a fresh random salt.
func newScramVerifier(password string) (string, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramVerifier(password, salt, scramIterations)
}

// scramPasswordOK refuses passwords whose verifier would not match what the
// server computes at login. PostgreSQL runs a password through SASLprep
// (RFC 4013) first; for printable ASCII that is the identity, and runbook
// does not carry a Unicode normalizer, so other passwords are refused
// rather than stored wrong.
func scramPasswordOK(password string) error {
	if password == "" {
		return errors.New("the password is empty")
	}
	for i := 0; i < len(password); i++ {
		if c := password[i]; c < 0x20 || c > 0x7e {
			return errors.New("the password holds a character outside printable ASCII: runbook computes the SCRAM verifier itself and only does so for printable ASCII (secret.generate's alphabets all are)")
		}
	}
	return nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// scramMatches reports whether verifier (a rolpassword value) is the SCRAM
// verifier of password, whatever its salt and iteration count. An MD5 hash,
// a plaintext or an empty value never matches.
func scramMatches(verifier, password string) bool {
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	iterSalt, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	iters, saltB64, ok := strings.Cut(iterSalt, ":")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(iters)
	if err != nil || n < 1 || n > 1<<24 {
		return false
	}
	salt, err := base64.StdEncoding.DecodeString(saltB64)
	if err != nil {
		return false
	}
	want, err := scramVerifier(password, salt, n)
	if err != nil {
		return false
	}
	_, wantKeys, _ := strings.Cut(strings.TrimPrefix(want, "SCRAM-SHA-256$"), "$")
	return subtle.ConstantTimeCompare([]byte(keys), []byte(wantKeys)) == 1
}
