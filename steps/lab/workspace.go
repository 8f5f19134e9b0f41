package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	gogit "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/runbook-dev/runbook/assets"

	"github.com/runbook-dev/runbook/steps"
)

// BeforeMessage is the subject of the workspace's first commit.
const BeforeMessage = "Staging stack, before state: HTTP only, no database extensions, secrets in environment variables"

// secrets are the lab's generated secrets.
type secrets struct {
	DBPassword string
	SecretKey  string
	// StorePassword is the shared-run store's (store.go), never in the
	// workspace.
	StorePassword string
}

// newSecrets draws fresh random secrets (hex: safe in YAML, URLs and SQL
// literals without quoting rules).
func newSecrets() (secrets, error) {
	var s secrets
	var err error
	if s.DBPassword, err = randomHex(16); err != nil {
		return s, err
	}
	if s.SecretKey, err = randomHex(32); err != nil {
		return s, err
	}
	s.StorePassword, err = randomHex(16)
	return s, err
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Profile is the lab's profile.env: the workspace and the values of the
// embedded runbook's targets, one KEY=VALUE a line.
type Profile struct {
	Workspace string
	// Targets in file order.
	Targets []Target
	// DBTarget names the target holding the database DSN (the wiring's
	// db_target).
	DBTarget string
	// Store is the lab's shared-run store (the store= line): runs with
	// --target lab are shared through it.
	Store string
}

// Target is one target value of a profile.
type Target = steps.ProfileTarget

// Get returns a target's value.
func (p Profile) Get(name string) (string, bool) {
	for _, t := range p.Targets {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// DSN is the database target's connection string.
func (p Profile) DSN() string { v, _ := p.Get(p.DBTarget); return v }

// newProfile is the profile of a lab whose workspace is ws: the wiring's
// targets, rendered.
func newProfile(ws, project, docker, dbPassword, storePassword, python string) (Profile, error) {
	w, err := LoadWiring()
	if err != nil {
		return Profile{}, err
	}
	return w.profile(profileData{Workspace: ws, Project: project, Docker: docker, DBPassword: dbPassword, StorePassword: storePassword, Python: python})
}

// Encode writes the profile in the format `--target lab` reads.
func (p Profile) Encode() []byte {
	var b bytes.Buffer
	b.WriteString("# runbook lab profile: the rehearsal lab's workspace and targets.\n")
	b.WriteString("# Mode 0600: it holds the database's and the store's passwords.\n")
	fmt.Fprintf(&b, "workspace=%s\n", p.Workspace)
	if p.Store != "" {
		fmt.Fprintf(&b, "store=%s\n", p.Store)
	}
	for _, t := range p.Targets {
		fmt.Fprintf(&b, "target.%s=%s\n", t.Name, t.Value)
	}
	return b.Bytes()
}

// ParseProfile reads a profile written by Encode (comments and blank
// lines allowed).
func ParseProfile(data []byte) (Profile, error) {
	w, err := LoadWiring()
	if err != nil {
		return Profile{}, err
	}
	sp, err := steps.ParseProfile(bytes.NewReader(data))
	return Profile{Workspace: sp.Workspace, Store: sp.Store, Targets: sp.Targets, DBTarget: w.DBTarget}, err
}

// dbPassword is the password in the profile's database DSN.
func (p Profile) dbPassword() (string, error) {
	u, err := url.Parse(p.DSN())
	if err != nil || u.User == nil {
		return "", fmt.Errorf("target.%s is not a postgres:// URL with a password", p.DBTarget)
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return "", fmt.Errorf("target.%s has no password", p.DBTarget)
	}
	return pw, nil
}

// storePassword is the password in the profile's store= line ("" when
// the profile has none: a lab made before the store was).
func (p Profile) storePassword() string {
	u, err := url.Parse(p.Store)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// writeProfile writes the profile (0600) to the lab directory and to
// every copy asked for.
func (l *Lab) writeProfile(p Profile) error {
	for _, path := range append([]string{l.ProfilePath()}, l.opt.ProfileCopies...) {
		if err := writePrivate(path, p.Encode()); err != nil {
			return fmt.Errorf("write lab profile %s: %w", path, err)
		}
	}
	return nil
}

// writePrivate writes a 0600 file atomically (the mode is set before any
// secret is written).
func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return steps.WriteFileAtomic(path, data, 0o600)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// ensureWorkspace creates the workspace, its origin and the profile when
// none exists, or reuses them when all do (rewriting the profile for the
// current project and engine). A partial lab directory is refused.
func (l *Lab) ensureWorkspace() (created bool, p Profile, err error) {
	ws, prof, origin := l.Workspace(), l.ProfilePath(), l.origin()
	hasWS, hasProf, hasOrigin := exists(filepath.Join(ws, ".git")), exists(prof), exists(origin)
	switch {
	case hasWS && hasProf:
		data, err := os.ReadFile(prof)
		if err != nil {
			return false, p, fmt.Errorf("read lab profile: %w", err)
		}
		old, err := ParseProfile(data)
		if err != nil {
			return false, p, fmt.Errorf("lab profile %s: %w: `runbook lab reset` makes a new lab", prof, err)
		}
		pw, err := old.dbPassword()
		if err != nil {
			return false, p, fmt.Errorf("lab profile %s: %w: `runbook lab reset` makes a new lab", prof, err)
		}
		spw := old.storePassword()
		if spw == "" {
			if spw, err = randomHex(16); err != nil {
				return false, p, err
			}
		}
		if p, err = newProfile(ws, l.opt.Project, l.opt.Docker, pw, spw, l.python()); err != nil {
			return false, p, err
		}
		l.say("workspace %s: present, reused", ws)
		return false, p, l.writeProfile(p)
	case !hasWS && !hasProf && !hasOrigin && !exists(ws):
	default:
		var have, miss []string
		for _, x := range []struct {
			name string
			ok   bool
		}{{WorkspaceDir + "/.git", hasWS}, {ProfileFile, hasProf}, {OriginDir, hasOrigin}} {
			if x.ok {
				have = append(have, x.name)
			} else {
				miss = append(miss, x.name)
			}
		}
		return false, p, fmt.Errorf("lab directory %s is incomplete (has %s; lacks %s): `runbook lab reset` starts it again (it deletes the workspace)",
			l.dir, listOr(have, "nothing"), strings.Join(miss, ", "))
	}

	sec, err := newSecrets()
	if err != nil {
		return false, p, err
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return false, p, fmt.Errorf("create lab directory: %w", err)
	}
	// The workspace holds plaintext passwords (the "before" state):
	// others on the machine have no business reading it.
	if err := os.Chmod(l.dir, 0o700); err != nil {
		return false, p, err
	}
	w, err := LoadWiring()
	if err != nil {
		return false, p, err
	}
	if err := writeBefore(ws, beforeData{secrets: sec, Port: w.portMap()}); err != nil {
		return false, p, fmt.Errorf("write the workspace's before state in %s: %w", ws, err)
	}
	if err := commitBefore(ws, l.origin(), l.opt.Now()); err != nil {
		return false, p, fmt.Errorf("workspace repository %s: %w", ws, err)
	}
	if p, err = newProfile(ws, l.opt.Project, l.opt.Docker, sec.DBPassword, sec.StorePassword, l.python()); err != nil {
		return false, p, err
	}
	if err := l.writeProfile(p); err != nil {
		return false, p, err
	}
	l.say("workspace %s: created (before state committed; origin %s)", ws, l.origin())
	return true, p, nil
}

func listOr(xs []string, none string) string {
	if len(xs) == 0 {
		return none
	}
	return strings.Join(xs, ", ")
}

// beforeData is what the workspace's templates see: the secrets and the
// wiring's host ports (.Port.app).
type beforeData struct {
	secrets
	Port map[string]int
}

// python is the interpreter the profile names for the test steps: the
// first python3 that can import pytest. Without one the lab still comes
// up (the runbook's default, python3, is written) and says what to
// install.
func (l *Lab) python() string {
	py, err := FindPython(context.Background(), os.Getenv("PATH"))
	if err != nil {
		l.say("warning: %v", err)
		return "python3"
	}
	l.say("python for the test steps: %s (has pytest)", py)
	return py
}

// writeBefore renders the workspace's "before" files from the embedded
// recipes: *.tmpl through text/template with the secrets and ports,
// "gitignore" as .gitignore, the rest as they are.
func writeBefore(ws string, sec beforeData) error {
	fsys, err := fs.Sub(assets.Lab(), "workspace")
	if err != nil {
		return err
	}
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := p
		if strings.HasSuffix(name, ".tmpl") {
			name = strings.TrimSuffix(name, ".tmpl")
			t, err := template.New(p).Option("missingkey=error").Parse(string(data))
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := t.Execute(&b, sec); err != nil {
				return err
			}
			data = b.Bytes()
		}
		if name == "gitignore" {
			name = ".gitignore"
		}
		dst := filepath.Join(ws, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}

// commitBefore makes ws a repository on branch main with the before state
// as its first commit, and origin a bare repository holding it, with main
// tracking origin/main (so `git pull --ff-only` works in the workspace).
func commitBefore(ws, origin string, now time.Time) error {
	repo, err := gogit.PlainInitWithOptions(ws, &gogit.PlainInitOptions{InitOptions: gogit.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddWithOptions(&gogit.AddOptions{All: true}); err != nil {
		return fmt.Errorf("add: %w", err)
	}
	sig := &object.Signature{Name: "runbook lab", Email: "lab@runbook.invalid", When: now}
	head, err := wt.Commit(BeforeMessage, &gogit.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if _, err := gogit.PlainInitWithOptions(origin, &gogit.PlainInitOptions{InitOptions: gogit.InitOptions{DefaultBranch: plumbing.Main}, Bare: true}); err != nil {
		return fmt.Errorf("init origin %s: %w", origin, err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{origin}}); err != nil {
		return fmt.Errorf("add remote origin: %w", err)
	}
	main := string(plumbing.Main)
	if err := repo.Push(&gogit.PushOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{gitconfig.RefSpec(main + ":" + main)}}); err != nil {
		return fmt.Errorf("push main to origin %s: %w", origin, err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewRemoteReferenceName("origin", "main"), head)); err != nil {
		return err
	}
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	cfg.Branches["main"] = &gitconfig.Branch{Name: "main", Remote: "origin", Merge: plumbing.Main}
	return repo.SetConfig(cfg)
}
