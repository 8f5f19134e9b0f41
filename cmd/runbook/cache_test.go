package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cacheRunbook is written in flow style: one phase, one manual step.
const cacheRunbook = `{id: cache-check, title: Cache check, schedule: {date: "2025-10-24", timezone: UTC},
  phases: [{id: p1, title: One, slot: "09:00-10:00", steps: [
    {id: s1, title: Step one, budget: 1m, guide: "guide.md#step-one", do: [{manual: {prompt: Do it}}]}]}]}
`

// cacheEntries lists the load cache's files in state.
func cacheEntries(t *testing.T, state string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(state, ".cache", "runbook-*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// The load cache never shows an old runbook: a one-byte edit is read at
// once, a damaged entry is ignored and rewritten, a runbook made invalid
// is refused (its fault is not cached) and the cache lives in the state
// directory only once that exists.
func TestLoadCacheFollowsTheRunbook(t *testing.T) {
	dir := t.TempDir()
	file, state := filepath.Join(dir, "rb.yaml"), filepath.Join(dir, "state")
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rb.yaml", cacheRunbook)
	write("guide.md", "# Step one\n\nDo it.\n")
	budget := func(want string) {
		t.Helper()
		r := runbook(t, nil, "status", "-f", file, "--state", state)
		if r.code != 0 {
			t.Fatalf("status: exit %d\n%s%s", r.code, r.out, r.err)
		}
		if !strings.Contains(r.out, "s1 ") || !strings.Contains(r.out, want) {
			t.Fatalf("status shows no budget %s for s1:\n%s", want, r.out)
		}
	}
	budget("1m00s")
	if n := len(cacheEntries(t, state)); n != 0 {
		t.Fatalf("%d cache entries made without a state directory", n)
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	budget("1m00s")
	entries := cacheEntries(t, state)
	if len(entries) != 1 {
		t.Fatalf("cache entries %v, want one", entries)
	}
	budget("1m00s") // served from the entry

	write("rb.yaml", strings.Replace(cacheRunbook, "budget: 1m", "budget: 2m", 1))
	budget("2m00s")

	good, err := os.ReadFile(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entries[0], good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	budget("2m00s")
	if back, _ := os.ReadFile(entries[0]); len(back) != len(good) {
		t.Fatalf("the truncated entry was not rewritten (%d bytes, want %d)", len(back), len(good))
	}

	write("guide.md", "# Another step\n\nDo it.\n")
	r := runbook(t, nil, "status", "-f", file, "--state", state)
	if r.code == 0 || !strings.Contains(r.err+r.out, "step-one") {
		t.Fatalf("a guide without the step's anchor was not reported: exit %d\n%s%s", r.code, r.out, r.err)
	}
}
