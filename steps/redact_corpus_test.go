package steps

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
)

// The redaction corpus: lines as they reach the journal, the output pane,
// logs and reports, and exactly what must come out. Two known secret
// values are taught; everything else is recognised by its shape.
const (
	corpusPW  = "Rot8-pa55/w0rd+x?&="  // a password with characters every encoding changes
	corpusTok = "tok_9f8e7d6c5b4a3210" // a generated token
)

var redactionCorpus = []struct {
	in, want string
}{
	// --- masked: known values in every form they travel in
	{"login with " + corpusPW + " now", "login with [redacted] now"},
	{"token " + corpusTok + " issued", "token [redacted] issued"},
	{"b64 " + base64.StdEncoding.EncodeToString([]byte(corpusPW)), "b64 [redacted]"},
	{"b64url " + base64.URLEncoding.EncodeToString([]byte(corpusPW)) + " end", "b64url [redacted] end"},
	{"raw " + base64.RawStdEncoding.EncodeToString([]byte(corpusTok)), "raw [redacted]"},
	{"rawurl=" + base64.RawURLEncoding.EncodeToString([]byte(corpusPW)), "rawurl=[redacted]"},
	{"q=" + url.QueryEscape(corpusPW) + "&page=2", "q=[redacted]&page=2"},
	{"/p/" + url.PathEscape(corpusPW) + "/x", "/p/[redacted]/x"},
	{"hex " + hex.EncodeToString([]byte(corpusPW)), "hex [redacted]"},
	{"HEX " + strings.ToUpper(hex.EncodeToString([]byte(corpusTok))), "HEX [redacted]"},
	{corpusPW + corpusPW, "[redacted][redacted]"},
	// --- masked: JSON
	{`{"password":"hunter22x"}`, `{"password":"[redacted]"}`},
	{`{"db_password": "hunter22x", "user": "app"}`, `{"db_password": "[redacted]", "user": "app"}`},
	{`{"access_token":"eyJhbGciOi.x.y","expires_in":3600}`, `{"access_token":"[redacted]","expires_in":3600}`},
	{`{"client_secret":"c-5ecret-v4lue"}`, `{"client_secret":"[redacted]"}`},
	{`{"apiKey":"k_live_abcdef"}`, `{"apiKey":"[redacted]"}`},
	// --- masked: YAML
	{"password: hunter22x", "password: [redacted]"},
	{"  POSTGRES_PASSWORD: s3cr3t-v4l", "  POSTGRES_PASSWORD: [redacted]"},
	{"  secret_key: 'two words'", "  secret_key: '[redacted]'"},
	{`  api_key: "k-123456"`, `  api_key: "[redacted]"`},
	{"- DB_PASSWORD=hunter22x", "- DB_PASSWORD=[redacted]"},
	// --- masked: env and shell
	{"PGPASSWORD=hunter22x psql -h db", "PGPASSWORD=[redacted] psql -h db"},
	{"export SECRET_KEY=0123456789abcdef", "export SECRET_KEY=[redacted]"},
	{"SECRET_KEY_BASE=0123456789", "SECRET_KEY_BASE=[redacted]"},
	{"GITHUB_TOKEN=ghp_abcdefghijkl", "GITHUB_TOKEN=[redacted]"},
	{"db_password = hunter22x, next", "db_password = [redacted], next"},
	// --- masked: DSNs
	{"host=db port=5432 user=app password=hunter22x dbname=app", "host=db port=5432 user=app password=[redacted] dbname=app"},
	{"host=db password='two words' user=app", "host=db password='[redacted]' user=app"},
	{"postgres://app:hunter22x@db:5432/app?sslmode=disable", "postgres://app:[redacted]@db:5432/app?sslmode=disable"},
	{"mysql://root:p%40ss@127.0.0.1/x", "mysql://root:[redacted]@127.0.0.1/x"},
	{`dsn="postgresql://u:p@ss@h/db"`, `dsn="postgresql://u:[redacted]@ss@h/db"`},
	// --- masked: URL user info and query
	{"GET https://user:hunter22x@example.org/", "GET https://user:[redacted]@example.org/"},
	{"GET /login?user=app&password=hunter22x&next=/", "GET /login?user=app&password=[redacted]&next=/"},
	{"GET /cb?access_token=abc123def&state=1", "GET /cb?access_token=[redacted]&state=1"},
	{"redis://:hunter22x@cache:6379/0", "redis://:[redacted]@cache:6379/0"},
	// --- masked: headers
	{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "Authorization: Bearer [redacted]"},
	{"authorization: basic YXBwOmh1bnRlcjIy", "authorization: basic [redacted]"},
	{"Proxy-Authorization: Basic YXBwOmh1bnRlcjIy", "Proxy-Authorization: Basic [redacted]"},
	{"X-Api-Key: k-123456", "X-Api-Key: [redacted]"},
	{"X-Auth-Token: abcdef123456", "X-Auth-Token: [redacted]"},
	{"Cookie: session=abc123; csrftoken=def456", "Cookie: [redacted]"},
	{`{"headers":{"Authorization":"Bearer abc.def.ghi"}}`, `{"headers":{"Authorization":"Bearer [redacted]"}}`},
	// --- masked: PEM private keys
	{"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----", "-----BEGIN PRIVATE KEY----- [redacted]"},
	{"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkq\n-----END ENCRYPTED PRIVATE KEY-----\nnext", "-----BEGIN ENCRYPTED PRIVATE KEY----- [redacted]\nnext"},
	{"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE", "-----BEGIN EC PRIVATE KEY----- [redacted]"},

	// --- readable: ordinary words after a password-like key
	{"environment variable DB_PASSWORD: expected unset", "environment variable DB_PASSWORD: expected unset"},
	{"secrets=[db_password secret_key]", "secrets=[db_password secret_key]"},
	{"secrets: [db_password, secret_key]", "secrets: [db_password, secret_key]"},
	{"db_password=file", "db_password=file"},
	{"password: required", "password: required"},
	{"DB_PASSWORD: not set", "DB_PASSWORD: not set"},
	{"token: none", "token: none"},
	{`GET /config, expect body matching /"db_password":"(env|file)"/`, `GET /config, expect body matching /"db_password":"(env|file)"/`},
	{`body matching /"db_password":"file","secret_key":"file"/`, `body matching /"db_password":"file","secret_key":"file"/`},
	{"expect a line matching /config: db_password=file secret_key=file/", "expect a line matching /config: db_password=file secret_key=file/"},
	{`{"db_password":"env"}`, `{"db_password":"env"}`},
	{`set services.app.secrets = ["db_password","secret_key"]`, `set services.app.secrets = ["db_password","secret_key"]`},
	{"password_file: missing", "password_file: missing"},
	// --- readable: references to where a secret lives
	{"DB_PASSWORD_FILE=/run/secrets/db_password", "DB_PASSWORD_FILE=/run/secrets/db_password"},
	{"SECRET_KEY_FILE=./secrets/secret_key", "SECRET_KEY_FILE=./secrets/secret_key"},
	{"password_file: secrets/db_password", "password_file: secrets/db_password"},
	{"PGPASSWORD=$DB_PASS psql", "PGPASSWORD=$DB_PASS psql"},
	{"password: ${target.db_password}", "password: ${target.db_password}"},
	{"password: {{ .Password }}", "password: {{ .Password }}"},
	{"password=[redacted]", "password=[redacted]"},
	// --- readable: SQL
	{"SELECT a.rolname FROM pg_authid a JOIN x b ON a.rolpassword = b.rolpassword", "SELECT a.rolname FROM pg_authid a JOIN x b ON a.rolpassword = b.rolpassword"},
	{"WHERE a.rolpassword = b.x", "WHERE a.rolpassword = b.x"},
	{"query target db (postgres://app@db/app), password from secrets/db_password:\nSELECT 1", "query target db (postgres://app@db/app), password from secrets/db_password:\nSELECT 1"},
	{"SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = $1", "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = $1"},
	{"ALTER ROLE app PASSWORD NULL", "ALTER ROLE app PASSWORD NULL"},
	{`sh -ec 'psql <<SQL` + "\n" + `\set pw` + "`cat /run/secrets/db_password`\nALTER ROLE postgres PASSWORD :'\\''pw'\\'';\nSQL'", `sh -ec 'psql <<SQL` + "\n" + `\set pw` + "`cat /run/secrets/db_password`\nALTER ROLE postgres PASSWORD :'\\''pw'\\'';\nSQL'"},
	{"SELECT password FROM users WHERE id = 1", "SELECT password FROM users WHERE id = 1"},
	// --- readable: secret names and ordinary text
	{"DB_PASSWORD", "DB_PASSWORD"},
	{"env_absent: [DB_PASSWORD, SECRET_KEY]", "env_absent: [DB_PASSWORD, SECRET_KEY]"},
	{"passwords are rotated; the primary key: id; token bucket", "passwords are rotated; the primary key: id; token bucket"},
	{"generate 32-char alnum secret into secrets/db_password (mode 0600, value never shown)", "generate 32-char alnum secret into secrets/db_password (mode 0600, value never shown)"},
	{"GET http://127.0.0.1:8001/health", "GET http://127.0.0.1:8001/health"},
	{"ssh://git@example.org/repo", "ssh://git@example.org/repo"},
	{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
	{"commit 3f2a9c1 secrets/db_password:1 (the secret value of secrets/db_password)", "commit 3f2a9c1 secrets/db_password:1 (the secret value of secrets/db_password)"},
}

func TestRedactionCorpus(t *testing.T) {
	if len(redactionCorpus) < 60 {
		t.Fatalf("the corpus has %d lines; keep at least 60", len(redactionCorpus))
	}
	r := NewRedactor(corpusPW, corpusTok)
	for i, tc := range redactionCorpus {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("corpus line %d: String(%q)\n got %q\nwant %q", i+1, tc.in, got, tc.want)
		}
		// Masking is stable: masked text stays as it is.
		if got := r.String(tc.want); got != tc.want {
			t.Errorf("corpus line %d: masking %q again gave %q", i+1, tc.want, got)
		}
	}
}

func TestRedactorValuesAndForms(t *testing.T) {
	r := NewRedactor(corpusPW, "short", "abc")
	if got := r.Values(); len(got) != 2 || got[0] != corpusPW || got[1] != "short" {
		t.Fatalf("Values %q", got)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(corpusPW))
	if !r.Known("x "+b64) || len(r.Found("x "+b64)) == 0 {
		t.Error("an encoded form is not known")
	}
	// Short values are masked as they are, not in encoded forms that
	// turn up by chance.
	if got := r.String("c2hvcnQ= short"); got != "c2hvcnQ= [redacted]" {
		t.Errorf("short value: %q", got)
	}
}
