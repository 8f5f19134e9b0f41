package steps

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// benchJournal builds a journal of n events over the given number of steps,
// in the mix a long, troubled window produces: failed attempts and retries,
// manual steps waiting on the operator, checklist ticks, many notes,
// verifies, checkpoints, undos and re-runs, and a few resumes.
func benchJournal(steps, n int) []Event {
	evs := make([]Event, 0, n)
	at := t0
	add := func(ev Event) {
		at = at.Add(time.Second)
		ev.At = at
		ev.Seq = uint64(len(evs) + 1)
		evs = append(evs, ev)
	}
	add(Event{Kind: EvRunStarted, Runbook: "bench", Digest: "0123456789abcdef", Actor: "ana", Host: "ops-laptop", PID: 4242})
	perStep := (n - 1) / steps
	for i := 0; i < steps; i++ {
		id := fmt.Sprintf("phase-%02d.step-%03d", i/25, i)
		start := len(evs)
		attempt := 0
		for len(evs)-start+12 <= perStep-6 { // a cycle adds at most 12
			attempt++
			add(Event{Kind: EvStepStarted, Step: id, Attempt: attempt, Actor: "ana"})
			switch attempt % 4 {
			case 0: // a manual action: ticks while waiting, then confirm
				add(Event{Kind: EvStepAwaiting, Step: id, Action: 1})
				for k := 0; k < 6; k++ {
					add(Event{Kind: EvChecklistTick, Step: id, Item: k % 4, Checked: k < 4, Actor: "ana"})
				}
				add(Event{Kind: EvStepConfirmed, Step: id, Action: 1, Actor: "ben", Reason: "checked on the console"})
				add(Event{Kind: EvStepFailed, Step: id, Err: "verify 1 (http): GET https://127.0.0.1:8443/health: 502 Bad Gateway"})
			case 1:
				add(Event{Kind: EvStepFailed, Step: id, Err: "do 1 (shell): docker compose up -d exited 1, expected 0"})
			case 2:
				add(Event{Kind: EvStepVerifying, Step: id})
				add(Event{Kind: EvStepFailed, Step: id, Err: "verify 2 (sql): extension pgaudit is not loaded"})
			case 3:
				add(Event{Kind: EvStepDirty, Step: id, Note: "process ended while running"})
				add(Event{Kind: EvRunResumed, Actor: "ana", Host: "ops-laptop", PID: 4243, Digest: "0123456789abcdef"})
				add(Event{Kind: EvUndoStarted, Step: id, Actor: "ana"})
				add(Event{Kind: EvUndoFinished, Step: id})
			}
			add(Event{Kind: EvNote, Step: id, Actor: "ana", Note: fmt.Sprintf("attempt %d: upstream restarted, waiting for the health check to settle before trying again", attempt)})
			add(Event{Kind: EvNote, Step: id, Actor: "ben", Note: "P95 was 140 ms during the attempt; cache cold"})
		}
		for len(evs)-start < perStep-6 {
			add(Event{Kind: EvNote, Step: id, Actor: "ana", Note: "filler note to reach the planned size"})
		}
		attempt++
		add(Event{Kind: EvStepStarted, Step: id, Attempt: attempt, Actor: "ana"})
		add(Event{Kind: EvStepVerifying, Step: id})
		add(Event{Kind: EvStepSucceeded, Step: id})
		add(Event{Kind: EvCheckpoint, Step: id, Commit: "9f2c1e07d4b3a2910e8f6c5d4b3a2910e8f6c5d4"})
		add(Event{Kind: EvUndoStarted, Step: id, Actor: "ana"})
		add(Event{Kind: EvUndoFinished, Step: id})
	}
	for len(evs) < n {
		add(Event{Kind: EvNote, Step: "phase-00.step-000", Actor: "ana", Note: "closing note"})
	}
	return evs
}

// BenchmarkFoldInMemory100k folds journal bytes already in memory: the
// fold alone. `runbook status` on the same size of journal, as a process
// reading the file, is BenchmarkStatus100kProcess in cmd/runbook.
func BenchmarkFoldInMemory100k(b *testing.B) {
	const nSteps, nEvents = 500, 100_000
	var buf bytes.Buffer
	if err := WriteEvents(&buf, benchJournal(nSteps, nEvents)); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()

	// Check once, outside the clock, that the journal folds to what it
	// says: every step undone after its last success.
	events, torn, err := DecodeJournal("bench", data)
	if err != nil || torn != nil || len(events) != nEvents {
		b.Fatalf("decode: %d events, torn %v, %v", len(events), torn, err)
	}
	run, err := Fold(events)
	if err != nil {
		b.Fatal(err)
	}
	if len(run.Steps) != nSteps || run.LastSeq != nEvents {
		b.Fatalf("%d steps, last seq %d", len(run.Steps), run.LastSeq)
	}
	for id, st := range run.Steps {
		if st.Status != Undone || st.Attempts < 2 {
			b.Fatalf("step %s: %s after %d attempts", id, st.Status, st.Attempts)
		}
	}

	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// The path reopening, status and reports take: decode and fold
		// one record at a time.
		r, torn, err := FoldJournal("bench", data)
		if err != nil || torn != nil || r.LastSeq != nEvents {
			b.Fatalf("fold: %v %v", torn, err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/op")
}

func BenchmarkJournalAppend(b *testing.B) {
	j, _, _, err := OpenJournal(filepath.Join(b.TempDir(), "journal"), NewRedactor("a-secret-value"))
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	ev := Event{Kind: EvNote, Step: "item2.nginx-config", At: t0, Actor: "ana", Note: "nginx -t passed; reloading the container"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := j.Append(ev); err != nil {
			b.Fatal(err)
		}
	}
}
