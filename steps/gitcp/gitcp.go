// Package gitcp makes runbook's git checkpoints: after a step it commits the
// workspace files the step changed, plus a copy of the run's journal, into
// the workspace repository runbook was pointed at; it tags the end of each
// phase, refuses to commit secret material, and restores a step's files to
// the checkpoint before it for an undo.
//
// A checkpoint is built with plumbing, not with a worktree status: runbook
// knows which paths a step touched, so only those files are hashed, only
// the trees on their way to the root are rewritten, and only their index
// entries change (the index is patched in place, see index.go). On a large
// repository this is faster than `git add -A && git commit`, which must
// stat every file. When the touched paths are unknown (a restart lost
// them) the worktree is compared with the index the way git does: by stat
// data first, hashing only what differs.
package gitcp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	gogit "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// JournalDir is the worktree folder that holds the copy of each run's
// journal, one file per runbook: JournalDir/<runbook-id>.journal. The
// journal itself lives in the state directory (which is never committed:
// it holds the lock, logs and the saved files undos need); the copy is
// refreshed and committed with every checkpoint, so each checkpoint
// carries the journal as of that step.
const JournalDir = ".runbook-journal"

// Trailer keys written at the end of every checkpoint message. RestoreBefore
// finds a step's checkpoint by them.
const (
	TrailerRunbook = "Runbook"
	TrailerStep    = "Runbook-Step"
	TrailerOutcome = "Runbook-Outcome"
	TrailerUndo    = "Runbook-Undo"
)

// Repo is a workspace repository that checkpoints go to. It implements
// steps.Checkpointer. Safe for concurrent use (checkpoints are serialised).
type Repo struct {
	dir       string // top of the worktree
	gitDir    string // this worktree's git directory (HEAD, index)
	commonDir string // objects and refs (differs for linked worktrees)
	repo      *gogit.Repository
	cfg       config
	private   bool
	excludes  []gitignore.Pattern
	// noFileMode: core.fileMode is false, the executable bit is not
	// trusted.
	noFileMode bool

	mu sync.Mutex
	// stale: git lock files a dead runbook process left may be cleared
	// (set for one checkpoint, from its request; guarded by mu).
	stale *staleLocks
	// pushOwed: the last push failed; the next checkpoint pushes even when
	// it commits nothing (guarded by mu).
	pushOwed bool
}

var _ steps.Checkpointer = (*Repo)(nil)

type config struct {
	fault          faultHook // crash tests only (crashtest builds)
	runbook        string
	name, email    string
	secretPatterns patternList
	secretDirs     []string
	ignore         patternList
	allow          patternList
	noModeRule     bool
	redact         *steps.Redactor
	stateDir       string
	push           string       // remote checkpoints are pushed to (push.go)
	notice         func(string) // told at once when a push fails
	acceptBy       string       // who accepted a workspace off the run's checkpoint
}

// Option configures a Repo.
type Option func(*config)

// WithRunbook names the runbook whose checkpoints this is (journal file
// name, tag names, the Runbook trailer). Without it the name is taken from
// the journal's run directory.
func WithRunbook(id string) Option { return func(c *config) { c.runbook = id } }

// WithAuthor sets the checkpoint author. Default: user.name and user.email
// from git config, else "runbook".
func WithAuthor(name, email string) Option {
	return func(c *config) { c.name, c.email = name, email }
}

// WithSecretPatterns adds gitignore-style patterns of files that hold
// secrets (generated passwords, tokens): a checkpoint refuses them.
func WithSecretPatterns(patterns ...string) Option {
	return func(c *config) { c.secretPatterns = append(c.secretPatterns, compilePatterns(patterns)...) }
}

// WithSecretDirs names workspace folders (relative) whose files are all
// secret: a checkpoint refuses any of them.
func WithSecretDirs(dirs ...string) Option {
	return func(c *config) {
		for _, d := range dirs {
			d = strings.Trim(filepath.ToSlash(filepath.Clean(d)), "/")
			if d != "" && d != "." {
				c.secretDirs = append(c.secretDirs, d)
			}
		}
	}
}

// WithIgnore adds gitignore-style patterns of paths checkpoints leave out
// silently (runbook's checkpoint ignore list), on top of .gitignore.
func WithIgnore(patterns ...string) Option {
	return func(c *config) { c.ignore = append(c.ignore, compilePatterns(patterns)...) }
}

