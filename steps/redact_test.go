package steps

import (
	"strings"
	"sync"
	"testing"
)

func TestRedactor(t *testing.T) {
	r := NewRedactor("Tr0ub4dor&3", "abcd1234", "abcd1234efgh", "abc", "", "abcd1234")
	tests := []struct {
		name, in, want string
	}{
		{"known value", "login with Tr0ub4dor&3 now", "login with [redacted] now"},
		{"every occurrence", "Tr0ub4dor&3/Tr0ub4dor&3", "[redacted]/[redacted]"},
		{"longest value first", "id abcd1234efgh end", "id [redacted] end"},
		{"shorter value alone", "id abcd1234 end", "id [redacted] end"},
		{"values under four bytes are ignored", "abc is the alphabet", "abc is the alphabet"},
		{"empty", "", ""},
		{"url password", "connect postgres://app:pa55@db:5432/app?sslmode=disable", "connect postgres://app:[redacted]@db:5432/app?sslmode=disable"},
		{"url password in quotes", `dsn="postgresql://u:p%40ss@h/db"`, `dsn="postgresql://u:[redacted]@h/db"`},
		{"url with port and no password", "GET http://127.0.0.1:8001/health", "GET http://127.0.0.1:8001/health"},
		{"url with user only", "ssh://git@example.org/repo", "ssh://git@example.org/repo"},
		{"password=", "PGPASSWORD=hunter22 psql", "PGPASSWORD=[redacted] psql"},
		{"password: quoted", `password: "two words"`, `password: "[redacted]"`},
		{"spaces around =", "db_password = hunter22, next", "db_password = [redacted], next"},
		{"token in a query", "url?token=abcdef&page=2", "url?token=[redacted]&page=2"},
		{"api key", "API_KEY: k-123456", "API_KEY: [redacted]"},
		{"api-key", "x-api-key=zzzzzz", "x-api-key=[redacted]"},
		{"secret_ prefix word", "SECRET_KEY_BASE=0123456789", "SECRET_KEY_BASE=[redacted]"},
		{"private_key", "private_key: 'abc def'", "private_key: '[redacted]'"},
		{"variable reference kept", "PGPASSWORD=$DB_PASS psql", "PGPASSWORD=$DB_PASS psql"},
		{"already masked kept", "password=[redacted]", "password=[redacted]"},
		{"ordinary words kept", "passwords are rotated; the primary key: id; token bucket", "passwords are rotated; the primary key: id; token bucket"},
		{"pem private key", "key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END PRIVATE KEY-----\nnext line", "key:\n-----BEGIN PRIVATE KEY----- [redacted]\nnext line"},
		{"pem rsa key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY----- [redacted]"},
		{"pem openssh key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY----- [redacted]"},
		{"pem cut short", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE", "-----BEGIN EC PRIVATE KEY----- [redacted]"},
		{"two pem keys", "-----BEGIN PRIVATE KEY-----\nA\n-----END PRIVATE KEY-----\nmid\n-----BEGIN PRIVATE KEY-----\nB\n-----END PRIVATE KEY-----", "-----BEGIN PRIVATE KEY----- [redacted]\nmid\n-----BEGIN PRIVATE KEY----- [redacted]"},
		{"certificate kept", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactorNil(t *testing.T) {
	var r *Redactor
	r.Add("whatever-secret") // must not panic
	if got := r.String("password=hunter22 and whatever-secret"); got != "password=[redacted] and whatever-secret" {
		t.Fatalf("nil redactor: %q", got)
	}
	if r.Known("whatever-secret") {
		t.Fatal("nil redactor knows a value")
	}
}

func TestRedactorKnown(t *testing.T) {
	r := NewRedactor("value-of-secret")
	if !r.Known("x value-of-secret y") || r.Known("password=shaped-but-unknown") || r.Known("") {
		t.Fatal("Known")
	}
	r.Add("added-later-1")
	if !r.Known("added-later-1") || r.String("added-later-1") != Mask {
		t.Fatal("a value added later is not known")
	}
}

func TestRedactEvent(t *testing.T) {
	r := NewRedactor("value-of-secret")
	ev := r.Event(Event{
		Reason: "r value-of-secret", Note: "n value-of-secret", Err: "e value-of-secret", Actor: "a value-of-secret",
		Step: "value-of-secret", Commit: "c0ffee",
	})
	for name, v := range map[string]string{"reason": ev.Reason, "note": ev.Note, "err": ev.Err, "actor": ev.Actor} {
		if strings.Contains(v, "value-of-secret") || !strings.Contains(v, Mask) {
			t.Errorf("%s not masked: %q", name, v)
		}
	}
	// Ids are not free text: a step id is never a secret and stays as is.
	if ev.Step != "value-of-secret" || ev.Commit != "c0ffee" {
		t.Errorf("ids changed: %+v", ev)
	}
}

func TestRedactorConcurrentUse(t *testing.T) {
	r := NewRedactor()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				r.Add("concurrent-secret-" + string(rune('a'+j%26)))
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				_ = r.String("text with concurrent-secret-q in it")
			}
		}()
	}
	wg.Wait()
	if got := r.String("concurrent-secret-q"); got != Mask {
		t.Fatalf("got %q", got)
	}
}

func TestRedactKeepsReferencesMasksTokens(t *testing.T) {
	r := NewRedactor()
	for in, want := range map[string]string{
		"DB_PASSWORD_FILE=/run/secrets/db_password":    "DB_PASSWORD_FILE=/run/secrets/db_password",
		"      DB_PASSWORD_FILE: /run/secrets/db_pass": "      DB_PASSWORD_FILE: /run/secrets/db_pass",
		"secret_key: ./secrets/secret_key":             "secret_key: ./secrets/secret_key",
		"DB_PASSWORD=hunter22":                         "DB_PASSWORD=" + Mask,
		"Authorization: Bearer abc.def.ghi":            "Authorization: Bearer " + Mask,
		"authorization: basic dXNlcjpwYXNz":            "authorization: basic " + Mask,
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}
