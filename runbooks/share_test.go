package runbooks_test

import (
	"strings"
	"testing"
)

func TestParseApprovalAndNotify(t *testing.T) {
	src := mini(utcSchedule+"\n  start: \"08:00\"", "08:00-09:00", `        approval:
          count: 2
          reason: required
        do:
          - shell: {argv: ["true"]}
      - id: t
        title: T
        budget: 5m
        guide: g.md#part
        approval: true
      - id: u
        title: U
        budget: 5m
        guide: g.md#part
        approval: false
notify:
  - url: https://hooks.example.com/T0/B0
  - env: TEAM_WEBHOOK
    events: [approval_needed, run_finished]
`)
	rb, err := parse(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := rb.Steps()
	if a := steps[0].Approval; a == nil || a.Count != 2 || !a.ReasonRequired || a.Pos.Line != 17 {
		t.Errorf("approval of s: %+v", a)
	}
	if a := steps[1].Approval; a == nil || a.Count != 1 || a.ReasonRequired {
		t.Errorf("approval: true gave %+v", a)
	}
	if steps[2].Approval != nil {
		t.Errorf("approval: false gave %+v", steps[2].Approval)
	}
	if len(rb.Notify) != 2 || rb.Notify[0].URL != "https://hooks.example.com/T0/B0" || rb.Notify[1].Env != "TEAM_WEBHOOK" {
		t.Fatalf("notify %+v", rb.Notify)
	}
	if !rb.Notify[0].Wants("step_failed") || rb.Notify[1].Wants("step_failed") || !rb.Notify[1].Wants("run_finished") {
		t.Errorf("event filters: %+v", rb.Notify)
	}
}

// A webhook's URL is often its secret: a faulty one is never echoed.
func TestParseNotifyURLNotEchoed(t *testing.T) {
	src := mini(utcSchedule+"\n  start: \"08:00\"", "08:00-09:00", "notify:\n  - url: ftp://hooks.example.com/SECRET-PATH\n")
	_, err := parse(t, src, nil)
	if err == nil || !strings.Contains(err.Error(), "notify url: must start with https://") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "SECRET-PATH") {
		t.Errorf("the error echoes the URL: %v", err)
	}
}
