package files

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/runbook-dev/runbook/steps"
)

// Bounds of a scan: files larger than this are skipped (logs, dumps,
// images), and the findings listed in the error are capped.
const (
	maxScanFile      = 2 << 20
	defaultMaxReport = 50
	minKnownLen      = 8
)

// allowMarker on a line tells the scan the text there is not a secret
// (a test fixture, a documented example).
const allowMarker = "runbook:allow-secret"

// SecretScan is the `secret.scan` action: look for plaintext secrets in
// workspace files and, optionally, in every version of every file in the
// git history reachable from HEAD. It looks for known secret values (read
// from the files named in known_from, e.g. the generated secret files) and
// for the shapes secrets take (PEM private keys, password=... assignments,
// passwords in URLs, cloud and forge tokens). It fails naming where each
// finding is (path:line, or commit path:line) and what kind it is, never
// the text found.
//
//   - secret.scan:
//     paths: ["**/*.yml", "**/*.env", "src/**"]   # default: every file
//     exclude: ["tests/fixtures/**"]
//     known_from: [secrets/db_password, secrets/secret_key]
//     history: true
//
// A glob without "/" matches a file name at any depth ("*.env"); "**"
// matches any number of directories. The known_from files themselves are
// not scanned in the working tree (holding the secret is their job), but
// they are in the history: a committed secret file is a finding. A line
// containing "runbook:allow-secret" is skipped.
type SecretScan struct {
	Paths     []string `yaml:"paths"`
	Exclude   []string `yaml:"exclude"`
	KnownFrom []string `yaml:"known_from"`
	Patterns  []string `yaml:"patterns"`
	Builtin   *bool    `yaml:"builtin"`
	History   bool     `yaml:"history"`
	// RunSecrets also looks for every secret value this run has known:
	// what the redactor was taught (generated secrets, passwords read from
	// files, secret targets) and the owner-only files this run's steps
	// saved before changing them, so a rotated-out password is found too.
	RunSecrets bool `yaml:"run_secrets"`
	MaxReport  int  `yaml:"max_report"`
	MaxCommits int  `yaml:"max_commits"`

	ready    bool
	patterns []secretPattern
}

type secretPattern struct {
	kind string
	re   *regexp.Regexp
	// value is the index of the submatch holding the secret value, when
	// the match may be a reference rather than a value (0: always a finding).
	value int
	// hints are lowercase strings one of which a matching line contains: a
	// cheap test that spares most lines the regexp.
	hints []string
}

var builtinPatterns = []secretPattern{
	{kind: "PEM private key", hints: []string{"private key-----"}, re: regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----`)},
	{kind: "AWS access key ID", hints: []string{"akia", "asia"}, re: regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{kind: "AWS secret access key", hints: []string{"aws"}, re: regexp.MustCompile(`(?i)aws_?secret_?access_?key["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9/+=]{40})\b`), value: 1},
	{kind: "GitHub token", hints: []string{"gh"}, re: regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,}\b`)},
	{kind: "Slack token", hints: []string{"xox"}, re: regexp.MustCompile(`\bxox[abprs]-[A-Za-z0-9-]{10,}`)},
	{kind: "password in URL", hints: []string{"@"}, re: regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'"]+:([^@\s/'"]+)@`), value: 1},
	{kind: "password assignment", hints: []string{"pass", "pwd", "secret", "token", "key"}, re: regexp.MustCompile(`(?i)([\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\w.-]*)["']?[ \t]*(?::=|[:=])[ \t]*("[^"]*"|'[^']*'|[^\s#,;()\[\]]+)`), value: 2},
}

// Validate implements runbooks.Validator.
func (s *SecretScan) Validate() error {
	for _, g := range append(append([]string(nil), s.Paths...), s.Exclude...) {
		if _, err := path.Match(strings.ReplaceAll(g, "**", "*"), ""); err != nil || strings.HasPrefix(g, "/") || strings.Contains(g, "..") {
			return fmt.Errorf("glob %q is not a workspace-relative pattern", g)
		}
	}
	for _, k := range s.KnownFrom {
		if err := checkPath("known_from", k); err != nil {
			return err
		}
	}
	s.patterns = nil
	if s.Builtin == nil || *s.Builtin {
		s.patterns = append(s.patterns, builtinPatterns...)
	}
	for _, p := range s.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return fmt.Errorf("patterns: %v", err)
		}
		s.patterns = append(s.patterns, secretPattern{kind: "pattern /" + p + "/", re: re})
	}
	if len(s.patterns) == 0 && len(s.KnownFrom) == 0 && !s.RunSecrets {
		return errors.New("nothing to look for: builtin patterns are off and there are no patterns, known_from files or run_secrets")
	}
	if s.MaxReport == 0 {
		s.MaxReport = defaultMaxReport
	}
	if s.MaxReport < 1 || s.MaxCommits < 0 {
		return errors.New("max_report must be positive and max_commits not negative")
	}
	s.ready = true
	return nil
}

