package docker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aymanbagabas/go-udiff"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/runbook-dev/runbook/steps"
)

// Patch is a YAML mapping kept in the order it was written, so keys it
// adds to a file land in that order.
type Patch struct {
	v any
}

// UnmarshalYAML implements yaml.NodeUnmarshaler.
func (p *Patch) UnmarshalYAML(n ast.Node) error {
	return yaml.NodeToValue(n, &p.v, yaml.UseOrderedMap())
}

// ParsePatch reads a patch from YAML text (for callers that build actions
// in code).
func ParsePatch(src string) (Patch, error) {
	var p Patch
	if err := yaml.UnmarshalWithOptions([]byte(src), &p.v, yaml.UseOrderedMap()); err != nil {
		return p, err
	}
	return p, nil
}

func (p Patch) mapping() (yaml.MapSlice, bool) {
	m, ok := p.v.(yaml.MapSlice)
	return m, ok
}

// composeTopLevel are the keys a compose file may have at its top level.
var composeTopLevel = []string{"version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models"}

// Edit is the `compose.edit` action: a structural edit of a compose file.
// The patch is merged into the file — mappings key by key, `null` removes
// a key, lists and scalars replace what was there — and only the lines of
// the touched entries are rewritten: the rest of the file, comments
// included, stays byte for byte. A list-form environment ("- KEY=value")
// is edited key by key. The diff is shown before the file is written, the
// result must pass the compose CLI's check (validateCompose), and the previous file is kept for
// `compose.restore`. Running it again changes nothing.
//
//	do:
//	  - compose.edit:
//	      file: lab/docker-compose.yml
//	      patch:
//	        services:
//	          app:
//	            environment:
//	              DB_PASSWORD: null                      # remove the plaintext secret
//	              DB_PASSWORD_FILE: /run/secrets/db_password
//	            secrets: [db_password]
//	          nginx:
//	            ports: ["443:443", "80:80"]
//	            volumes: ["./certs:/etc/nginx/certs:ro"]
//	        secrets:
//	          db_password:
//	            file: ./secrets/db_password
type Edit struct {
	File string `yaml:"file"`
	// Project names the project when checking the result (default: the
	// file's directory name, as compose does).
	Project string `yaml:"project"`
	Patch   Patch  `yaml:"patch"`
}

// Validate implements runbooks.Validator.
func (e *Edit) Validate() error {
	if strings.TrimSpace(e.File) == "" {
		return errors.New("file is required: the compose file, relative to the workspace")
	}
	m, ok := e.Patch.mapping()
	if !ok || len(m) == 0 {
		return errors.New("patch is required: a mapping merged into the compose file (services, secrets, ...)")
	}
	for _, it := range m {
		k := fmt.Sprint(it.Key)
		if !contains(composeTopLevel, k) && !strings.HasPrefix(k, "x-") {
			return fmt.Errorf("patch: %q is not a top-level compose key (expected one of: %s, or x-...)", k, strings.Join(composeTopLevel, ", "))
		}
	}
	return nil
}

// Describe implements steps.Action: the patch as the changes it asks for,
// values masked where they look secret. The diff against the file as it
// is needs to read it: see Diff.
func (e *Edit) Describe(env *steps.Env) string {
	m, _ := e.Patch.mapping()
	var ch []string
	describePatch(env, "", m, &ch)
	return "edit compose file " + env.ShowExpand(e.File) + ": " + strings.Join(ch, "; ")
}

func describePatch(env *steps.Env, at string, m yaml.MapSlice, out *[]string) {
	for _, it := range m {
		p := fmt.Sprint(it.Key)
		if at != "" {
			p = at + "." + p
		}
		switch v := it.Value.(type) {
		case nil:
			*out = append(*out, "remove "+p)
		case yaml.MapSlice:
			if len(v) == 0 {
				*out = append(*out, "set "+p+" = {}")
				continue
			}
			describePatch(env, p, v, out)
		default:
			if str, ok := v.(string); ok {
				v = env.ShowExpand(str)
			}
			b, _ := json.Marshal(v)
			shown := string(b)
			if str, ok := v.(string); ok && secretKeyRE.MatchString(fmt.Sprint(it.Key)) && !strings.HasPrefix(str, "/") && !strings.HasPrefix(str, "./") {
				shown = steps.Mask
			}
			*out = append(*out, "set "+env.Redact.String(p+" = "+shown))
		}
	}
}

