package files_test

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/files"
)

const runbookHead = `id: files-test
title: File actions
schedule: {date: "2025-10-24", timezone: UTC}
phases:
  - id: item2
    title: TLS
    slot: "08:00-11:00"
    steps:
      - id: certs
        title: Generate certificates
        budget: 5m
        guide: item2.md#certs
        do:
`

func registry() *steps.Registry {
	r := steps.NewRegistry()
	files.Register(r)
	return r
}

func TestYAMLDecode(t *testing.T) {
	src := runbookHead + `          - cert.generate: {dir: certs, dns: [localhost, nginx], ip: [127.0.0.1], days: 365}
          - file.template:
              template: nginx/tls.conf.tmpl
              path: nginx/conf.d/default.conf
              mode: 0640
              vars: {upstream: "app:8000", redirect_authority: "localhost:8443"}
          - secret.generate: {path: secrets/db_password, length: 32, alphabet: hex}
          - file.assert: {path: certs/server.key, mode: "0600"}
          - secret.scan: {paths: ["**/*.yml"], known_from: [secrets/db_password], history: true}
          - file.restore: {path: nginx/conf.d/default.conf}
          - cert.remove: {dir: certs}
          - secret.remove: {path: secrets/db_password}
`
	rb, err := runbooks.Parse([]byte(src), "files.yaml", nil, runbooks.LoadOptions{Actions: registry()})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	do := rb.Phases[0].Steps[0].Do
	if len(do) != 8 {
		t.Fatalf("%d actions, want 8", len(do))
	}
	if tpl := do[1].Params.(*files.Template); tpl.Mode != 0o640 || tpl.Vars["upstream"] != "app:8000" {
		t.Errorf("file.template decoded as %+v", tpl)
	}
	if a := do[3].Params.(*files.Assert); a.Mode != 0o600 {
		t.Errorf("quoted mode decoded as %04o", a.Mode)
	}
	env := &steps.Env{Redact: steps.NewRedactor()}
	want := "generate 32-char hex secret into secrets/db_password (mode 0600, value never shown); an existing one is kept"
	if got := do[2].Params.(steps.Action).Describe(env); got != want {
		t.Errorf("Describe:\n got %s\nwant %s", got, want)
	}
}

func TestYAMLErrors(t *testing.T) {
	for _, tc := range []struct {
		action, want string
	}{
		{"- secret.generate: {path: s, lenght: 32}", `files.yaml:14:40: secret.generate: unknown field "lenght"`},
		{"- file.template: {content: x, path: a, mode: 0999}", `files.yaml:14:56: file.template: mode "0999" is not an octal file mode like 0644`},
		{"- cert.generate: {dir: certs}", `files.yaml:14:13: cert.generate: give the names the certificate is for: dns (host names) and/or ip (addresses)`},
		{"- file.template: {template: nope.tmpl, path: a}", `files.yaml:14:13: file.template: template "nope.tmpl" not found`},
		{"- secret.scan: {patterns: ['(']}", "files.yaml:14:13: secret.scan: patterns: error parsing regexp: missing closing ): `(`"},
	} {
		src := runbookHead + "          " + tc.action + "\n"
		_, err := runbooks.Parse([]byte(src), "files.yaml", nil, runbooks.LoadOptions{Actions: registry()})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.action, err, tc.want)
		}
	}
}