// Describe implements steps.Action.
func (s *SecretScan) Describe(*steps.Env) string {
	where := "every workspace file"
	if len(s.Paths) > 0 {
		where = "workspace files " + strings.Join(s.Paths, ", ")
	}
	if len(s.Exclude) > 0 {
		where += " (except " + strings.Join(s.Exclude, ", ") + ")"
	}
	if s.History {
		where += " and the git history from HEAD"
	}
	var what []string
	if len(s.KnownFrom) > 0 {
		what = append(what, "the secret values in "+strings.Join(s.KnownFrom, ", "))
	}
	if s.RunSecrets {
		what = append(what, "every secret value this run has known (rotated-out ones included)")
	}
	if s.Builtin == nil || *s.Builtin {
		what = append(what, "private keys, password assignments, passwords in URLs, tokens")
	}
	for _, p := range s.Patterns {
		what = append(what, "/"+p+"/")
	}
	return "scan " + where + " for " + strings.Join(what, "; ") + "; report where, never what"
}

// Finding is one plaintext secret: where it is and what kind, never the text.
type Finding struct {
	Commit string // short hash; empty for the working tree
	Path   string
	Line   int
	Kind   string
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s:%d (%s)", f.Path, f.Line, f.Kind)
	if f.Commit != "" {
		s = "commit " + f.Commit + " " + s
	}
	return s
}

type knownValue struct {
	value, from string
}

