package gitcp

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The git index (dircache) is read and patched here byte for byte instead of
// through go-git's index codec: decoding and re-encoding every entry of a
// 50,000-file index costs more than the whole `git add -A && git commit`
// it replaces, and go-git's encoder drops the cache-tree extension, which
// makes the team's next `git commit` rebuild it. A checkpoint changes a
// handful of entries, so unchanged entries are copied as raw bytes and only
// the touched ones are encoded. Format: Documentation/gitformat-index.txt.

const (
	indexHeaderLen = 12
	entryFixedLen  = 62 // ctime, mtime, dev, ino, mode, uid, gid, size, sha1, flags
	flagExtended   = 0x4000
	flagStageMask  = 0x3000
	flagNameMask   = 0x0fff
	hashLen        = 20
)

// idxEntry is one index entry: its fixed part as stored (62 bytes, or 64
// with extended flags) and its path.
type idxEntry struct {
	hdr  []byte
	name string
}

func (e *idxEntry) mode() uint32 { return binary.BigEndian.Uint32(e.hdr[24:]) }
func (e *idxEntry) size() uint32 { return binary.BigEndian.Uint32(e.hdr[36:]) }
func (e *idxEntry) ino() uint32  { return binary.BigEndian.Uint32(e.hdr[20:]) }
func (e *idxEntry) mtime() (s, ns uint32) {
	return binary.BigEndian.Uint32(e.hdr[8:]), binary.BigEndian.Uint32(e.hdr[12:])
}
func (e *idxEntry) hash() (h [hashLen]byte) { copy(h[:], e.hdr[40:60]); return h }
func (e *idxEntry) flags() uint16           { return binary.BigEndian.Uint16(e.hdr[60:]) }
func (e *idxEntry) stage() int              { return int(e.flags()&flagStageMask) >> 12 }

// skipWorktree reports the extended skip-worktree flag (sparse checkout).
func (e *idxEntry) skipWorktree() bool {
	return len(e.hdr) > entryFixedLen && binary.BigEndian.Uint16(e.hdr[62:])&0x4000 != 0
}

// rawIndex is a parsed index: entries in name order and the extensions
// that survive a patch.
type rawIndex struct {
	version uint32
	entries []idxEntry
	// tree is the cache-tree extension (nil when absent).
	tree *cacheTree
	// keep are extensions copied verbatim (resolve-undo).
	keep [][]byte
}

// errSplitIndex and friends name index features a checkpoint cannot patch.
var errIndexFeature = errors.New("unsupported index feature")