// Diff is the unified diff the edit would make to the file as it is now,
// secrets masked ("" when the file already matches). It reads the file and
// writes nothing: the plan view calls it.
func (e *Edit) Diff(ctx context.Context, env *steps.Env) (string, error) {
	if err := e.Validate(); err != nil {
		return "", err
	}
	abs, _, err := workspacePath(env, e.File)
	if err != nil {
		return "", err
	}
	m, err := expandPatch(env, e.Patch.v)
	if err != nil {
		return "", err
	}
	cur, next, err := e.edited(ctx, abs, m.(yaml.MapSlice))
	if err != nil {
		return "", err
	}
	return diffText(env, e.File, cur, next), nil
}

func diffText(env *steps.Env, name string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	d := udiff.Unified("a/"+name, "b/"+name, string(a), string(b))
	lines := strings.Split(d, "\n")
	for i, l := range lines {
		lines[i] = maskEnvLine(l)
	}
	return env.Redact.String(strings.Join(lines, "\n"))
}

// envLineRE is an environment entry in a compose file, in list form
// ("- KEY=value") or mapping form ("KEY: value"), as a diff line.
var envLineRE = regexp.MustCompile(`^([-+ ]\s*(?:-\s+)?["']?)([A-Za-z_][A-Za-z0-9_]*)(=|:[ \t]+)(.*)$`)

// secretKeyRE are names whose values a diff never shows: compose files
// in their "before" state hold plaintext credentials under names the
// redactor's general patterns may not know (DB_PASS, AUTH_KEY, ...).
var secretKeyRE = regexp.MustCompile(`(?i)pass|secret|token|key|cred|auth|salt|private|pwd`)

func maskEnvLine(l string) string {
	m := envLineRE.FindStringSubmatch(l)
	if m == nil || !secretKeyRE.MatchString(m[2]) || strings.TrimSpace(m[4]) == "" || m[2] == "secrets" {
		return l
	}
	if strings.HasPrefix(m[4], "/") || strings.HasPrefix(m[4], "./") {
		return l // a path (KEY_FILE: /run/secrets/x) is not the secret
	}
	return m[1] + m[2] + m[3] + steps.Mask
}

