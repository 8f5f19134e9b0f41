package store

import (
	"errors"
	"testing"
)

// TestSavedFilesWriterOnlyAndFenced: the writer keeps and reads a step's
// saved files, replaced as a whole; a stale epoch is fenced; the reader
// may not read them (they can be secret).
func TestSavedFilesWriterOnlyAndFenced(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	reader, writer, _ := roleStores(t)
	ctx := ctxT(t)
	if _, err := writer.CreateRun(ctx, "run-s", "phase1", false); err != nil {
		t.Fatal(err)
	}
	l, err := writer.Acquire(ctx, "run-s", Holder{Operator: "alice", Host: "a", PID: 1})
	if err != nil {
		t.Fatal(err)
	}
	put := []SavedFile{{Name: "migrate.json", Data: []byte(`{"version":3}`)}, {Name: "compose/x.orig", Data: []byte("old")}}
	if err := writer.PutSaved(ctx, "run-s", l.Epoch, "s1", put); err != nil {
		t.Fatalf("writer keeps saved files: %v", err)
	}
	if err := writer.PutSaved(ctx, "run-s", l.Epoch, "s2", put[:1]); err != nil {
		t.Fatal(err)
	}
	if err := writer.PutSaved(ctx, "run-s", l.Epoch, "s1", put[1:]); err != nil {
		t.Fatalf("replace: %v", err)
	}
	got, err := writer.Saved(ctx, "run-s")
	if err != nil || len(got) != 2 || got[0].Step != "s1" || got[0].Name != "compose/x.orig" || string(got[0].Data) != "old" || got[1].Step != "s2" {
		t.Fatalf("saved files: %+v, %v", got, err)
	}

	now, _, err := writer.TakeOver(ctx, "run-s", Holder{Operator: "bob", Host: "b", PID: 2}, TakeOver{Force: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var fenced *FencedError
	if err := writer.PutSaved(ctx, "run-s", l.Epoch, "s1", nil); !errors.As(err, &fenced) || fenced.Current == nil || fenced.Current.Holder != "bob" {
		t.Fatalf("stale epoch: %v", err)
	}
	if err := writer.PutSaved(ctx, "run-s", now.Epoch, "s1", nil); err != nil {
		t.Fatalf("the new holder drops s1's files: %v", err)
	}
	if got, _ := writer.Saved(ctx, "run-s"); len(got) != 1 || got[0].Step != "s2" {
		t.Fatalf("after the drop: %+v", got)
	}

	var priv *PrivilegeError
	if _, err := reader.Saved(ctx, "run-s"); !errors.As(err, &priv) {
		t.Fatalf("the reader reads saved files: %v", err)
	}
	if err := reader.PutSaved(ctx, "run-s", now.Epoch, "s1", put); !errors.As(err, &priv) {
		t.Fatalf("the reader writes saved files: %v", err)
	}
	if _, err := reader.Runs(ctx); err != nil {
		t.Fatalf("the reader still lists runs: %v", err)
	}
}
