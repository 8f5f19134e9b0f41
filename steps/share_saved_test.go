package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// saveOnDo makes the harness's do1 keep a file in the step's save
// directory (0600 in 0700, as the real actions do) and its undo1 read it
// back into *got and drop it, as pg.migrate does.
func saveOnDo(h *harness, content string, got *string) {
	h.world.on("do1", func(_ context.Context, env *Env) error {
		if content == "" {
			return nil
		}
		if err := os.MkdirAll(filepath.Join(env.SaveDir, "sub"), 0o700); err != nil {
			return err
		}
		return WriteFileAtomic(filepath.Join(env.SaveDir, "sub", "prior.json"), []byte(content), 0o600)
	})
	h.world.on("undo1", func(_ context.Context, env *Env) error {
		b, err := os.ReadFile(filepath.Join(env.SaveDir, "sub", "prior.json"))
		if err != nil {
			*got = "nothing saved"
			return nil // what a real undo does: "nothing to revert"
		}
		*got = string(b)
		return os.Remove(filepath.Join(env.SaveDir, "sub", "prior.json"))
	})
}

// copyJournal gives machine b machine a's journal (no saved files): the
// run moved without its save directories.
func copyJournal(t *testing.T, a, b *harness) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(b.journalPath()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.journalPath(), a.journalBytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func hasCall(h *harness, call string) bool {
	for _, c := range h.world.ran() {
		if c == call {
			return true
		}
	}
	return false
}

// TestUndoElsewhereRefusedWithoutSavedFiles: a step whose do saved files
// on machine A cannot be undone on machine B that lacks them: the undo is
// refused before any undo action runs, naming A and where to copy the
// files; once copied, the undo runs and uses them.
func TestUndoElsewhereRefusedWithoutSavedFiles(t *testing.T) {
	a := newHarness(t)
	a.opt.Host = "laptop-a"
	var got string
	saveOnDo(a, "prior-version-7", &got)
	sa := a.open()
	if err := sa.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	st := sa.Snapshot().Step("auto")
	if st.DoHost != "laptop-a" || st.Saved != SavedFiles {
		t.Fatalf("after the do: host %q saved %q", st.DoHost, st.Saved)
	}
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(a.journalBytes()), "prior-version-7") {
		t.Fatal("a saved file reached the journal")
	}

	b := newHarness(t)
	b.opt.Host = "laptop-b"
	saveOnDo(b, "", &got)
	copyJournal(t, a, b)
	sb := b.open()
	err := sb.Undo(context.Background(), "auto")
	var se *SavedElsewhereError
	if !errors.As(err, &se) || se.Host != "laptop-a" || se.Unknown {
		t.Fatalf("undo on another machine: %v", err)
	}
	dir := filepath.Join(RunDir(b.opt.StateDir, b.rb.ID), "saved", "auto")
	for _, w := range []string{"laptop-a", "saved/auto", dir, "refusing to undo"} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("refusal %q does not say %q", err, w)
		}
	}
	if hasCall(b, "auto/undo1") || sb.Snapshot().Step("auto").Status != Succeeded {
		t.Fatalf("the refused undo ran or was journaled: %v, %s", b.world.ran(), sb.Snapshot().Step("auto").Status)
	}

	// The operator copies the directory over: the undo runs with it.
	src := filepath.Join(RunDir(a.opt.StateDir, a.rb.ID), "saved", "auto", "sub")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(src, "prior.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "prior.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sb.Undo(context.Background(), "auto"); err != nil {
		t.Fatalf("undo with the copied files: %v", err)
	}
	if got != "prior-version-7" || sb.Snapshot().Step("auto").Status != Undone {
		t.Fatalf("undo read %q, step %s", got, sb.Snapshot().Step("auto").Status)
	}
}

// TestUndoElsewhereOfAStepThatSavedNothing: a do that left its save
// directory empty (a shell-only step) is undone on another machine as
// before; and a do on this machine is undone here as before.
func TestUndoElsewhereOfAStepThatSavedNothing(t *testing.T) {
	a := newHarness(t)
	a.opt.Host = "laptop-a"
	var got string
	saveOnDo(a, "", &got)
	sa := a.open()
	if err := sa.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	if st := sa.Snapshot().Step("auto"); st.Saved != SavedNone {
		t.Fatalf("a do that saved nothing: saved %q", st.Saved)
	}
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	b := newHarness(t)
	b.opt.Host = "laptop-b"
	saveOnDo(b, "", &got)
	copyJournal(t, a, b)
	sb := b.open()
	if err := sb.Undo(context.Background(), "auto"); err != nil {
		t.Fatalf("undo of a step that saved nothing, on another machine: %v", err)
	}
	if !hasCall(b, "auto/undo1") || sb.Snapshot().Step("auto").Status != Undone {
		t.Fatalf("undo did not run: %v", b.world.ran())
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}

	// Same machine, files saved: the usual undo.
	c := newHarness(t)
	saveOnDo(c, "v1", &got)
	sc := c.open()
	if err := sc.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Undo(context.Background(), "auto"); err != nil || got != "v1" {
		t.Fatalf("local undo: %v, read %q", err, got)
	}
	if st := sc.Snapshot().Step("auto"); st.Saved != SavedNone {
		t.Fatalf("after the undo dropped its file: saved %q", st.Saved)
	}
}