// expandPatch returns the patch with ${target.NAME} replaced in every
// string value (an image or a port that differs between hosts), so the
// file holds plain values; keys are left as written.
func expandPatch(env *steps.Env, v any) (any, error) {
	switch x := v.(type) {
	case string:
		out, err := env.Expand(x)
		if err != nil {
			return nil, fmt.Errorf("patch: %w", err)
		}
		return out, nil
	case yaml.MapSlice:
		out := make(yaml.MapSlice, len(x))
		for i, it := range x {
			val, err := expandPatch(env, it.Value)
			if err != nil {
				return nil, err
			}
			out[i] = yaml.MapItem{Key: it.Key, Value: val}
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			val, err := expandPatch(env, it)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	}
	return v, nil
}

// edited reads the file and returns it with the patch m applied and checked.
func (e *Edit) edited(ctx context.Context, abs string, m yaml.MapSlice) (cur, next []byte, err error) {
	cur, err = os.ReadFile(abs)
	if err != nil {
		return nil, nil, fmt.Errorf("read compose file: %w", err)
	}
	next, err = mergeEdit(cur, m)
	if err != nil {
		return nil, nil, fmt.Errorf("edit compose file %s: %w", abs, err)
	}
	if !bytes.Equal(cur, next) {
		if err := validateCompose(ctx, abs, next, e.Project); err != nil {
			return nil, nil, fmt.Errorf("compose file %s after the edit does not load (nothing was written): %w", abs, err)
		}
	}
	return cur, next, nil
}

// Run implements steps.Action.
func (e *Edit) Run(ctx context.Context, env *steps.Env) error {
	if err := e.Validate(); err != nil {
		return err
	}
	abs, rel, err := workspacePath(env, e.File)
	if err != nil {
		return err
	}
	m, err := expandPatch(env, e.Patch.v)
	if err != nil {
		return err
	}
	cur, next, err := e.edited(ctx, abs, m.(yaml.MapSlice))
	if err != nil {
		return err
	}
	if bytes.Equal(cur, next) {
		env.Printf("%s already holds what the patch asks for: nothing to change", e.File)
		return nil
	}
	for _, l := range strings.Split(strings.TrimRight(diffText(env, e.File, cur, next), "\n"), "\n") {
		env.Printf("%s", l)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("compose file %s: %w", abs, err)
	}
	s := saved{dir: env.SaveDir, abs: abs}
	if err := s.keep(cur, next, info.Mode().Perm(), rel); err != nil {
		return err
	}
	if err := writeFileAtomic(abs, next, info.Mode().Perm()); err != nil {
		return fmt.Errorf("write compose file %s: %w", abs, err)
	}
	if rel != "" {
		env.Touch(rel)
	}
	env.Printf("wrote %s; the previous version is kept for compose.restore", e.File)
	return nil
}

// Restore is the `compose.restore` action, the undo of compose.edit: it
// puts back the file as it was before the step's first edit, byte for
// byte, and re-applies it with compose.apply (unless apply: false). It
// refuses when the file was changed after the edit (by hand, or by another
// step) unless force is set, and does nothing when nothing was saved.
//
//	undo:
//	  - compose.restore:
//	      file: lab/docker-compose.yml
//	      project: lab
//	      services: [nginx, app]
//	      apply: true       # default true: compose up -d after restoring
type Restore struct {
	// Compose is the file and the re-apply: file, project, services,
	// target, force_recreate, timeout as in compose.apply.
	Compose Apply `yaml:",inline"`
	// ReApply says whether to run compose up -d after restoring.
	ReApply *bool `yaml:"apply"`
	Force   bool  `yaml:"force"`
}

// Validate implements runbooks.Validator.
func (r *Restore) Validate() error { return r.Compose.Validate() }

func (r *Restore) reapply() bool { return r.ReApply == nil || *r.ReApply }

// Describe implements steps.Action.
func (r *Restore) Describe(env *steps.Env) string {
	s := "restore compose file " + env.ShowExpand(r.Compose.File) + " as it was before this step's edit"
	if r.reapply() {
		s += ", then " + r.Compose.Describe(env)
	}
	return s
}

// Run implements steps.Action.
func (r *Restore) Run(ctx context.Context, env *steps.Env) error {
	if err := r.Validate(); err != nil {
		return err
	}
	abs, rel, err := workspacePath(env, r.Compose.File)
	if err != nil {
		return err
	}
	s := saved{dir: env.SaveDir, abs: abs}
	orig, meta, ok, err := s.load()
	if err != nil {
		return err
	}
	if !ok {
		env.Printf("nothing saved for %s: this step did not change it, or it was restored already", r.Compose.File)
		return nil
	}
	cur, err := os.ReadFile(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		cur = nil
	case err != nil:
		return fmt.Errorf("read compose file %s: %w", abs, err)
	}
	curSum := sum(cur)
	switch {
	case curSum == meta.Original:
		env.Printf("%s is already as it was before the edit", r.Compose.File)
	case curSum != meta.Edited && !r.Force:
		return fmt.Errorf("restore %s: the file changed after this step edited it (expected sha256 %s, found %s): merge by hand, or set force: true to overwrite it with the version from before the step", r.Compose.File, short(meta.Edited), short(curSum))
	default:
		for _, l := range strings.Split(strings.TrimRight(diffText(env, r.Compose.File, cur, orig), "\n"), "\n") {
			env.Printf("%s", l)
		}
		if err := writeFileAtomic(abs, orig, fs.FileMode(meta.Mode)); err != nil {
			return fmt.Errorf("restore compose file %s: %w", abs, err)
		}
		back, err := os.ReadFile(abs)
		if err != nil || sum(back) != meta.Original {
			return fmt.Errorf("restore compose file %s: the file read back differs from the saved copy", abs)
		}
		if rel != "" {
			env.Touch(rel)
		}
		env.Printf("restored %s (sha256 %s)", r.Compose.File, short(meta.Original))
	}
	if r.reapply() {
		if err := r.Compose.Run(ctx, env); err != nil {
			return fmt.Errorf("restored %s, but re-applying it failed: %w", r.Compose.File, err)
		}
	}
	// Dropped last: a failed re-apply leaves the copy for a retry.
	return s.drop()
}

// saved is where compose.edit keeps a file's previous version for
// compose.restore, under the step's SaveDir.
type saved struct {
	dir, abs string
}

type savedMeta struct {
	Path     string `json:"path"`
	Rel      string `json:"rel,omitempty"`
	Mode     uint32 `json:"mode"`
	Original string `json:"original_sha256"`
	Edited   string `json:"edited_sha256"`
}

func (s saved) base() string {
	h := sha256.Sum256([]byte(s.abs))
	return filepath.Join(s.dir, "compose", hex.EncodeToString(h[:6])+"-"+filepath.Base(s.abs))
}

// keep stores the previous content, unless an earlier edit in this step
// already did (then the step's starting point stays the one kept), and
// records the content now being written.
func (s saved) keep(prev, next []byte, mode fs.FileMode, rel string) error {
	if s.dir == "" {
		return errors.New("no place to keep the previous compose file (the step has no save directory), so the edit could not be undone: refusing")
	}
	b := s.base()
	meta := savedMeta{Path: s.abs, Rel: rel, Mode: uint32(mode), Original: sum(prev), Edited: sum(next)}
	if old, err := os.ReadFile(b + ".json"); err == nil {
		var m savedMeta
		if json.Unmarshal(old, &m) == nil && m.Original != "" {
			meta.Original, meta.Mode = m.Original, m.Mode
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(b), 0o700); err != nil {
			return fmt.Errorf("keep previous compose file: %w", err)
		}
		if err := writeFileAtomic(b+".orig", prev, 0o600); err != nil {
			return fmt.Errorf("keep previous compose file: %w", err)
		}
	}
	j, _ := json.MarshalIndent(meta, "", "  ")
	if err := writeFileAtomic(b+".json", j, 0o600); err != nil {
		return fmt.Errorf("keep previous compose file: %w", err)
	}
	return nil
}

func (s saved) load() (orig []byte, meta savedMeta, ok bool, err error) {
	if s.dir == "" {
		return nil, meta, false, nil
	}
	b := s.base()
	j, err := os.ReadFile(b + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, meta, false, nil
	}
	if err != nil {
		return nil, meta, false, fmt.Errorf("read saved compose file: %w", err)
	}
	if err := json.Unmarshal(j, &meta); err != nil {
		return nil, meta, false, fmt.Errorf("read saved compose file %s: %w", b+".json", err)
	}
	orig, err = os.ReadFile(b + ".orig")
	if err != nil {
		return nil, meta, false, fmt.Errorf("read saved compose file: %w", err)
	}
	if sum(orig) != meta.Original {
		return nil, meta, false, fmt.Errorf("saved compose file %s is damaged (checksum differs): restore it by hand from the checkpoint before the step", b+".orig")
	}
	return orig, meta, true, nil
}

func (s saved) drop() error {
	b := s.base()
	for _, p := range []string{b + ".json", b + ".orig"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("drop saved compose file: %w", err)
		}
	}
	return nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// writeFileAtomic writes through a temporary file in the same directory
// and renames it into place, so a crash leaves the old or the new file,
// never half of one.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	return steps.WriteFileAtomic(path, data, mode)
}