// WithAllow adds gitignore-style patterns of paths that look secret but are
// not (a test fixture key): a checkpoint commits them.
func WithAllow(patterns ...string) Option {
	return func(c *config) { c.allow = append(c.allow, compilePatterns(patterns)...) }
}

// WithoutModeRule stops treating files readable by their owner only (mode
// 0600, as generated secrets are written) as secret. For workspaces kept
// under umask 077, where every file is 0600.
func WithoutModeRule() Option { return func(c *config) { c.noModeRule = true } }

// WithRedactor masks secrets in commit messages.
func WithRedactor(r *steps.Redactor) Option { return func(c *config) { c.redact = r } }

// WithStateDir names runbook's state directory. When it lies inside the
// worktree it is never committed nor scanned.
func WithStateDir(dir string) Option { return func(c *config) { c.stateDir = dir } }

// Open opens the workspace repository at dir, which must be the top of a
// git worktree: runbook never commits into a repository it was not pointed
// at, so a folder inside some other repository is refused.
func Open(dir string, opts ...Option) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open workspace %s: %w", dir, err)
	}
	if _, err := os.Lstat(filepath.Join(abs, ".git")); err != nil {
		if top := enclosingRepo(filepath.Dir(abs)); top != "" {
			return nil, fmt.Errorf("open workspace %s: it is not the top of a git repository but a folder inside %s: point runbook at %s, or run `git init` in %s", abs, top, top, abs)
		}
		return nil, fmt.Errorf("open workspace %s: not a git repository: run `git init` there, or leave the workspace unset so checkpoints go to runbook's own repository in its state directory", abs)
	}
	r, err := open(abs, opts)
	if err != nil {
		return nil, fmt.Errorf("open workspace %s: %w", abs, err)
	}
	return r, nil
}

// InitPrivate opens (creating it when needed) runbook's own checkpoint
// repository at dir, for runs without a workspace: its checkpoints hold
// the journal only, since the files steps change are not in it.
func InitPrivate(dir string, opts ...Option) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint repository %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create checkpoint repository %s: %w", abs, err)
	}
	if _, err := os.Lstat(filepath.Join(abs, ".git")); errors.Is(err, fs.ErrNotExist) {
		_, err := gogit.PlainInitWithOptions(abs, &gogit.PlainInitOptions{
			InitOptions: gogit.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
		})
		if err != nil {
			return nil, fmt.Errorf("create checkpoint repository %s: %w", abs, err)
		}
	}
	r, err := open(abs, opts)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint repository %s: %w", abs, err)
	}
	r.private = true
	return r, nil
}

func open(abs string, opts []Option) (*Repo, error) {
	r := &Repo{dir: abs}
	for _, o := range opts {
		o(&r.cfg)
	}
	repo, err := gogit.PlainOpenWithOptions(abs, &gogit.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, err
	}
	r.repo = repo
	if r.gitDir, r.commonDir, err = gitDirs(abs); err != nil {
		return nil, err
	}
	var excludesFile string
	if c, err := repo.ConfigScoped(gitconfig.GlobalScope); err == nil {
		if r.cfg.name == "" {
			r.cfg.name, r.cfg.email = c.User.Name, c.User.Email
		}
		excludesFile = c.Raw.Section("core").Option("excludesfile")
	}
	if c, err := repo.Config(); err == nil {
		r.noFileMode = strings.EqualFold(c.Raw.Section("core").Option("filemode"), "false")
	}
	if r.cfg.name == "" {
		r.cfg.name = "runbook"
	}
	if r.cfg.email == "" {
		r.cfg.email = "runbook@localhost"
	}
	r.excludes = globalExcludes(excludesFile, r.commonDir)
	if r.cfg.stateDir != "" {
		if a, err := filepath.Abs(r.cfg.stateDir); err == nil {
			r.cfg.stateDir = a
		}
	}
	r.cfg.redact.Add(r.PushSecrets()...) // push.go
	return r, nil
}

