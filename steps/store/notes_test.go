package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// roleStores opens the store of a fresh database as a reader and as a
// writer (roles.sql's group roles, granted to two new login roles).
func roleStores(t *testing.T) (reader, writer *Store, readerRole string) {
	t.Helper()
	_, dsn, _ := openStore(t)
	ctx := ctxT(t)
	admin := adminConn(t, dsn)
	if err := InstallRoles(ctx, admin); err != nil {
		t.Fatal(err)
	}
	r, w := randName("reader_"), randName("writer_")
	for _, q := range []string{
		"CREATE ROLE " + r + " LOGIN IN ROLE " + ReaderRole,
		"CREATE ROLE " + w + " LOGIN IN ROLE " + WriterRole,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), storeDSN(t))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+r)
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+w)
	})
	_, db, _ := strings.Cut(strings.TrimPrefix(dsn, "postgres://"), "/")
	db, _, _ = strings.Cut(db, "?")
	var err error
	if writer, err = Open(ctx, dsnWith(t, storeDSN(t), db, w), Options{}); err != nil {
		t.Fatalf("open as the writer: %v", err)
	}
	t.Cleanup(writer.Close)
	if reader, err = Open(ctx, dsnWith(t, storeDSN(t), db, r), Options{}); err != nil {
		t.Fatalf("open as the reader: %v", err)
	}
	t.Cleanup(reader.Close)
	return reader, writer, r
}

func TestNotesWakeTheDriverAndNeedTheWriterRole(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: not under -short")
	}
	reader, writer, readerRole := roleStores(t)
	ctx := ctxT(t)
	if _, err := writer.CreateRun(ctx, "run-n", "phase1", false); err != nil {
		t.Fatal(err)
	}
	// The driver waits; a note wakes it (LISTEN/NOTIFY): nothing polls.
	got := make(chan []Note, 1)
	errc := make(chan error, 1)
	go func() {
		ns, err := writer.WaitNotes(ctx, "run-n", 0)
		errc <- err
		got <- ns
	}()
	time.Sleep(100 * time.Millisecond) // let it LISTEN; a note before that is read by its first query anyway
	id, err := writer.AddNote(ctx, Note{Run: "run-n", Step: "apply", By: "bob", Host: "bob-laptop", Text: "backup verified"})
	if err != nil || id == 0 {
		t.Fatalf("writer adds a note: %d %v", id, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ns := <-got
	if len(ns) != 1 || ns[0].ID != id || ns[0].By != "bob" || ns[0].Host != "bob-laptop" || ns[0].Step != "apply" || ns[0].Text != "backup verified" || ns[0].At.IsZero() {
		t.Fatalf("notes %+v", ns)
	}
	// Only the notes after the last one seen; the reader reads them too.
	id2, _ := writer.AddNote(ctx, Note{Run: "run-n", By: "cy", Host: "c", Text: "second"})
	ns, err = reader.Notes(ctx, "run-n", id)
	if err != nil || len(ns) != 1 || ns[0].ID != id2 {
		t.Fatalf("reader lists notes after %d: %+v %v", id, ns, err)
	}
	// A reader follows but adds no note and gives no approval.
	var priv *PrivilegeError
	_, err = reader.AddNote(ctx, Note{Run: "run-n", By: "dee", Host: "d", Text: "let me in"})
	if !errors.As(err, &priv) || !strings.Contains(err.Error(), "grant runbook_writer to "+readerRole) {
		t.Fatalf("reader adds a note: %v", err)
	}
	_, err = reader.Approve(ctx, Approval{Run: "run-n", Step: "apply", Approver: "dee", Host: "d"})
	if !errors.As(err, &priv) {
		t.Fatalf("reader approves: %v", err)
	}
	// The wait honours its context.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := writer.WaitNotes(cctx, "run-n", id2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait past its context: %v", err)
	}
	if _, err := writer.AddNote(ctx, Note{Run: "run-n", By: "x", Host: "h", Text: strings.Repeat("a", MaxNoteLen+1)}); err == nil {
		t.Fatal("an over-long note was taken")
	}
}