// Run implements steps.Action.
func (s *SecretScan) Run(ctx context.Context, env *steps.Env) error {
	if !s.ready {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	if env.Workspace == "" {
		return errors.New("secret.scan needs a workspace: name it with --workspace or in the profile")
	}
	known, skip, err := s.loadKnown(env)
	if err != nil {
		return err
	}
	findings, files, err := s.scanTree(ctx, env.Workspace, known, skip)
	if err != nil {
		return err
	}
	env.Printf("scanned %d files in the workspace", files)
	if s.History {
		hf, commits, err := s.scanHistory(ctx, env.Workspace, known)
		if err != nil {
			return err
		}
		env.Printf("scanned %d commits of git history", commits)
		findings = append(findings, hf...)
	}
	if len(findings) == 0 {
		env.Printf("ok   no plaintext secrets found")
		return nil
	}
	for i, f := range findings {
		if i == s.MaxReport {
			env.Printf("… and %d more", len(findings)-i)
			break
		}
		env.Printf("FAIL secret at %s", f)
	}
	list := make([]string, 0, min(len(findings), 5))
	for _, f := range findings[:min(len(findings), 5)] {
		list = append(list, f.String())
	}
	if len(findings) > 5 {
		list = append(list, fmt.Sprintf("and %d more", len(findings)-5))
	}
	return fmt.Errorf("%d plaintext secret(s) found: %s: move each value into a secret file and reference the file; rotate any secret found in git history",
		len(findings), strings.Join(list, ", "))
}

// loadKnown reads the known secret values and teaches them to the redactor.
func (s *SecretScan) loadKnown(env *steps.Env) ([]knownValue, map[string]bool, error) {
	var known []knownValue
	skip := map[string]bool{}
	for _, k := range s.KnownFrom {
		p, err := locate(env, k)
		if err != nil {
			return nil, nil, err
		}
		b, err := os.ReadFile(p.abs)
		if err != nil {
			return nil, nil, fmt.Errorf("read the known secret in %s: %w: generate it first (secret.generate) or fix known_from", k, err)
		}
		if p.rel != "" {
			skip[p.rel] = true
		}
		values := []string{strings.TrimSpace(string(b))}
		if strings.Contains(values[0], "\n") {
			values = nil
			for _, l := range strings.Split(string(b), "\n") {
				l = strings.TrimSpace(l)
				if !strings.HasPrefix(l, "-----") {
					values = append(values, l)
				}
			}
		}
		for _, v := range values {
			if len(v) < minKnownLen {
				env.Printf("note: a value in %s is shorter than %d characters and is not looked for", k, minKnownLen)
				continue
			}
			env.Redact.Add(v)
			known = append(known, knownValue{v, k})
		}
	}
	if s.RunSecrets {
		known = appendKnown(known, runSecrets(env)...)
	}
	return known, skip, nil
}

// appendKnown adds values not yet known.
func appendKnown(known []knownValue, more ...knownValue) []knownValue {
	for _, m := range more {
		dup := false
		for _, k := range known {
			dup = dup || k.value == m.value
		}
		if !dup && len(m.value) >= minKnownLen {
			known = append(known, m)
		}
	}
	return known
}

// runSecrets is every secret value this run has known: the redactor's,
// and owner-only file content the run's steps saved before changing or
// moving a file (a password rotated out and overwritten).
func runSecrets(env *steps.Env) (out []knownValue) {
	defer func() {
		// After the saved ones, which say more about where a value came from.
		for _, v := range env.Redact.Values() {
			out = append(out, knownValue{strings.TrimSpace(v), "a secret value this run has known"})
		}
	}()
	if env.SaveDir == "" {
		return out
	}
	// <run>/saved/<step id>/files/*.json; a step id may hold slashes.
	saved := filepath.Dir(env.SaveDir)
	if i := strings.Index(filepath.ToSlash(env.SaveDir), "/saved/"); i >= 0 {
		saved = env.SaveDir[:i+len("/saved")]
	}
	_ = filepath.WalkDir(saved, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") || filepath.Base(filepath.Dir(p)) != "files" {
			return nil
		}
		f, ok := readRecord(p)
		if !ok || !f.Existed || f.Mode&0o077 != 0 || len(f.Content) > 64<<10 {
			return nil
		}
		step, _ := filepath.Rel(saved, filepath.Dir(filepath.Dir(p)))
		from := "a rotated-out secret value (" + f.Path + " before step " + filepath.ToSlash(step) + ")"
		for _, l := range strings.Split(string(f.Content), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
				env.Redact.Add(l)
				out = append(out, knownValue{l, from})
			}
		}
		return nil
	})
	return out
}

// matchGlob reports whether a slash-separated relative name matches a
// pattern; a pattern without "/" matches the base name at any depth.
func matchGlob(pattern, name string) bool {
	if !strings.Contains(pattern, "/") && pattern != "**" {
		ok, _ := path.Match(pattern, path.Base(name))
		return ok
	}
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

func (s *SecretScan) wanted(rel string) bool {
	in := len(s.Paths) == 0
	for _, g := range s.Paths {
		if matchGlob(g, rel) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, g := range s.Exclude {
		if matchGlob(g, rel) {
			return false
		}
	}
	return true
}

func (s *SecretScan) scanTree(ctx context.Context, root string, known []knownValue, skip map[string]bool) ([]Finding, int, error) {
	var out []Finding
	files := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if d.Name() == ".git" && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		r, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(r)
		if skip[rel] || !s.wanted(rel) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Size() > maxScanFile {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
		files++
		for _, f := range s.scanText(b, known) {
			f.Path = rel
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scan the workspace: %w", err)
	}
	return out, files, nil
}

// scanText finds secrets line by line. Binary content is skipped.
func (s *SecretScan) scanText(b []byte, known []knownValue) []Finding {
	if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
		return nil
	}
	var out []Finding
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), maxScanFile)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.Contains(line, allowMarker) {
			continue
		}
		found := false
		for _, k := range known {
			if strings.Contains(line, k.value) {
				kind := k.from
				if !strings.HasPrefix(kind, "a ") {
					kind = "the secret value of " + kind
				}
				out = append(out, Finding{Line: n, Kind: kind})
				found = true
				break
			}
		}
		if found {
			continue
		}
		lower := strings.ToLower(line)
		for _, p := range s.patterns {
			if p.matchesLower(line, lower) {
				out = append(out, Finding{Line: n, Kind: p.kind})
				break
			}
		}
	}
	return out
}