// gitDirs finds the git directory of the worktree at top and the common
// directory that holds objects and refs.
func gitDirs(top string) (gitDir, common string, err error) {
	dot := filepath.Join(top, ".git")
	fi, err := os.Stat(dot)
	if err != nil {
		return "", "", err
	}
	gitDir = dot
	if !fi.IsDir() {
		b, err := os.ReadFile(dot)
		if err != nil {
			return "", "", err
		}
		line := strings.TrimSpace(string(b))
		if !strings.HasPrefix(line, "gitdir:") {
			return "", "", fmt.Errorf("%s: not a gitdir file", dot)
		}
		gitDir = strings.TrimSpace(strings.TrimPrefix(line, "gitdir:"))
		if !filepath.IsAbs(gitDir) {
			gitDir = filepath.Join(top, gitDir)
		}
	}
	common = gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		c := strings.TrimSpace(string(b))
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitDir, c)
		}
		common = filepath.Clean(c)
	}
	return gitDir, common, nil
}

func enclosingRepo(dir string) string {
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// Dir is the top of the worktree.
func (r *Repo) Dir() string { return r.dir }

// Private reports whether this is runbook's own checkpoint repository.
func (r *Repo) Private() bool { return r.private }

// JournalPath is the worktree-relative path of a runbook's journal copy.
func JournalPath(runbookID string) string { return JournalDir + "/" + refSafe(runbookID) + ".journal" }

// Result is what a checkpoint did.
type Result struct {
	// Commit is the new commit's hash; empty when nothing changed.
	Commit string
	// Changed lists the paths whose committed content changed (journal
	// copy included), sorted.
	Changed []string
	// Ignored lists touched paths left out by .gitignore or the ignore
	// list.
	Ignored []string
	// Tag is the phase tag made, if this step ended its phase.
	Tag string
}

// Checkpoint implements steps.Checkpointer.
func (r *Repo) Checkpoint(ctx context.Context, req steps.CheckpointRequest) (string, error) {
	res, err := r.Commit(ctx, req)
	return res.Commit, err
}

// Commit makes a step's checkpoint and says what it did.
func (r *Repo) Commit(ctx context.Context, req steps.CheckpointRequest) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !req.StaleBefore.IsZero() {
		r.stale = &staleLocks{before: req.StaleBefore, note: req.Note, dir: r.dir}
		defer func() { r.stale = nil }()
	}
	id := r.runbookID(req.Journal)
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	var forced []string
	if req.Journal != "" {
		if id == "" {
			return Result{}, errors.New("checkpoint: no runbook id to name the journal copy (use gitcp.WithRunbook)")
		}
		rel, err := r.copyJournal(req.Journal, id)
		if err != nil {
			return Result{}, err
		}
		forced = append(forced, rel)
	}
	var paths []string
	scanAll := false
	if !r.private {
		if len(req.Paths) == 0 {
			scanAll = true
		} else {
			var err error
			if paths, scanAll, err = r.normalize(req.Paths); err != nil {
				return Result{}, fmt.Errorf("checkpoint step %s: %w", req.Step.ID, err)
			}
		}
	}
	msg := r.message(req, id, now)
	res, err := r.commitPaths(ctx, paths, forced, scanAll, req.Undo, msg, now, req.Journal)
	if err != nil {
		return res, fmt.Errorf("checkpoint step %s in %s: %w", req.Step.ID, r.dir, err)
	}
	if !req.Undo && req.State.Status.Done() && lastOfPhase(req.Phase, req.Step.ID) && id != "" {
		target := res.Commit
		if target == "" {
			target = r.headHash().String()
		}
		if target != plumbing.ZeroHash.String() {
			tag, err := r.tagPhase(id, req.Phase, target, now)
			if err != nil {
				return res, fmt.Errorf("checkpoint step %s: tag phase %s: %w", req.Step.ID, req.Phase.ID, err)
			}
			res.Tag = tag
		}
	}
	r.afterCheckpoint(ctx, res.Commit, req.Note)
	return res, nil
}

func lastOfPhase(p runbooks.Phase, step string) bool {
	return len(p.Steps) > 0 && p.Steps[len(p.Steps)-1].ID == step
}

func (r *Repo) runbookID(journal string) string {
	if r.cfg.runbook != "" {
		return r.cfg.runbook
	}
	if journal == "" {
		return ""
	}
	// steps.JournalPath: <state>/<runbook-id>/journal
	return filepath.Base(filepath.Dir(journal))
}