func parseIndex(raw []byte) (*rawIndex, error) {
	if len(raw) == 0 {
		return &rawIndex{version: 2}, nil
	}
	if len(raw) < indexHeaderLen+hashLen || string(raw[:4]) != "DIRC" {
		return nil, errors.New("not a git index (bad signature)")
	}
	body := raw[:len(raw)-hashLen]
	if sum := sha1.Sum(body); !bytes.Equal(sum[:], raw[len(raw)-hashLen:]) && !allZero(raw[len(raw)-hashLen:]) {
		// An all-zero trailer is index.skipHash; anything else must match.
		return nil, errors.New("git index checksum mismatch: the index is corrupt")
	}
	ix := &rawIndex{version: binary.BigEndian.Uint32(raw[4:])}
	if ix.version < 2 || ix.version > 4 {
		return nil, fmt.Errorf("git index version %d: %w", ix.version, errIndexFeature)
	}
	n := int(binary.BigEndian.Uint32(raw[8:]))
	ix.entries = make([]idxEntry, 0, n+8)
	off := indexHeaderLen
	prev := ""
	for i := 0; i < n; i++ {
		if off+entryFixedLen > len(body) {
			return nil, errors.New("git index truncated")
		}
		flags := binary.BigEndian.Uint16(body[off+60:])
		hl := entryFixedLen
		if flags&flagExtended != 0 {
			if ix.version < 3 {
				return nil, errors.New("git index: extended flags in a version 2 index")
			}
			hl += 2
		}
		if off+hl > len(body) {
			return nil, errors.New("git index truncated")
		}
		hdr := body[off : off+hl]
		p := off + hl
		var name string
		if ix.version == 4 {
			strip, k := readOffsetVarint(body[p:])
			if k == 0 || strip > uint64(len(prev)) {
				return nil, errors.New("git index: bad path compression")
			}
			p += k
			end := bytes.IndexByte(body[p:], 0)
			if end < 0 {
				return nil, errors.New("git index truncated")
			}
			name = prev[:len(prev)-int(strip)] + string(body[p:p+end])
			p += end + 1
		} else {
			nl := int(flags & flagNameMask)
			if nl == flagNameMask {
				nl = bytes.IndexByte(body[p:], 0)
				if nl < 0 {
					return nil, errors.New("git index truncated")
				}
			}
			if p+nl > len(body) {
				return nil, errors.New("git index truncated")
			}
			name = string(body[p : p+nl])
			entLen := hl + nl
			p = off + entLen + (8 - entLen%8)
		}
		ix.entries = append(ix.entries, idxEntry{hdr: hdr, name: name})
		prev = name
		off = p
	}
	for off+8 <= len(body) {
		sig := string(body[off : off+4])
		size := int(binary.BigEndian.Uint32(body[off+4:]))
		if off+8+size > len(body) {
			return nil, errors.New("git index: truncated extension " + strconv.Quote(sig))
		}
		data := body[off+8 : off+8+size]
		switch {
		case sig == "TREE":
			t, err := parseCacheTree(data)
			if err != nil {
				return nil, fmt.Errorf("git index cache tree: %w", err)
			}
			ix.tree = t
		case sig == "REUC":
			ix.keep = append(ix.keep, body[off:off+8+size])
		case sig == "link":
			return nil, fmt.Errorf("split index: %w (run `git update-index --no-split-index` in the workspace)", errIndexFeature)
		case sig == "sdir":
			return nil, fmt.Errorf("sparse index: %w (run `git sparse-checkout disable` or `git config index.sparse false` and `git update-index --index-version 2`)", errIndexFeature)
		case sig[0] >= 'A' && sig[0] <= 'Z':
			// Optional caches (UNTR untracked cache, FSMN fsmonitor, EOIE
			// and IEOT offsets): dropped; git rebuilds them on demand.
		default:
			return nil, fmt.Errorf("git index extension %q: %w", sig, errIndexFeature)
		}
		off += 8 + size
	}
	return ix, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// find returns the position of name, and whether it is there (stage 0 or
// any stage: the first one).
func (ix *rawIndex) find(name string) (int, bool) {
	i := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].name >= name })
	return i, i < len(ix.entries) && ix.entries[i].name == name
}

// tracked reports whether the index holds the path.
func (ix *rawIndex) tracked(name string) bool {
	_, ok := ix.find(name)
	return ok
}

// entry returns the entry at name, or nil.
func (ix *rawIndex) entry(name string) *idxEntry {
	if i, ok := ix.find(name); ok {
		return &ix.entries[i]
	}
	return nil
}

// under returns the range of entries whose path starts with dir + "/".
func (ix *rawIndex) under(dir string) (lo, hi int) {
	if dir == "" {
		return 0, len(ix.entries)
	}
	p := dir + "/"
	lo = sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].name >= p })
	hi = lo
	for hi < len(ix.entries) && strings.HasPrefix(ix.entries[hi].name, p) {
		hi++
	}
	return lo, hi
}

// unmerged lists paths with conflict stages.
func (ix *rawIndex) unmerged() []string {
	var out []string
	for i := range ix.entries {
		if ix.entries[i].stage() != 0 {
			if len(out) == 0 || out[len(out)-1] != ix.entries[i].name {
				out = append(out, ix.entries[i].name)
			}
		}
	}
	return out
}