var (
	dottedIdentRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$`)
	referenceKeyRE = regexp.MustCompile(`(?i)(_file|_path|_name|_env|_ref|_id|file|path)$`)
	placeholderRE  = regexp.MustCompile(`(?i)^(true|false|null|none|nil|yes|no|on|off|required|optional|string|str|redacted|\[redacted\]|\*+|x+|\.\.\.)$`)
)

// matches reports whether the line holds a secret of this kind. For
// assignments and URLs the value is looked at: references to where a
// secret lives ($VAR, ${VAR}, {{ .x }}, /run/secrets/x, a *_FILE key),
// code (a call, a dotted name) and placeholders are not secrets.
func (p secretPattern) matches(line string) bool {
	return p.matchesLower(line, strings.ToLower(line))
}

func (p secretPattern) matchesLower(line, lower string) bool {
	if len(p.hints) > 0 {
		hinted := false
		for _, h := range p.hints {
			if strings.Contains(lower, h) {
				hinted = true
				break
			}
		}
		if !hinted {
			return false
		}
	}
	for _, m := range p.re.FindAllStringSubmatchIndex(line, -1) {
		if p.value == 0 {
			return true
		}
		if 2*p.value+1 >= len(m) || m[2*p.value] < 0 {
			continue
		}
		v := line[m[2*p.value]:m[2*p.value+1]]
		after := line[m[2*p.value+1]:]
		key := ""
		if p.value == 2 {
			key = line[m[2]:m[3]]
		}
		if !looksLikeValue(key, v, after) {
			continue
		}
		return true
	}
	return false
}

func looksLikeValue(key, v, after string) bool {
	v = strings.Trim(v, `"'`)
	switch {
	case len(v) < 6,
		referenceKeyRE.MatchString(key),
		strings.HasPrefix(v, "$"), strings.HasPrefix(v, "="), strings.HasPrefix(v, "{{"), strings.HasPrefix(v, "<"),
		strings.HasPrefix(v, "%("), strings.HasPrefix(v, "/"), strings.HasPrefix(v, "./"), strings.HasPrefix(v, "~"),
		strings.HasPrefix(after, "("), strings.HasPrefix(after, "["),
		dottedIdentRE.MatchString(v),
		placeholderRE.MatchString(v):
		return false
	}
	return true
}

// scanHistory scans every blob that a commit reachable from HEAD added or
// changed, each blob once.
func (s *SecretScan) scanHistory(ctx context.Context, root string, known []knownValue) ([]Finding, int, error) {
	repo, err := git.PlainOpen(root)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, 0, fmt.Errorf("history: true, but the workspace %s is not a git repository (no .git): turn history off or point --workspace at the repository", root)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open the workspace repository: %w", err)
	}
	head, err := repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, 0, nil // no commit yet: no history
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read HEAD of the workspace repository: %w", err)
	}
	iter, err := repo.Log(&git.LogOptions{From: head.Hash()})
	if err != nil {
		return nil, 0, fmt.Errorf("walk the workspace history: %w", err)
	}
	defer iter.Close()
	seen := map[plumbing.Hash]bool{}
	var out []Finding
	commits := 0
	stop := errors.New("stop")
	err = iter.ForEach(func(c *object.Commit) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.MaxCommits > 0 && commits == s.MaxCommits {
			return stop
		}
		commits++
		tree, err := c.Tree()
		if err != nil {
			return err
		}
		var parent *object.Tree
		if c.NumParents() > 0 {
			pc, err := c.Parent(0)
			if err != nil {
				return err
			}
			if parent, err = pc.Tree(); err != nil {
				return err
			}
		}
		changes, err := object.DiffTree(parent, tree)
		if err != nil {
			return err
		}
		for _, ch := range changes {
			to := ch.To
			if to.Name == "" || seen[to.TreeEntry.Hash] || !to.TreeEntry.Mode.IsFile() || !s.wanted(to.Name) {
				continue
			}
			seen[to.TreeEntry.Hash] = true
			blob, err := repo.BlobObject(to.TreeEntry.Hash)
			if err != nil {
				return err
			}
			if blob.Size > maxScanFile {
				continue
			}
			r, err := blob.Reader()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				return err
			}
			for _, f := range s.scanText(b, known) {
				f.Commit, f.Path = c.Hash.String()[:7], to.Name
				out = append(out, f)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return nil, 0, fmt.Errorf("scan the workspace history: %w", err)
	}
	return out, commits, nil
}