// copyJournal refreshes the worktree copy of the journal.
func (r *Repo) copyJournal(journal, id string) (string, error) {
	data, err := os.ReadFile(journal)
	if err != nil {
		return "", fmt.Errorf("checkpoint: read journal %s: %w", journal, err)
	}
	rel := JournalPath(id)
	abs := filepath.Join(r.dir, filepath.FromSlash(rel))
	if old, err := os.ReadFile(abs); err == nil && string(old) == string(data) {
		return rel, nil
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: copy journal into %s: %w", r.dir, err)
	}
	tmp := abs + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("checkpoint: copy journal into %s: %w", r.dir, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil { // whatever the umask
		return "", err
	}
	if err := os.Rename(tmp, abs); err != nil {
		return "", fmt.Errorf("checkpoint: copy journal into %s: %w", r.dir, err)
	}
	return rel, nil
}

// normalize turns touched paths into clean worktree-relative slash paths.
// A path naming the whole worktree asks for a full scan.
func (r *Repo) normalize(in []string) (out []string, all bool, err error) {
	seen := map[string]bool{}
	for _, p := range in {
		rel, err := r.rel(p)
		if err != nil {
			return nil, false, err
		}
		if rel == "" {
			all = true
			continue
		}
		if !seen[rel] {
			seen[rel] = true
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out, all, nil
}

func (r *Repo) rel(p string) (string, error) {
	if filepath.IsAbs(p) {
		q, err := filepath.Rel(r.dir, p)
		if err != nil {
			return "", fmt.Errorf("path %s is outside the workspace %s", p, r.dir)
		}
		p = q
	}
	p = filepath.ToSlash(filepath.Clean(p))
	if p == "." {
		return "", nil
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("path %s is outside the workspace %s", p, r.dir)
	}
	if p == ".git" || strings.HasPrefix(p, ".git/") {
		return "", fmt.Errorf("path %s is inside the repository's .git folder", p)
	}
	return p, nil
}

// exclusions lists the worktree folders a checkpoint never looks at:
// runbook's state directory and the journal's run directory, when they lie
// inside the worktree.
func (r *Repo) exclusions(journal string) []string {
	var out []string
	for _, d := range []string{r.cfg.stateDir, runDirOf(journal)} {
		if d == "" {
			continue
		}
		q, err := filepath.Rel(r.dir, d)
		if err != nil || q == "." || q == ".." || strings.HasPrefix(q, ".."+string(filepath.Separator)) {
			continue
		}
		out = append(out, filepath.ToSlash(q))
	}
	return out
}

func runDirOf(journal string) string {
	if journal == "" {
		return ""
	}
	return filepath.Dir(journal)
}

// SecretFile is one file a checkpoint refused.
type SecretFile struct {
	Path string
	Why  string
}

// SecretError is returned when a checkpoint would commit secret material.
// Nothing is committed.
type SecretError struct {
	Files []SecretFile
}

func (e *SecretError) Error() string {
	var b strings.Builder
	b.WriteString("refusing to commit secret material, nothing was committed: ")
	for i, f := range e.Files {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Path + " (" + f.Why + ")")
	}
	b.WriteString(". Keep such files out of the workspace repository: add them to the workspace's .gitignore or to runbook's checkpoint ignore list; if a file is not secret, add it to the checkpoint allow list")
	return b.String()
}

// change is one path of a checkpoint: new content to commit, or a removal.
type change struct {
	path string
	del  bool
	mode filemode.FileMode
	hash plumbing.Hash
	obj  *plumbing.MemoryObject // the blob, written when the tree needs it
	hdr  []byte                 // the index entry to set
}

// commitPaths is the checkpoint proper: collect the changes of paths (a
// full scan when scanAll), refuse secrets, build and write the commit,
// move the branch, patch the index.
// restoring: the files are put back as an earlier commit had them (an
// undo), so values already in history may come back.
func (r *Repo) commitPaths(ctx context.Context, paths, forced []string, scanAll, restoring bool, msg string, now time.Time, journal string) (Result, error) {
	var res Result
	lk, err := lockFile(filepath.Join(r.gitDir, "index"), "the workspace's git index", r.stale)
	if err != nil {
		return res, err
	}
	defer lk.release()
	ix, ixTime, err := r.readIndex()
	if err != nil {
		return res, err
	}
	if um := ix.unmerged(); len(um) > 0 {
		return res, fmt.Errorf("the workspace has unresolved merge conflicts (%s): resolve and commit them, then retry the checkpoint", strings.Join(firstN(um, 5), ", "))
	}
	c := &collector{r: r, ix: ix, ixTime: ixTime, ig: newIgnorer(r.dir, r.excludes), excl: r.exclusions(journal), seen: map[string]bool{}, restoring: restoring}
	if scanAll {
		found, err := c.scan(ctx, "")
		if err != nil {
			return res, err
		}
		paths = append(paths, found...)
	}
	for _, p := range forced {
		if err := c.add(ctx, p, true); err != nil {
			return res, err
		}
	}
	for _, p := range paths {
		if err := c.add(ctx, p, false); err != nil {
			return res, err
		}
	}
	if len(c.secrets) > 0 {
		return res, &SecretError{Files: c.secrets}
	}
	res.Ignored = c.ignored
	if len(c.changes) == 0 {
		return res, nil
	}
	head, branch, err := r.head()
	if err != nil {
		return res, err
	}
	var baseTree plumbing.Hash
	var parents []plumbing.Hash
	if !head.IsZero() {
		cm, err := object.GetCommit(r.repo.Storer, head)
		if err != nil {
			return res, fmt.Errorf("read HEAD commit %s: %w", head, err)
		}
		baseTree, parents = cm.TreeHash, []plumbing.Hash{head}
	}
	b := &treeBuilder{s: r.repo.Storer}
	tree, err := b.build(baseTree, "", c.changes)
	if err != nil {
		return res, err
	}
	res.Changed = b.changed
	sort.Strings(res.Changed)
	var ups []indexUpdate
	for _, ch := range c.changes {
		ups = append(ups, indexUpdate{name: ch.path, hdr: ch.hdr})
	}
	ix.smudgeRacy(ixTime)
	ix.apply(ups)
	if tree == baseTree {
		// Nothing to commit; the index still learns fresh stat data.
		return res, lk.commit(ix.encode())
	}
	if tree.IsZero() {
		tree, err = writeEmptyTree(r.repo.Storer)
		if err != nil {
			return res, err
		}
	}
	sig := object.Signature{Name: r.cfg.name, Email: r.cfg.email, When: now}
	cm := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: tree, ParentHashes: parents}
	obj := r.repo.Storer.NewEncodedObject()
	if err := cm.Encode(obj); err != nil {
		return res, fmt.Errorf("encode commit: %w", err)
	}
	hash, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return res, fmt.Errorf("write commit object: %w", err)
	}
	// As git commit does: the new index waits in index.lock while the
	// branch moves, and takes its place only once the branch has moved. A
	// failed branch update leaves index and branch as they were.
	if err := lk.write(ix.encode()); err != nil {
		return res, err
	}
	r.cfg.fault.checkpoint()
	verb := "commit"
	if head.IsZero() {
		verb = "commit (initial)"
	}
	if err := r.updateRef(branch, hash, head, false, sig, verb+": "+subject(msg)); err != nil {
		return res, err
	}
	res.Commit = hash.String()
	if err := lk.activate(); err != nil {
		return res, fmt.Errorf("commit %s made, but the index was not updated (run `git reset` in the workspace to resync it): %w", short(hash), err)
	}
	return res, nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

// readIndex reads the index; its modification time is the racy-git
// threshold (a file modified at or after it may have changed unseen).
func (r *Repo) readIndex() (*rawIndex, time.Time, error) {
	p := filepath.Join(r.gitDir, "index")
	raw, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &rawIndex{version: 2}, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read git index: %w", err)
	}
	var mt time.Time
	if fi, err := os.Stat(p); err == nil {
		mt = fi.ModTime()
	}
	ix, err := parseIndex(raw)
	if err != nil {
		return nil, mt, fmt.Errorf("read git index %s: %w", p, err)
	}
	return ix, mt, nil
}

// head returns the commit HEAD points at (zero on an unborn branch) and
// the ref to move: the branch HEAD names, or HEAD itself when detached.
func (r *Repo) head() (plumbing.Hash, plumbing.ReferenceName, error) {
	ref, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return plumbing.ZeroHash, "", fmt.Errorf("read HEAD: %w", err)
	}
	if ref.Type() == plumbing.HashReference {
		return ref.Hash(), plumbing.HEAD, nil
	}
	name := ref.Target()
	br, err := r.repo.Storer.Reference(name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, name, nil
	}
	if err != nil {
		return plumbing.ZeroHash, "", fmt.Errorf("read %s: %w", name, err)
	}
	return br.Hash(), name, nil
}

func (r *Repo) headHash() plumbing.Hash {
	h, _, _ := r.head()
	return h
}

// joinRel joins slash paths relative to the worktree.
func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return path.Join(dir, name)
}
