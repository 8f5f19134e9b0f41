package files

import "testing"

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		ok        bool
	}{
		{"*.env", ".env", true}, // * matches the empty name, as in .gitignore
		{"*.env", "app.env", true},
		{"*.env", "config/app.env", true},
		{".env", "deploy/.env", true},
		{"**", "a/b/c", true},
		{"src/**", "src/a/b.py", true},
		{"src/**", "srcx/a.py", false},
		{"**/*.yml", "docker-compose.yml", true},
		{"**/*.yml", "a/b/c.yml", true},
		{"certs/*.key", "certs/server.key", true},
		{"certs/*.key", "certs/sub/server.key", false},
		{"a/**/z", "a/z", true},
		{"a/**/z", "a/b/c/z", true},
	} {
		if got := matchGlob(tc.pat, tc.name); got != tc.ok {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tc.pat, tc.name, got, tc.ok)
		}
	}
}

func TestPatterns(t *testing.T) {
	s := &SecretScan{}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line string
		kind string // "" for no finding
	}{
		{"POSTGRES_PASSWORD: staging_pass_123", "password assignment"},
		{"DB_PASSWORD=hunter2hunter2", "password assignment"},
		{`"api_key": "sk_live_abcdefghijkl"`, "password assignment"},
		{`password := "correct-horse-battery"`, "password assignment"},
		{"POSTGRES_PASSWORD_FILE: /run/secrets/db_password", ""},
		{"DB_PASSWORD: ${DB_PASSWORD}", ""},
		{"password: $PGPASSWORD", ""},
		{"password = settings.DB_PASSWORD", ""},
		{"token = get_token()", ""},
		{`api_key = os.environ["API_KEY"]`, ""},
		{"secret_key: {{ .Vars.key }}", ""},
		{"password: <your password>", ""},
		{"password: short", ""},
		{"require_password: true", ""},
		{"if password == expected:", ""},
		{"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS access key ID"},
		{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key"},
		{"GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789", "GitHub token"},
		{"url: postgres://app:s3cr3tpw@db:5432/app", "password in URL"},
		{"url: postgres://app:${DB_PASSWORD}@db:5432/app", ""},
		{"url: https://example.org/path", ""},
		{"-----BEGIN OPENSSH PRIVATE KEY-----", "PEM private key"},
		{"-----BEGIN CERTIFICATE-----", ""},
	} {
		got := ""
		for _, p := range s.patterns {
			if p.matches(tc.line) {
				got = p.kind
				break
			}
		}
		if got != tc.kind {
			t.Errorf("%q: found %q, want %q", tc.line, got, tc.kind)
		}
	}
}
