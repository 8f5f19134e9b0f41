package runbooks_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/assets"
	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/actions"
)

// memCache is a Cache in memory that counts what passes through it.
type memCache struct {
	m          map[string][]byte
	gets, puts int
	key        string
}

func (c *memCache) Get(slot string) []byte { c.gets++; return c.m[slot] }
func (c *memCache) Put(slot string, data []byte) {
	c.puts++
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[slot] = data
}
func (c *memCache) CacheKey() string { return c.key }

// sameRunbook compares two loads of a runbook in everything but their
// guides' file systems, which are compared by content.
func sameRunbook(t *testing.T, got, want *runbooks.Runbook) {
	t.Helper()
	g, w := *got, *want
	g.Guides, w.Guides = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("the cached runbook differs from the loaded one:\n got %+v\nwant %+v", g, w)
	}
	for _, s := range want.Steps() {
		a, errA := runbooks.GuideSection(got.Guides, s.Guide)
		b, errB := runbooks.GuideSection(want.Guides, s.Guide)
		if a != b || (errA == nil) != (errB == nil) {
			t.Fatalf("step %s: guide section from the cached runbook differs", s.ID)
		}
	}
}

// The shipped runbook (every action family, compose patches included)
// goes into the cache and comes back identical, and the second load
// parses nothing: it is served from the entry.
func TestCacheRoundTripsTheShippedRunbooks(t *testing.T) {
	for _, name := range runbooks.Names() {
		want, err := runbooks.LoadEmbedded(name, runbooks.LoadOptions{Actions: actions.Registry()})
		if err != nil {
			t.Fatal(err)
		}
		c := &memCache{}
		first, err := runbooks.LoadEmbedded(name, runbooks.LoadOptions{Actions: actions.Registry(), Cache: c})
		if err != nil {
			t.Fatal(err)
		}
		if c.puts != 1 {
			t.Fatalf("%s: %d entries written, want 1 (a runbook whose parameters do not survive the encoding is not cached)", name, c.puts)
		}
		sameRunbook(t, first, want)
		second, err := runbooks.LoadEmbedded(name, runbooks.LoadOptions{Actions: actions.Registry(), Cache: c})
		if err != nil {
			t.Fatal(err)
		}
		if c.puts != 1 {
			t.Fatalf("%s: the second load wrote the entry again: it was not served from the cache", name)
		}
		sameRunbook(t, second, want)
	}
}

const cachedYAML = `id: cached
title: Cached
schedule: {date: "2025-10-24", timezone: Europe/Berlin}
phases:
  - id: p1
    title: One
    slot: "09:00-10:00"
    steps:
      - id: s1
        title: Step one
        budget: 5m
        guide: guide.md#step-one
        do:
          - shell: {argv: [echo, one]}
`

func cachedFS() fstest.MapFS {
	return fstest.MapFS{
		"rb.yaml":  {Data: []byte(cachedYAML)},
		"guide.md": {Data: []byte("# Step one\n\nDo it.\n")},
	}
}

func loadVia(t *testing.T, fsys fstest.MapFS, c *memCache) (*runbooks.Runbook, error) {
	t.Helper()
	return runbooks.Load(fsys, "rb.yaml", runbooks.LoadOptions{Actions: actions.Registry(), Cache: c})
}

