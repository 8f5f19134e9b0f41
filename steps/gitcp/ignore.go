package gitcp

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// ignorer answers "would git ignore this untracked path?" the way git does:
// core.excludesFile, then .git/info/exclude, then each .gitignore from the
// top of the worktree down to the path's directory, later ones winning.
// Only the .gitignore files on the way to the paths asked about are read.
type ignorer struct {
	root   string
	base   []gitignore.Pattern
	perDir map[string][]gitignore.Pattern
}

func newIgnorer(root string, base []gitignore.Pattern) *ignorer {
	return &ignorer{root: root, base: base, perDir: map[string][]gitignore.Pattern{}}
}

// dirPatterns returns the patterns of dir's own .gitignore (dir is
// slash-separated and relative to the root, "" for the root).
func (ig *ignorer) dirPatterns(dir string) []gitignore.Pattern {
	if ps, ok := ig.perDir[dir]; ok {
		return ps
	}
	var domain []string
	if dir != "" {
		domain = strings.Split(dir, "/")
	}
	ps := readPatterns(filepath.Join(ig.root, filepath.FromSlash(dir), ".gitignore"), domain)
	ig.perDir[dir] = ps
	return ps
}

// ignored reports whether rel (slash-separated) is ignored.
func (ig *ignorer) ignored(rel string, isDir bool) bool {
	parts := strings.Split(rel, "/")
	ps := append([]gitignore.Pattern(nil), ig.base...)
	dir := ""
	ps = append(ps, ig.dirPatterns("")...)
	for _, p := range parts[:len(parts)-1] {
		dir = path.Join(dir, p)
		ps = append(ps, ig.dirPatterns(dir)...)
	}
	return gitignore.NewMatcher(ps).Match(parts, isDir)
}

// readPatterns reads one ignore file; a missing file has no patterns.
func readPatterns(file string, domain []string) []gitignore.Pattern {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	return parsePatterns(data, domain)
}

func parsePatterns(data []byte, domain []string) []gitignore.Pattern {
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

// globalExcludes reads core.excludesFile (or git's default
// $XDG_CONFIG_HOME/git/ignore) and the repository's info/exclude.
func globalExcludes(excludesFile, gitDir string) []gitignore.Pattern {
	if excludesFile == "" {
		if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
			excludesFile = filepath.Join(x, "git", "ignore")
		} else if h, err := os.UserHomeDir(); err == nil {
			excludesFile = filepath.Join(h, ".config", "git", "ignore")
		}
	} else if strings.HasPrefix(excludesFile, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			excludesFile = filepath.Join(h, excludesFile[2:])
		}
	}
	var ps []gitignore.Pattern
	if excludesFile != "" {
		ps = append(ps, readPatterns(excludesFile, nil)...)
	}
	return append(ps, readPatterns(filepath.Join(gitDir, "info", "exclude"), nil)...)
}

// patternList is a list of gitignore-style patterns given by the caller.
type patternList []gitignore.Pattern

func compilePatterns(pats []string) patternList {
	var out patternList
	for _, p := range pats {
		p = strings.TrimSpace(p)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		out = append(out, gitignore.ParsePattern(p, nil))
	}
	return out
}

func (l patternList) match(rel string, isDir bool) bool {
	if len(l) == 0 {
		return false
	}
	return gitignore.NewMatcher(l).Match(strings.Split(rel, "/"), isDir)
}

// secretWhy says why a file about to be committed looks like secret
// material, or "" when it does not. content is the file's bytes (nil for
// a symlink, whose target is not a secret).
func (r *Repo) secretWhy(rel string, fi fs.FileInfo, content []byte) string {
	base := path.Base(rel)
	lower := strings.ToLower(base)
	switch {
	case r.cfg.secretPatterns.match(rel, false):
		return "it matches a secret pattern"
	case underAny(rel, r.cfg.secretDirs):
		return "it is in a secrets directory"
	case isEnvFile(lower):
		return "it is an environment (.env) file"
	case strings.HasSuffix(lower, ".key") || strings.HasSuffix(lower, ".p12") || strings.HasSuffix(lower, ".pfx") ||
		lower == "id_rsa" || lower == "id_dsa" || lower == "id_ecdsa" || lower == "id_ed25519":
		return "its name is that of a private key"
	}
	if content != nil && hasPrivateKey(content) {
		return "it holds a PEM private key"
	}
	if fi != nil && fi.Mode().IsRegular() && !r.cfg.noModeRule && fi.Mode().Perm()&0o044 == 0 {
		return fmt.Sprintf("it is readable by its owner only (mode %04o), as generated secrets are", fi.Mode().Perm())
	}
	return ""
}

// isEnvFile: .env and .env.production are secrets; .env.example and
// friends are the templates teams commit on purpose.
func isEnvFile(base string) bool {
	if base == ".env" {
		return true
	}
	if !strings.HasPrefix(base, ".env.") {
		return false
	}
	switch strings.TrimPrefix(base, ".env.") {
	case "example", "sample", "template", "dist", "defaults":
		return false
	}
	return true
}

var pemMarker = []byte("PRIVATE KEY-----")

func hasPrivateKey(b []byte) bool {
	for {
		i := bytes.Index(b, pemMarker)
		if i < 0 {
			return false
		}
		// "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE
		// KEY-----", "-----BEGIN ENCRYPTED PRIVATE KEY-----".
		line := b[:i]
		if j := bytes.LastIndexByte(line, '\n'); j >= 0 {
			line = line[j+1:]
		}
		if bytes.Contains(line, []byte("-----BEGIN ")) {
			return true
		}
		b = b[i+len(pemMarker):]
	}
}

func underAny(rel string, dirs []string) bool {
	for _, d := range dirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}