// smudgeRacy zeroes the recorded size of entries whose mtime is not
// older than the index they were read from (racily clean: the file may
// have changed within the same timestamp after it was hashed). Rewriting
// the index gives it a newer mtime, after which git would trust those
// entries' stat data; a zero size makes git compare content instead. Git
// does the same when it writes an index.
func (ix *rawIndex) smudgeRacy(indexTime time.Time) {
	if indexTime.IsZero() {
		return
	}
	sec, nsec := uint32(indexTime.Unix()), uint32(indexTime.Nanosecond())
	for i := range ix.entries {
		e := &ix.entries[i]
		ms, mns := e.mtime()
		if ms > sec || (ms == sec && mns >= nsec) {
			binary.BigEndian.PutUint32(e.hdr[36:], 0)
		}
	}
}

// indexUpdate is one path's new index state: an entry header to set, or a
// removal (hdr nil).
type indexUpdate struct {
	name string
	hdr  []byte
}

// apply sets and removes entries. Removing a path also removes everything
// under it (a directory that became a file or vanished); setting a path
// removes a file entry at any of its parent paths (a file that became a
// directory). The cache tree is invalidated along every touched path.
func (ix *rawIndex) apply(ups []indexUpdate) {
	if len(ups) == 0 {
		return
	}
	drop := map[string]bool{}
	set := map[string][]byte{}
	for _, u := range ups {
		lo, hi := ix.under(u.name)
		for i := lo; i < hi; i++ {
			drop[ix.entries[i].name] = true
		}
		if u.hdr == nil {
			drop[u.name] = true
			delete(set, u.name)
		} else {
			set[u.name] = u.hdr
			delete(drop, u.name)
			for d := parentDir(u.name); d != ""; d = parentDir(d) {
				drop[d] = true
			}
		}
		ix.tree.invalidate(u.name)
	}
	added := make([]idxEntry, 0, len(set))
	for name, h := range set {
		added = append(added, idxEntry{hdr: h, name: name})
	}
	sort.Slice(added, func(i, j int) bool { return added[i].name < added[j].name })
	// Merge the kept entries (sorted) with the set ones (sorted); a set
	// path replaces every stage of its old entry.
	out := make([]idxEntry, 0, len(ix.entries)+len(added))
	a := 0
	for _, e := range ix.entries {
		if drop[e.name] {
			continue
		}
		if _, ok := set[e.name]; ok {
			continue
		}
		for a < len(added) && added[a].name < e.name {
			out = append(out, added[a])
			a++
		}
		out = append(out, e)
	}
	out = append(out, added[a:]...)
	ix.entries = out
}

func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// encode writes the index with its trailing checksum.
func (ix *rawIndex) encode() []byte {
	size := indexHeaderLen + hashLen
	for i := range ix.entries {
		size += len(ix.entries[i].hdr) + len(ix.entries[i].name) + 8
	}
	buf := make([]byte, 0, size+4096)
	buf = append(buf, "DIRC"...)
	buf = binary.BigEndian.AppendUint32(buf, ix.version)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(ix.entries)))
	prev := ""
	for i := range ix.entries {
		e := &ix.entries[i]
		start := len(buf)
		buf = append(buf, e.hdr...)
		if ix.version == 4 {
			common := commonPrefix(prev, e.name)
			buf = appendOffsetVarint(buf, uint64(len(prev)-common))
			buf = append(buf, e.name[common:]...)
			buf = append(buf, 0)
		} else {
			buf = append(buf, e.name...)
			n := len(buf) - start
			for pad := 8 - n%8; pad > 0; pad-- {
				buf = append(buf, 0)
			}
		}
		prev = e.name
	}
	if ix.tree != nil {
		buf = append(buf, "TREE"...)
		lenAt := len(buf)
		buf = append(buf, 0, 0, 0, 0)
		buf = ix.tree.appendTo(buf)
		binary.BigEndian.PutUint32(buf[lenAt:], uint32(len(buf)-lenAt-4))
	}
	for _, k := range ix.keep {
		buf = append(buf, k...)
	}
	sum := sha1.Sum(buf)
	return append(buf, sum[:]...)
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// readOffsetVarint reads git's "offset" varint (used by index v4 and
// ofs-delta): each continuation adds one before shifting.
func readOffsetVarint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	v := uint64(c & 0x7f)
	i := 1
	for c&0x80 != 0 {
		if i >= len(b) || i > 9 {
			return 0, 0
		}
		c = b[i]
		i++
		v = ((v + 1) << 7) | uint64(c&0x7f)
	}
	return v, i
}

