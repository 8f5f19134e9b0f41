package docker

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// The plan view: each action's Describe names the container, the API call
// and what is checked, with secrets masked. No engine is needed.
func TestDescribe(t *testing.T) {
	const secret = "hunter2-very-secret"
	// The targets the actions name are defined: the loader refuses others.
	head := strings.Replace(runbookHead, "targets:\n", "targets:\n  dbpw: {kind: value, secret: true}\n  lab2: {kind: docker}\n", 1)
	src := head + `        do:
          - docker.exec:
              container: lab-db-1
              argv: [psql, -c, "ALTER ROLE app PASSWORD '${target.dbpw}'"]
              user: postgres
              env: {PGPASSWORD: "${target.dbpw}"}
          - compose.edit:
              file: lab/docker-compose.yml
              patch:
                services:
                  app:
                    environment: {DB_PASSWORD: null, DB_PASS: plain-pass, AUTH_KEY_FILE: /run/secrets/k}
                    ports: ["443:443"]
          - compose.apply: {file: lab/docker-compose.yml, project: lab, services: [nginx, app]}
          - docker.restart: {project: lab, service: nginx, timeout: 20s}
          - docker.stop: {container: lab-old-1, target: lab2}
          - docker.start: {container: lab-old-1}
        verify:
          - docker.find: {project: lab, service: app, count: 1}
          - docker.wait: {service: app}
          - docker.assert: {container: lab-app-1, running: true, health: healthy, ports: ["8443:443"], env_absent: [DB_PASSWORD], max_restarts: 0}
          - docker.logs: {container: lab-db-1, match: 'AUDIT: SESSION,.*DDL'}
          - docker.logs: {container: lab-db-1, match: 'ERROR', max_count: 0, since: 15m}
        undo:
          - compose.restore: {file: lab/docker-compose.yml, project: lab, services: [app]}
`
	rb, err := runbooks.Parse([]byte(src), "rb.yaml", nil, runbooks.LoadOptions{Actions: registry()})
	if err != nil {
		t.Fatal(err)
	}
	env := &steps.Env{Targets: steps.Targets{"dbpw": secret}, Redact: steps.NewRedactor(secret)}
	s := rb.Phases[0].Steps[0]
	var got []string
	for _, list := range [][]runbooks.Action{s.Do, s.Verify, s.Undo} {
		for _, a := range list {
			got = append(got, a.Params.(steps.Action).Describe(env))
		}
	}
	want := []string{
		`exec psql -c 'ALTER ROLE app PASSWORD '\''[redacted]'\''' in container lab-db-1 (POST /containers/{id}/exec) as postgres with env PGPASSWORD, expect exit 0`,
		`edit compose file lab/docker-compose.yml: remove services.app.environment.DB_PASSWORD; set services.app.environment.DB_PASS = [redacted]; set services.app.environment.AUTH_KEY_FILE = "/run/secrets/k"; set services.app.ports = ["443:443"]`,
		`docker compose (or docker-compose) --ansi never -f lab/docker-compose.yml -p lab up -d nginx app`,
		`restart service lab/nginx (POST /containers/{id}/restart), grace 20s`,
		`stop container lab-old-1 on lab2 (POST /containers/{id}/stop)`,
		`start container lab-old-1 (POST /containers/{id}/start)`,
		`find service lab/app (GET /containers/json, by compose labels), expect 1`,
		`wait until service app is healthy (poll GET /containers/{id}/json), at most 2m`,
		`inspect container lab-app-1 (GET /containers/{id}/json) and check running, health healthy, ports 8443:443, env unset DB_PASSWORD, restarts <= 0`,
		`read logs of container lab-db-1 since the step began (GET /containers/{id}/logs), expect at least 1 line(s) matching /AUDIT: SESSION,.*DDL/`,
		`read logs of container lab-db-1 of the last 15m (GET /containers/{id}/logs), expect at most 0 line(s) matching /ERROR/`,
		`restore compose file lab/docker-compose.yml as it was before this step's edit, then docker compose (or docker-compose) --ansi never -f lab/docker-compose.yml -p lab up -d app`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d descriptions, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("describe %d:\ngot  %s\nwant %s", i, got[i], want[i])
		}
		if strings.Contains(got[i], secret) || strings.Contains(got[i], "plain-pass") {
			t.Errorf("secret in plan view: %s", got[i])
		}
	}
}