// TestShareSavedFilesFollowATakeOver: with a store, what a step's do
// saved on machine A is copied to the store and restored on machine B
// that opens the run (0600 files, 0700 directories); B's undo uses it and
// the store's copy follows the undo (dropped).
func TestShareSavedFilesFollowATakeOver(t *testing.T) {
	dsn := shareTestDSN(t)
	a := newHarness(t)
	a.opt.Host = "laptop-a"
	var got string
	saveOnDo(a, "verifier-"+testSecret, &got)
	a.shareOn(dsn, time.Second)
	sa := a.open()
	if err := sa.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	run := sa.ShareStatus().Run
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	st := openTestStore(t, dsn)
	files, err := st.Saved(context.Background(), run)
	if err != nil || len(files) != 1 || files[0].Step != "auto" || files[0].Name != "sub/prior.json" || string(files[0].Data) != "verifier-"+testSecret {
		t.Fatalf("the store's copy: %+v, %v", files, err)
	}
	if strings.Contains(string(storeBytes(t, st, run)), "verifier-") {
		t.Fatal("a saved file reached the shared journal")
	}

	b := newHarness(t)
	b.opt.Operator, b.opt.Host = "bo", "laptop-b"
	saveOnDo(b, "", &got)
	b.shareOn(dsn, time.Second)
	sb := b.open()
	dir := filepath.Join(RunDir(b.opt.StateDir, b.rb.ID), "saved", "auto")
	for p, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, "sub"): 0o700 | os.ModeDir, filepath.Join(dir, "sub", "prior.json"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode() != mode {
			t.Fatalf("restored %s: %v %v, want %v", p, fi.Mode(), err, mode)
		}
	}
	if err := sb.Undo(context.Background(), "auto"); err != nil {
		t.Fatalf("undo after the take-over: %v", err)
	}
	if got != "verifier-"+testSecret {
		t.Fatalf("the undo read %q", got)
	}
	if files, err := st.Saved(context.Background(), run); err != nil || len(files) != 0 {
		t.Fatalf("the store's copy after the undo dropped its file: %+v, %v", files, err)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUndoRefusedWhenSavedFilesAreMissing: the same machine with another
// state directory (the do's record says it saved files) is refused too;
// a do cut off on another machine (its end never journaled) is refused as
// not known, and on the same machine it is undone as before.
func TestUndoRefusedWhenSavedFilesAreMissing(t *testing.T) {
	a := newHarness(t)
	var got string
	saveOnDo(a, "v1", &got)
	sa := a.open()
	if err := sa.Start(context.Background(), "auto"); err != nil {
		t.Fatal(err)
	}
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	other := newHarness(t) // same host, another state directory
	saveOnDo(other, "", &got)
	copyJournal(t, a, other)
	var se *SavedElsewhereError
	if err := other.open().Undo(context.Background(), "auto"); !errors.As(err, &se) || se.Unknown || se.Host != "testhost" {
		t.Fatalf("undo from another state directory on the same host: %v", err)
	}

	// The journal up to the step's start only: the do was cut off.
	full := string(a.journalBytes())
	i := strings.Index(full, "k=step.started\ts=auto")
	cut := full[:i+strings.Index(full[i:], "\n")+1]
	for _, host := range []string{"laptop-b", "testhost"} {
		b := newHarness(t)
		b.opt.Host = host
		saveOnDo(b, "", &got)
		os.MkdirAll(filepath.Dir(b.journalPath()), 0o700)
		if err := os.WriteFile(b.journalPath(), []byte(cut), 0o600); err != nil {
			t.Fatal(err)
		}
		err := b.open().Undo(context.Background(), "auto")
		if host == "laptop-b" && (!errors.As(err, &se) || !se.Unknown || !strings.Contains(err.Error(), "never journaled")) {
			t.Fatalf("undo of a do cut off on another machine: %v", err)
		}
		if host == "testhost" && err != nil {
			t.Fatalf("undo of a do cut off on this machine: %v", err)
		}
	}
}
