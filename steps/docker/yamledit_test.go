package docker

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

func mustPatch(t *testing.T, src string) yaml.MapSlice {
	t.Helper()
	p, err := ParsePatch(src)
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	m, ok := p.mapping()
	if !ok {
		t.Fatalf("patch %q is not a mapping", src)
	}
	return m
}

func TestMergeEdit(t *testing.T) {
	tests := []struct {
		name, src, patch, want string
	}{
		{
			name:  "replace scalar keeps trailing comment",
			src:   "services:\n  app:\n    image: a:1   # pinned\n    restart: always\n",
			patch: "services: {app: {image: a:2}}",
			want:  "services:\n  app:\n    image: \"a:2\"   # pinned\n    restart: always\n",
		},
		{
			name:  "add key at the end of a nested mapping",
			src:   "services:\n  app:\n    image: a\n  db:\n    image: pg\n",
			patch: "services: {app: {command: [serve, --tls]}}",
			want:  "services:\n  app:\n    image: a\n    command:\n      - serve\n      - \"--tls\"\n  db:\n    image: pg\n",
		},
		{
			name:  "remove a key and its block",
			src:   "services:\n  app:\n    image: a\n    ports:\n      - \"80:80\"\n      - \"81:81\"\n    restart: always\n",
			patch: "services: {app: {ports: null}}",
			want:  "services:\n  app:\n    image: a\n    restart: always\n",
		},
		{
			name:  "replace a same-indent list",
			src:   "services:\n  db:\n    volumes:\n    - a:/a\n    - b:/b\n    restart: always\n",
			patch: "services: {db: {volumes: [\"c:/c\"]}}",
			want:  "services:\n  db:\n    volumes:\n    - \"c:/c\"\n    restart: always\n",
		},
		{
			name:  "list environment edited key by key",
			src:   "services:\n  app:\n    environment:\n      - A=1\n      - B=2   # secret\n      - \"C=3\"\n",
			patch: "services: {app: {environment: {B: null, C: x=y, D: 4}}}",
			want:  "services:\n  app:\n    environment:\n      - A=1\n      - \"C=x=y\"\n      - \"D=4\"\n",
		},
		{
			name:  "mapping environment merged",
			src:   "services:\n  db:\n    environment:\n      PASSWORD: pw\n      DB: app\n",
			patch: "services: {db: {environment: {PASSWORD: null, PASSWORD_FILE: /run/secrets/pw}}}",
			want:  "services:\n  db:\n    environment:\n      DB: app\n      PASSWORD_FILE: /run/secrets/pw\n",
		},
		{
			name:  "removing the last key leaves an empty mapping",
			src:   "services:\n  db:\n    environment:\n      PASSWORD: pw\n    image: pg\n",
			patch: "services: {db: {environment: {PASSWORD: null}}}",
			want:  "services:\n  db:\n    environment: {}\n    image: pg\n",
		},
		{
			name:  "flow mapping replaced in block style",
			src:   "services:\n  db: {image: pg}   # small\n",
			patch: "services: {db: {restart: always}}",
			want:  "services:\n  db:   # small\n    image: pg\n    restart: always\n",
		},
		{
			name:  "new top-level key spaced like its siblings",
			src:   "services:\n  app:\n    image: a\n\nvolumes:\n  data: {}\n# end\n",
			patch: "secrets: {pw: {file: ./pw}}",
			want:  "services:\n  app:\n    image: a\n\nvolumes:\n  data: {}\n\nsecrets:\n  pw:\n    file: \"./pw\"\n# end\n",
		},
		{
			name:  "null value on a key becomes a mapping",
			src:   "services:\n  app:\n    environment:\n    image: a\n",
			patch: "services: {app: {environment: {A: \"1\"}}}",
			want:  "services:\n  app:\n    environment:\n      A: \"1\"\n    image: a\n",
		},
		{
			name:  "comments-only file",
			src:   "# nothing yet\n",
			patch: "services: {app: {image: a}}",
			want:  "# nothing yet\nservices:\n  app:\n    image: a\n",
		},
		{
			name:  "quoting of ambiguous scalars",
			src:   "x-a: 1\n",
			patch: "x-a: {port: \"80:80\", flag: \"yes\", num: \"8080\", n: 8080, f: 1.5, b: true, s: plain/path, e: \"\"}",
			want:  "x-a:\n  port: \"80:80\"\n  flag: \"yes\"\n  num: \"8080\"\n  \"n\": 8080\n  f: 1.5\n  b: true\n  s: plain/path\n  e: \"\"\n",
		},
		{
			name:  "list of mappings",
			src:   "services:\n  app:\n    image: a\n",
			patch: "services: {app: {secrets: [{source: pw, target: db_password, mode: 0400}]}}",
			want:  "services:\n  app:\n    image: a\n    secrets:\n      - source: pw\n        target: db_password\n        mode: 256\n",
		},
		{
			name:  "crlf kept",
			src:   "services:\r\n  app:\r\n    image: a\r\n",
			patch: "services: {app: {image: b}}",
			want:  "services:\r\n  app:\r\n    image: b\r\n",
		},
		{
			name:  "no final newline kept",
			src:   "services:\n  app:\n    image: a",
			patch: "services: {app: {image: b}}",
			want:  "services:\n  app:\n    image: b",
		},
		{
			name:  "four-space indentation learned",
			src:   "services:\n    app:\n        image: a\n",
			patch: "services: {app: {environment: {A: b}}}",
			want:  "services:\n    app:\n        image: a\n        environment:\n            A: b\n",
		},
		{
			name:  "service using a merge key",
			src:   "x-common: &common\n  restart: always\nservices:\n  app:\n    <<: *common\n    image: a\n",
			patch: "services: {app: {image: b}}",
			want:  "x-common: &common\n  restart: always\nservices:\n  app:\n    <<: *common\n    image: b\n",
		},
		{
			name:  "block scalar with a hash line replaced whole",
			src:   "services:\n  app:\n    command: |\n      run\n      # part of the text\n    image: a\n",
			patch: "services: {app: {command: x}}",
			want:  "services:\n  app:\n    command: x\n    image: a\n",
		},
		{
			name:  "removing an absent key changes nothing",
			src:   "services:\n  app:\n    image: a   # keep\n",
			patch: "services: {app: {ports: null}, db: null}",
			want:  "services:\n  app:\n    image: a   # keep\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mergeEdit([]byte(tc.src), mustPatch(t, tc.patch))
			if err != nil {
				t.Fatalf("mergeEdit: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			again, err := mergeEdit(got, mustPatch(t, tc.patch))
			if err != nil {
				t.Fatalf("second mergeEdit: %v", err)
			}
			if string(again) != string(got) {
				t.Fatalf("not idempotent; second run:\n%s", again)
			}
		})
	}
}

func TestMergeEditRefuses(t *testing.T) {
	tests := []struct {
		name, src, patch, want string
	}{
		{"several documents", "a: 1\n---\nb: 2\n", "a: 2", "several YAML documents"},
		{"list root", "- a\n", "a: 2", "top level"},
		{"list env with a mapping value", "services:\n  app:\n    environment:\n      - A=1\n", "services: {app: {environment: {A: {x: 1}}}}", "single value"},
		{"broken yaml", "services: [\n", "a: 1", "parse"},
		{"anchored value that aliases share", "services:\n  app:\n    environment: &env\n      A: 1\n  db:\n    environment: *env\n", "services: {app: {environment: {B: 2}}}", "edit the file by hand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mergeEdit([]byte(tc.src), mustPatch(t, tc.patch))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// The seed's stack: the Item 4 edit of the lab compose file, compared
// with a golden file; every comment outside the replaced values survives.
func TestMergeEditComposeGolden(t *testing.T) {
	src, err := os.ReadFile("testdata/compose-before.yml")
	if err != nil {
		t.Fatal(err)
	}
	patch := mustPatch(t, secretsPatch)
	got, err := mergeEdit(src, patch)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/compose-after.golden.yml"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("edited file differs from %s:\n%s", golden, got)
	}
	for _, l := range strings.Split(string(src), "\n") {
		c := strings.TrimSpace(l)
		if i := strings.Index(c, "#"); i >= 0 && !strings.Contains(c, "DB_PASSWORD=") {
			if !strings.Contains(string(got), c[i:]) {
				t.Errorf("comment %q lost", c[i:])
			}
		}
	}
	if strings.Contains(string(got), "changeme-staging") || strings.Contains(string(got), "also-plaintext") {
		t.Errorf("plaintext secrets still in the edited file:\n%s", got)
	}
}

const secretsPatch = `
services:
  nginx:
    ports: ["8443:443", "8001:8000"]
    volumes: ["./certs:/etc/nginx/certs:ro"]
  app:
    environment:
      DB_PASSWORD: null
      JWT_SECRET: null
      DB_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
  db:
    environment:
      POSTGRES_PASSWORD: null
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
secrets:
  db_password:
    file: ./secrets/db_password
`
