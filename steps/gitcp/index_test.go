package gitcp

import (
	"crypto/sha1"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOffsetVarint(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 16383, 16384, 16511, 16512, 1 << 20, 1<<32 + 5} {
		b := appendOffsetVarint(nil, v)
		got, n := readOffsetVarint(b)
		if got != v || n != len(b) {
			t.Errorf("%d: encoded % x, read back %d (%d bytes)", v, b, got, n)
		}
	}
	// Values from git's own encoder (varint.c): 128 is 0x80 0x00, 16512 is
	// 0x80 0x80 0x00.
	if b := appendOffsetVarint(nil, 128); string(b) != "\x80\x00" {
		t.Errorf("128 = % x", b)
	}
	if b := appendOffsetVarint(nil, 16512); string(b) != "\x80\x80\x00" {
		t.Errorf("16512 = % x", b)
	}
	if _, n := readOffsetVarint([]byte{0x80}); n != 0 {
		t.Error("a truncated varint was read")
	}
}

func testIndex(names ...string) *rawIndex {
	ix := &rawIndex{version: 2}
	for _, n := range names {
		ix.entries = append(ix.entries, idxEntry{name: n, hdr: newEntryHeader(statInfo{size: 1}, 0o100644, [20]byte{1}, len(n))})
	}
	return ix
}

func names(ix *rawIndex) []string {
	var out []string
	for _, e := range ix.entries {
		out = append(out, e.name)
	}
	return out
}

func TestIndexApply(t *testing.T) {
	hdr := func(n string) []byte { return newEntryHeader(statInfo{size: 2}, 0o100644, [20]byte{2}, len(n)) }
	cases := []struct {
		name string
		in   []string
		ups  []indexUpdate
		want []string
	}{
		{"add in order", []string{"a", "c"}, []indexUpdate{{name: "b", hdr: hdr("b")}, {name: "d/e", hdr: hdr("d/e")}}, []string{"a", "b", "c", "d/e"}},
		{"remove", []string{"a", "b", "c"}, []indexUpdate{{name: "b"}}, []string{"a", "c"}},
		{"remove a folder", []string{"a", "d/x", "d/y/z", "d0"}, []indexUpdate{{name: "d"}}, []string{"a", "d0"}},
		{"file becomes folder", []string{"a", "conf", "z"}, []indexUpdate{{name: "conf/main", hdr: hdr("conf/main")}}, []string{"a", "conf/main", "z"}},
		{"folder becomes file", []string{"a", "d/x", "d/y", "e"}, []indexUpdate{{name: "d", hdr: hdr("d")}}, []string{"a", "d", "e"}},
		{"replace keeps order", []string{"a", "a.b", "a/b"}, []indexUpdate{{name: "a.b", hdr: hdr("a.b")}}, []string{"a", "a.b", "a/b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ix := testIndex(tc.in...)
			ix.apply(tc.ups)
			if got := names(ix); !slices.Equal(got, tc.want) {
				t.Errorf("entries %v, want %v", got, tc.want)
			}
			// Encoded and parsed again: the same entries.
			back, err := parseIndex(ix.encode())
			if err != nil {
				t.Fatal(err)
			}
			if got := names(back); !slices.Equal(got, tc.want) {
				t.Errorf("after encode/parse %v", got)
			}
			for _, u := range tc.ups {
				if u.hdr != nil && back.entry(u.name).size() != 2 {
					t.Errorf("%s: new entry not written", u.name)
				}
			}
		})
	}
}

func TestParseIndexRejects(t *testing.T) {
	good := testIndex("a", "b").encode()
	bad := append([]byte(nil), good...)
	bad[20] ^= 1
	if _, err := parseIndex(bad); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupt index: %v", err)
	}
	if _, err := parseIndex([]byte("not an index at all, not at all")); err == nil {
		t.Error("garbage accepted")
	}
	// A split index (link extension) cannot be patched: refused with the
	// git command that turns it off.
	body := good[:len(good)-20]
	body = append(body, "link\x00\x00\x00\x14"...)
	body = append(body, make([]byte, 20)...)
	sum := sha1.Sum(body)
	_, err := parseIndex(append(body, sum[:]...))
	if err == nil || !strings.Contains(err.Error(), "git update-index --no-split-index") {
		t.Errorf("split index: %v", err)
	}
}

func TestCacheTreeInvalidate(t *testing.T) {
	h := strings.Repeat("\x11", 20)
	// root (3 entries, 2 subtrees) -> a (1 entry, 1 subtree) -> b ; c
	raw := "\x003 2\n" + h + "a\x001 1\n" + h + "b\x001 0\n" + h + "c\x001 0\n" + h
	ct, err := parseCacheTree([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ct.appendTo(nil)); got != raw {
		t.Fatalf("round trip changed the cache tree:\n%q\n%q", got, raw)
	}
	ct.invalidate("a/b/file")
	want := "\x00-1 2\na\x00-1 1\nb\x00-1 0\nc\x001 0\n" + h
	if got := string(ct.appendTo(nil)); got != want {
		t.Errorf("after invalidating a/b/file:\n%q\nwant\n%q", got, want)
	}
}

func TestSmudgeRacy(t *testing.T) {
	idxTime := time.Unix(1761292800, 500)
	ix := &rawIndex{version: 2}
	for _, c := range []struct {
		name      string
		sec, nsec uint32
	}{{"a-older", 1761292800, 499}, {"b-same", 1761292800, 500}, {"c-newer", 1761292801, 0}} {
		ix.entries = append(ix.entries, idxEntry{name: c.name, hdr: newEntryHeader(statInfo{size: 7, mtimeSec: c.sec, mtimeNsec: c.nsec}, 0o100644, [20]byte{1}, len(c.name))})
	}
	ix.smudgeRacy(idxTime)
	for _, want := range []struct {
		name string
		size uint32
	}{{"a-older", 7}, {"b-same", 0}, {"c-newer", 0}} {
		if got := ix.entry(want.name).size(); got != want.size {
			t.Errorf("%s: size %d, want %d", want.name, got, want.size)
		}
	}
}
