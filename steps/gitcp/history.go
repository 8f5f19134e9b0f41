package gitcp

import (
	"errors"
	"fmt"
	"io"
	"sort"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Finding is a file in a repository's history that a scan matched: where,
// never what.
type Finding struct {
	Commit string // the first commit holding it (parents before children)
	Path   string
}

// ScanHistory looks at every file of every commit reachable from any ref
// (branches, tags, HEAD) of the repository at repoDir and reports those
// match accepts. Each (path, content) pair is handed to match once and
// reported with the first commit (parents before children) that holds it,
// so a secret committed once and kept for a hundred commits is one
// finding. Subtrees already seen at the same path are skipped, which keeps
// a long history cheap. Only regular files are looked at.
func ScanHistory(repoDir string, match func(path string, content []byte) bool) ([]Finding, error) {
	repo, err := gogit.PlainOpenWithOptions(repoDir, &gogit.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("scan the history of %s: %w", repoDir, err)
	}
	commits, err := reachable(repo)
	if err != nil {
		return nil, fmt.Errorf("scan the history of %s: %w", repoDir, err)
	}
	s := &historyScan{s: repo.Storer, match: match, trees: map[string]bool{}, blobs: map[string]bool{}}
	for _, c := range commits {
		s.commit = c.Hash.String()
		if err := s.tree(c.TreeHash, ""); err != nil {
			return s.found, fmt.Errorf("scan commit %s of %s: %w", short(c.Hash), repoDir, err)
		}
	}
	return s.found, nil
}

// reachable lists the commits reachable from any ref, parents before
// children (so "the first commit holding it" is the one that brought it,
// whatever the commit dates say).
func reachable(repo *gogit.Repository) ([]*object.Commit, error) {
	var tips []plumbing.Hash
	refs, err := repo.References()
	if err != nil {
		return nil, err
	}
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference {
			tips = append(tips, ref.Hash())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if head, err := repo.Head(); err == nil {
		tips = append(tips, head.Hash())
	}
	sort.Slice(tips, func(i, j int) bool { return tips[i].String() < tips[j].String() })
	const (
		unseen = iota
		open
		done
	)
	state := map[plumbing.Hash]int{}
	commits := map[plumbing.Hash]*object.Commit{}
	var out []*object.Commit
	type frame struct {
		h        plumbing.Hash
		expanded bool
	}
	var stack []frame
	for i := len(tips) - 1; i >= 0; i-- {
		stack = append(stack, frame{h: tips[i]})
	}
	// Iterative depth-first walk, emitting a commit after its parents: a
	// long history must not exhaust the stack.
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if f.expanded {
			state[f.h] = done
			out = append(out, commits[f.h])
			continue
		}
		if state[f.h] != unseen {
			continue
		}
		c, err := commitOf(repo, f.h)
		if err != nil {
			return nil, err
		}
		if c == nil {
			state[f.h] = done // a tag of a tree or blob holds no history
			continue
		}
		if c.Hash != f.h {
			// An annotated tag: walk its commit instead.
			state[f.h] = done
			stack = append(stack, frame{h: c.Hash})
			continue
		}
		state[f.h] = open
		commits[f.h] = c
		stack = append(stack, frame{h: f.h, expanded: true})
		for i := len(c.ParentHashes) - 1; i >= 0; i-- {
			if p := c.ParentHashes[i]; state[p] == unseen {
				stack = append(stack, frame{h: p})
			}
		}
	}
	return out, nil
}

// commitOf reads a commit, peeling annotated tags; nil for a tag of
// something else.
func commitOf(repo *gogit.Repository, h plumbing.Hash) (*object.Commit, error) {
	for range 16 {
		obj, err := repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", short(h), err)
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return object.DecodeCommit(repo.Storer, obj)
		case plumbing.TagObject:
			t, err := object.DecodeTag(repo.Storer, obj)
			if err != nil {
				return nil, err
			}
			h = t.Target
		default:
			return nil, nil
		}
	}
	return nil, fmt.Errorf("tag chain at %s too long", short(h))
}

type historyScan struct {
	s      storer.EncodedObjectStorer
	match  func(string, []byte) bool
	commit string
	trees  map[string]bool // path + tree hash already scanned
	blobs  map[string]bool // path + blob hash already matched
	found  []Finding
}

func (h *historyScan) tree(th plumbing.Hash, prefix string) error {
	key := prefix + "\x00" + th.String()
	if h.trees[key] {
		return nil
	}
	h.trees[key] = true
	t, err := object.GetTree(h.s, th)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		p := prefix + e.Name
		switch e.Mode {
		case filemode.Dir:
			if err := h.tree(e.Hash, p+"/"); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
			bk := p + "\x00" + e.Hash.String()
			if h.blobs[bk] {
				continue
			}
			h.blobs[bk] = true
			content, err := readBlob(h.s, e.Hash)
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			if h.match(p, content) {
				h.found = append(h.found, Finding{Commit: h.commit, Path: p})
			}
		}
	}
	return nil
}

func readBlob(s storer.EncodedObjectStorer, hash plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(s, hash)
	if err != nil {
		return nil, err
	}
	rd, err := b.Reader()
	if err != nil {
		return nil, err
	}
	data, rerr := io.ReadAll(rd)
	return data, errors.Join(rerr, rd.Close())
}
