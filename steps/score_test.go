package steps

import (
	"math"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/runbooks"
)

type noActions struct{}

func (noActions) NewParams(string) (any, bool) { return nil, false }
func (noActions) Types() []string              { return nil }

const scoreRunbook = `id: scored
title: Scored
schedule: {date: "2025-10-24", timezone: UTC}
score:
  title: Security score
  target: 95
  areas:
    api: {title: API, weight: 40, baseline: 100}
    transport: {weight: 15, baseline: 40}
    data: {weight: 15, baseline: 50}
    secrets: {weight: 15, baseline: 60}
    audit: {weight: 15, baseline: 50}
phases:
  - id: p
    title: P
    slot: "08:00-12:00"
    steps:
      - {id: tls, title: TLS, budget: 5m, guide: g.md, raises: {transport: 100}}
      - {id: db, title: DB, budget: 5m, guide: g.md, raises: {data: 100, audit: 100}}
      - {id: sec, title: Secrets, budget: 5m, guide: g.md, raises: {secrets: 100}}
`

func TestComputeScoreFollowsTheSeedsRubric(t *testing.T) {
	rb, err := runbooks.Parse([]byte(scoreRunbook), "rb.yaml", fstest.MapFS{"g.md": {Data: []byte("# G\n")}}, runbooks.LoadOptions{Actions: noActions{}})
	if err != nil {
		t.Fatal(err)
	}
	run := NewRun()
	sc := ComputeScore(rb, run)
	// API 100 at 40 %, the other four at 15 %: 40 + 0.15*(40+50+60+50) = 70.
	if math.Abs(sc.Total-70) > 1e-9 || sc.Met() {
		t.Fatalf("start: %.2f (met %v), want 70", sc.Total, sc.Met())
	}
	at := t0
	apply := func(ev Event) {
		t.Helper()
		at = at.Add(1)
		ev.At, ev.Seq = at, run.LastSeq+1
		if _, err := run.Apply(ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"tls", "db"} {
		apply(Event{Kind: EvStepStarted, Step: id})
		apply(Event{Kind: EvStepSucceeded, Step: id})
	}
	if sc = ComputeScore(rb, run); math.Abs(sc.Total-94) > 1e-9 { // 40 + .15*(100+100+60+100)
		t.Fatalf("after tls and db: %.2f, want 94", sc.Total)
	}
	apply(Event{Kind: EvStepStarted, Step: "sec"})
	apply(Event{Kind: EvStepSucceeded, Step: "sec"})
	if sc = ComputeScore(rb, run); sc.Total != 100 || !sc.Met() {
		t.Fatalf("all done: %.2f", sc.Total)
	}
	// An undone step no longer counts.
	apply(Event{Kind: EvUndoStarted, Step: "tls"})
	apply(Event{Kind: EvUndoFinished, Step: "tls"})
	if sc = ComputeScore(rb, run); math.Abs(sc.Total-91) > 1e-9 || sc.Areas[1].Value != 40 {
		t.Fatalf("after undo of tls: %.2f, transport %d", sc.Total, sc.Areas[1].Value)
	}
}

func TestScoreErrorsArePositioned(t *testing.T) {
	src := scoreRunbook + "      - {id: x, title: X, budget: 5m, guide: g.md, raises: {speed: 100}}\n"
	_, err := runbooks.Parse([]byte(src), "rb.yaml", fstest.MapFS{"g.md": {Data: []byte("# G\n")}}, runbooks.LoadOptions{Actions: noActions{}})
	if err == nil || err.Error() != `rb.yaml:21:61: raises unknown score area "speed" (the score has: api, transport, data, secrets, audit)` {
		t.Fatalf("got %v", err)
	}
}
