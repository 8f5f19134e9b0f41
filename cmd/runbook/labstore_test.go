package main

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/store"
)

// TestLabStoreFromTheCLI: `runbook lab up` leaves a shared-run store
// beside the stack, named by store= in the lab profile and in the copy
// `--target lab` reads; `lab status` shows it without its password; the
// store migrates through that DSN; `lab up` again reuses it as it is.
func TestLabStoreFromTheCLI(t *testing.T) {
	r := newRehearsal(t)
	dsn := r.profile["store"]
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		t.Fatalf("lab profile store=%q", dsn)
	}
	pw, _ := u.User.Password()
	if pw == "" || u.Port() != "55435" {
		t.Fatalf("lab profile store= has no password or is not on the lab's store port: %s", u.Redacted())
	}
	if got := readProfileFile(t, filepath.Join(r.state, "profiles", "lab.env"))["store"]; got != dsn {
		t.Fatalf("the profile --target lab reads has store=%q", got)
	}
	st := r.runbook("lab", "status", "--dir", r.dir, "--state", r.state)
	if st.code != 0 || !strings.Contains(st.out, "store=") || !strings.Contains(st.out, "127.0.0.1:55435") || strings.Contains(st.out+st.err, pw) {
		t.Fatalf("lab status: exit %d\n%s%s", st.code, st.out, st.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatalf("store.Open with the lab's store=: %v", err)
	}
	v, err := s.SchemaVersion(ctx)
	s.Close()
	if err != nil || v == 0 {
		t.Fatalf("the lab's store was not migrated: version %d, %v", v, err)
	}
	up := r.runbook("lab", "up", "--dir", r.dir, "--state", r.state)
	if up.code != 0 || !strings.Contains(up.out, "store:     postgres://postgres:xxxxx@127.0.0.1:55435/runbook") || strings.Contains(up.out+up.err, pw) {
		t.Fatalf("lab up again: exit %d\n%s%s", up.code, up.out, up.err)
	}
	if got := readProfileFile(t, filepath.Join(r.dir, "profile.env"))["store"]; got != dsn {
		t.Fatal("lab up again changed the store's password")
	}
}
