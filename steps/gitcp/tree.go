package gitcp

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// treeBuilder writes the trees of a new commit: the base commit's tree
// with a set of path changes applied. Only trees on the way from a changed
// path to the root are read and rewritten; every other subtree is reused
// by hash.
type treeBuilder struct {
	s storer.EncodedObjectStorer
	// changed collects the paths whose entry really changed.
	changed []string
}

type group struct {
	direct *change
	sub    []change
}

// build returns the hash of base (a tree, or zero for none) with chs
// applied; chs paths start with prefix. A tree left empty returns zero.
func (b *treeBuilder) build(base plumbing.Hash, prefix string, chs []change) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if !base.IsZero() {
		t, err := object.GetTree(b.s, base)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %s of %q: %w", base, prefix, err)
		}
		entries = append(entries, t.Entries...)
	}
	pos := make(map[string]int, len(entries))
	for i, e := range entries {
		pos[e.Name] = i
	}
	groups := map[string]*group{}
	var names []string
	for i := range chs {
		rest := strings.TrimPrefix(chs[i].path, prefix)
		name, _, nested := strings.Cut(rest, "/")
		g := groups[name]
		if g == nil {
			g = &group{}
			groups[name] = g
			names = append(names, name)
		}
		if nested {
			g.sub = append(g.sub, chs[i])
		} else {
			g.direct = &chs[i]
		}
	}
	sort.Strings(names)
	removed := map[string]bool{}
	cur := func(name string) *object.TreeEntry {
		if i, ok := pos[name]; ok && !removed[name] {
			return &entries[i]
		}
		return nil
	}
	set := func(e object.TreeEntry) {
		if i, ok := pos[e.Name]; ok {
			entries[i] = e
		} else {
			pos[e.Name] = len(entries)
			entries = append(entries, e)
		}
		delete(removed, e.Name)
	}
	for _, name := range names {
		g := groups[name]
		if ch := g.direct; ch != nil {
			old := cur(name)
			switch {
			case ch.del:
				if old != nil {
					removed[name] = true
					b.changed = append(b.changed, prefix+name)
				}
			case old == nil || old.Hash != ch.hash || old.Mode != ch.mode:
				if old == nil || old.Hash != ch.hash {
					if _, err := b.s.SetEncodedObject(ch.obj); err != nil {
						return plumbing.ZeroHash, fmt.Errorf("write blob of %s: %w", ch.path, err)
					}
				}
				set(object.TreeEntry{Name: name, Mode: ch.mode, Hash: ch.hash})
				b.changed = append(b.changed, prefix+name)
			}
		}
		if len(g.sub) > 0 {
			var childBase plumbing.Hash
			old := cur(name)
			if old != nil {
				if old.Mode == filemode.Dir {
					childBase = old.Hash
				} else {
					b.changed = append(b.changed, prefix+name) // a file became a folder
				}
			}
			h, err := b.build(childBase, prefix+name+"/", g.sub)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			switch {
			case h.IsZero():
				if old != nil {
					removed[name] = true
				}
			case old == nil || old.Hash != h || old.Mode != filemode.Dir:
				set(object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
			}
		}
	}
	out := entries[:0:0]
	for _, e := range entries {
		if !removed[e.Name] {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return plumbing.ZeroHash, nil
	}
	sort.Sort(object.TreeEntrySorter(out))
	obj := &plumbing.MemoryObject{}
	if err := (&object.Tree{Entries: out}).Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree %q: %w", prefix, err)
	}
	h := obj.Hash()
	if h == base {
		return h, nil
	}
	if _, err := b.s.SetEncodedObject(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write tree %q: %w", prefix, err)
	}
	return h, nil
}

func writeEmptyTree(s storer.EncodedObjectStorer) (plumbing.Hash, error) {
	obj := &plumbing.MemoryObject{}
	if err := (&object.Tree{}).Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

type storerT = storer.EncodedObjectStorer
