package docker

import (
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

const runbookHead = `id: docker-actions
title: Docker actions
schedule: {date: "2025-10-24", timezone: UTC}
targets:
  docker: {kind: docker, env: DOCKER_HOST}
phases:
  - id: item4
    title: Secrets management
    slot: "14:00-18:00"
    steps:
      - id: secrets-compose
        title: Move secrets out of the environment
        budget: 30m
        guide: guide.md#secrets
`

const runbookGood = runbookHead + `        do:
          - compose.edit:
              file: lab/docker-compose.yml
              patch:
                services:
                  app:
                    environment: {DB_PASSWORD: null, DB_PASSWORD_FILE: /run/secrets/db_password}
                    secrets: [db_password]
                secrets:
                  db_password: {file: ./secrets/db_password}
          - compose.apply: {file: lab/docker-compose.yml, project: lab, services: [app]}
          - docker.restart: {project: lab, service: nginx, timeout: 20s}
          - docker.stop: {container: lab-old-1}
          - docker.start: {container: lab-nginx-1}
        verify:
          - docker.find: {project: lab, service: app, count: 1}
          - docker.wait: {project: lab, service: app, until: healthy, timeout: 2m}
          - docker.assert:
              project: lab
              service: app
              running: true
              health: healthy
              ports: ["8443:443"]
              mounts: ["/run/secrets/db_password"]
              env_present: [DB_PASSWORD_FILE]
              env_absent: [DB_PASSWORD]
              max_restarts: 0
          - docker.exec: {container: lab-db-1, argv: [pg_isready], expect_output: accepting}
          - docker.logs: {container: lab-db-1, match: 'AUDIT: SESSION,.*DDL', min_count: 1}
        undo:
          - compose.restore: {file: lab/docker-compose.yml, project: lab, services: [app]}
`

func registry() *steps.Registry {
	r := steps.NewRegistry()
	Register(r)
	return r
}

func TestParseRunbook(t *testing.T) {
	rb, err := runbooks.Parse([]byte(runbookGood), "rb.yaml", nil, runbooks.LoadOptions{Actions: registry()})
	if err != nil {
		t.Fatal(err)
	}
	s := rb.Phases[0].Steps[0]
	var types []string
	for _, list := range [][]runbooks.Action{s.Do, s.Verify, s.Undo} {
		for _, a := range list {
			types = append(types, a.Type)
			if _, ok := a.Params.(steps.Action); !ok {
				t.Errorf("%s: params %T are not an action", a.Type, a.Params)
			}
		}
	}
	want := "compose.edit compose.apply docker.restart docker.stop docker.start docker.find docker.wait docker.assert docker.exec docker.logs compose.restore"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("types = %s\nwant    %s", got, want)
	}
	as := s.Verify[2].Params.(*Assert)
	if as.Project != "lab" || as.Service != "app" || *as.MaxRestarts != 0 || as.EnvAbsent[0] != "DB_PASSWORD" {
		t.Errorf("assert decoded as %+v", as)
	}
	ed := s.Do[0].Params.(*Edit)
	if m, _ := ed.Patch.mapping(); len(m) != 2 || m[0].Key != "services" || m[1].Key != "secrets" {
		t.Errorf("patch decoded out of order: %v", m)
	}
	if lc := s.Do[2].Params.(*Lifecycle); lc.op != opRestart || lc.Timeout != "20s" {
		t.Errorf("restart decoded as %+v", lc)
	}
	if lc := s.Do[3].Params.(*Lifecycle); lc.op != opStop {
		t.Errorf("stop decoded as %+v", lc)
	}
}

func TestParseRunbookErrors(t *testing.T) {
	tests := []struct{ action, want string }{
		{"docker.assert: {container: x, helth: healthy}", `rb.yaml:16:43: docker.assert: unknown field "helth"`},
		{"docker.assert: {container: x}", "rb.yaml:16:13: docker.assert: nothing to check"},
		{"docker.assert:\n              container: x\n              running: yes please", "rb.yaml:18:24: docker.assert: cannot unmarshal string into Go struct field Assert.Running of type bool"},
		{"docker.wait: {container: x, until: sleeping}", `rb.yaml:16:13: docker.wait: until "sleeping": expected healthy or running`},
		{"docker.exec: {container: x}", "docker.exec: argv is required"},
		{"docker.exec: {container: x, argv: [a], expect_output: '('}", "docker.exec: expect_output: error parsing regexp"},
		{"docker.logs: {service: db}", "docker.logs: match is required"},
		{"docker.find: {project: lab}", "docker.find: project needs a service"},
		{"docker.find: {container: a, service: b}", "docker.find: name either container or project/service, not both"},
		{"docker.restart: {container: a, timeout: soon}", `docker.restart: timeout "soon" is not a positive duration`},
		{"docker.start: {container: a, timeout: 5s}", "docker.start: timeout is the grace period of a stop"},
		{"docker.assert: {container: a, ports: ['80:http']}", `docker.assert: ports: "80:http": "http" is not a port number`},
		{"docker.assert: {container: a, mounts: [data]}", `mount point "data" must be an absolute path`},
		{"docker.assert: {container: a, env_absent: [DB_PASSWORD=x]}", "give the name only, never a value"},
		{"compose.edit: {file: c.yml, patch: {service: {app: {}}}}", `compose.edit: patch: "service" is not a top-level compose key`},
		{"compose.edit: {file: c.yml, patch: [a]}", "compose.edit: patch is required"},
		{"compose.apply: {file: c.yml, project: Lab}", `compose.apply: project "Lab": compose project names are lowercase`},
		{"compose.restore: {file: c.yml, apply: maybe}", "rb.yaml:16:51: compose.restore: cannot unmarshal string"},
	}
	for _, tc := range tests {
		src := runbookHead + "        do:\n          - " + tc.action + "\n"
		_, err := runbooks.Parse([]byte(src), "rb.yaml", nil, runbooks.LoadOptions{Actions: registry()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\nerror %v\nwant it to contain %q", tc.action, err, tc.want)
		}
	}
}