// One byte changed in the runbook, in a guide file, or in the cache's own
// key (a new binary) is a miss: the new content is loaded, never the old.
func TestCacheSeesEveryChange(t *testing.T) {
	fsys := cachedFS()
	c := &memCache{key: "build-1"}
	if _, err := loadVia(t, fsys, c); err != nil {
		t.Fatal(err)
	}
	// One byte of the runbook: the step's title.
	fsys["rb.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(cachedYAML, "Step one", "Step onE", 1))}
	rb, err := loadVia(t, fsys, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := rb.Phases[0].Steps[0].Title; got != "Step onE" {
		t.Fatalf("after a one-byte edit the title is %q: the old entry was used", got)
	}
	// A guide that loses the step's anchor: the runbook is invalid again,
	// and the fault is reported, not hidden by the entry.
	fsys["guide.md"] = &fstest.MapFile{Data: []byte("# Step two\n\nDo it.\n")}
	if _, err := loadVia(t, fsys, c); err == nil || !strings.Contains(err.Error(), "step-one") {
		t.Fatalf("a guide that lost its anchor loaded from the cache: %v", err)
	}
	fsys["guide.md"] = &fstest.MapFile{Data: []byte("# Step one\n\nDo it now.\n")}
	puts := c.puts
	if _, err := loadVia(t, fsys, c); err != nil {
		t.Fatal(err)
	}
	if c.puts != puts+1 {
		t.Fatal("a changed guide file did not make a new entry")
	}
	// A new binary: the same bytes, another key.
	puts = c.puts
	c.key = "build-2"
	if _, err := loadVia(t, fsys, c); err != nil {
		t.Fatal(err)
	}
	if c.puts != puts+1 {
		t.Fatal("a new cache key read the old binary's entry")
	}
}

// Faults are never cached, and an entry cut short, emptied, or holding
// something else is ignored: the runbook is loaded from its source.
func TestCacheIgnoresDamagedEntries(t *testing.T) {
	fsys := cachedFS()
	c := &memCache{}
	want, err := loadVia(t, fsys, c)
	if err != nil {
		t.Fatal(err)
	}
	var slot string
	var good []byte
	for k, v := range c.m {
		slot, good = k, v
	}
	for name, bad := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"empty":     {},
		"garbage":   []byte("\x00\x01 not json"),
		"one byte":  []byte(strings.Replace(string(good), `"ID":"cached"`, `"ID":"cachex"`, 1)),
		"other key": otherKey(t, good),
		// The parameters' lines must be exactly one per action.
		"a line more": withDigest(t, append(body(t, good), "\n{}"...)),
		"a line less": withDigest(t, body(t, good)[:bytes.LastIndexByte(body(t, good), '\n')]),
	} {
		c.m[slot] = bad
		puts := c.puts
		got, err := loadVia(t, fsys, c)
		if err != nil {
			t.Fatalf("%s entry: %v", name, err)
		}
		sameRunbook(t, got, want)
		if c.puts != puts+1 {
			t.Fatalf("%s entry was used instead of being rebuilt", name)
		}
	}

	// Times whose offset in the runbook's zone is not the one stored (the
	// zone's rules changed since the entry was written) are a miss.
	c.m[slot] = withDigest(t, bytes.ReplaceAll(body(t, good), []byte("+02:00"), []byte("+03:00")))
	puts := c.puts
	got, err := loadVia(t, fsys, c)
	if err != nil {
		t.Fatal(err)
	}
	sameRunbook(t, got, want)
	if c.puts != puts+1 {
		t.Fatal("an entry whose times have another offset than the zone gives was used")
	}

	bad := cachedFS()
	bad["rb.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(cachedYAML, "budget: 5m", "budget: 5 parsecs", 1))}
	c = &memCache{}
	for range 2 {
		if _, err := loadVia(t, bad, c); err == nil {
			t.Fatal("an invalid runbook loaded")
		}
	}
	if c.puts != 0 {
		t.Fatalf("an invalid runbook was cached (%d writes)", c.puts)
	}
}

// otherKey is entry rewritten, with a valid digest, for another key: an
// entry of another runbook (or binary) in this runbook's slot.
func otherKey(t *testing.T, entry []byte) []byte {
	t.Helper()
	b := body(t, entry)
	if !bytes.Contains(b, []byte(`"Key":"`)) {
		t.Fatalf("unexpected entry layout: %.200s", entry)
	}
	return withDigest(t, bytes.Replace(b, []byte(`"Key":"`), []byte(`"Key":"0`), 1))
}

// body is an entry without its digest line.
func body(t *testing.T, entry []byte) []byte {
	t.Helper()
	_, b, ok := bytes.Cut(entry, []byte("\n"))
	if !ok {
		t.Fatalf("unexpected entry layout: %.200s", entry)
	}
	return b
}

// withDigest is body as an entry, with a valid digest line.
func withDigest(t *testing.T, body []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(body)
	return append([]byte(hex.EncodeToString(sum[:])+"\n"), body...)
}

// Every field of Runbook goes into the cache and comes back: the shipped
// runbook with the sections it does not use added (checkpoints, notify)
// sets every one of them, and a second load, served from the entry, is
// the same runbook. A field added to Runbook fails here until the
// fixture sets it; one the entry does not keep then fails the round trip
// (the loader would quietly stop caching every runbook that uses it).
func TestCacheKeepsEveryRunbookField(t *testing.T) {
	name := runbooks.Names()[0]
	src, err := fs.ReadFile(runbooks.Embedded(), name+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	extra := "checkpoints:\n  push: origin\nnotify:\n  - url: https://hooks.example.com/T0/B0\n  - env: TEAM_WEBHOOK\n    events: [approval_needed, run_finished]\n"
	fsys := fstest.MapFS{"rb.yaml": {Data: append([]byte(extra), src...)}}
	opt := runbooks.LoadOptions{Actions: actions.Registry(), Guides: assets.Guides()}
	want, err := runbooks.Load(fsys, "rb.yaml", opt)
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(*want)
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() && v.Field(i).IsZero() {
			t.Errorf("the fixture leaves Runbook.%s unset: set it, so the cache is shown to keep it", f.Name)
		}
	}
	c := &memCache{}
	opt.Cache = c
	for i := range 2 {
		got, err := runbooks.Load(fsys, "rb.yaml", opt)
		if err != nil {
			t.Fatal(err)
		}
		if c.puts != 1 {
			t.Fatalf("load %d: %d entries written, want 1: the runbook is not kept in the cache", i+1, c.puts)
		}
		sameRunbook(t, got, want)
	}
}