func appendOffsetVarint(buf []byte, v uint64) []byte {
	var tmp [16]byte
	pos := len(tmp) - 1
	tmp[pos] = byte(v & 0x7f)
	for v >>= 7; v != 0; v >>= 7 {
		v--
		pos--
		tmp[pos] = 0x80 | byte(v&0x7f)
	}
	return append(buf, tmp[pos:]...)
}

// newEntryHeader builds the fixed part of an index entry for a file just
// hashed, from its stat data, so that git sees it clean without rehashing.
func newEntryHeader(st statInfo, mode uint32, h [hashLen]byte, nameLen int) []byte {
	hdr := make([]byte, entryFixedLen)
	be := binary.BigEndian
	be.PutUint32(hdr[0:], st.ctimeSec)
	be.PutUint32(hdr[4:], st.ctimeNsec)
	be.PutUint32(hdr[8:], st.mtimeSec)
	be.PutUint32(hdr[12:], st.mtimeNsec)
	be.PutUint32(hdr[16:], st.dev)
	be.PutUint32(hdr[20:], st.ino)
	be.PutUint32(hdr[24:], mode)
	be.PutUint32(hdr[28:], st.uid)
	be.PutUint32(hdr[32:], st.gid)
	be.PutUint32(hdr[36:], st.size)
	copy(hdr[40:60], h[:])
	fl := uint16(flagNameMask)
	if nameLen < flagNameMask {
		fl = uint16(nameLen)
	}
	be.PutUint16(hdr[60:], fl)
	return hdr
}

// cacheTree is the index's TREE extension: for each directory the tree
// object that the index entries under it would produce, or invalid (-1).
type cacheTree struct {
	name     string
	count    int // entries covered; -1: invalid
	hash     []byte
	children []*cacheTree
}

func parseCacheTree(data []byte) (*cacheTree, error) {
	t, rest, err := parseCacheTreeNode(data)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing bytes")
	}
	return t, nil
}

func parseCacheTreeNode(b []byte) (*cacheTree, []byte, error) {
	nul := bytes.IndexByte(b, 0)
	if nul < 0 {
		return nil, nil, errors.New("truncated")
	}
	t := &cacheTree{name: string(b[:nul])}
	b = b[nul+1:]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, nil, errors.New("truncated")
	}
	count, sub, ok := strings.Cut(string(b[:nl]), " ")
	if !ok {
		return nil, nil, errors.New("bad counts")
	}
	var err error
	if t.count, err = strconv.Atoi(count); err != nil {
		return nil, nil, errors.New("bad entry count")
	}
	nsub, err := strconv.Atoi(sub)
	if err != nil || nsub < 0 {
		return nil, nil, errors.New("bad subtree count")
	}
	b = b[nl+1:]
	if t.count >= 0 {
		if len(b) < hashLen {
			return nil, nil, errors.New("truncated")
		}
		t.hash = b[:hashLen]
		b = b[hashLen:]
	}
	for i := 0; i < nsub; i++ {
		var c *cacheTree
		if c, b, err = parseCacheTreeNode(b); err != nil {
			return nil, nil, err
		}
		t.children = append(t.children, c)
	}
	return t, b, nil
}

// invalidate marks the root and every directory on the way to path as not
// matching a tree any more.
func (t *cacheTree) invalidate(path string) {
	if t == nil {
		return
	}
	t.count, t.hash = -1, nil
	dir, rest, ok := strings.Cut(path, "/")
	if !ok {
		return
	}
	for _, c := range t.children {
		if c.name == dir {
			c.invalidate(rest)
			return
		}
	}
}

func (t *cacheTree) appendTo(buf []byte) []byte {
	buf = append(buf, t.name...)
	buf = append(buf, 0)
	buf = strconv.AppendInt(buf, int64(t.count), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(len(t.children)), 10)
	buf = append(buf, '\n')
	if t.count >= 0 {
		buf = append(buf, t.hash...)
	}
	for _, c := range t.children {
		buf = c.appendTo(buf)
	}
	return buf
}
