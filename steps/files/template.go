package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/template"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/runbook-dev/runbook/assets"
	"github.com/runbook-dev/runbook/steps"
)

// maxDiffLines bounds the diff shown before a file is written.
const maxDiffLines = 200

// Template is the `file.template` action: render an embedded template (or
// inline content) to a file, showing the diff first and saving what it
// replaces for file.restore.
//
//   - file.template:
//     template: nginx/tls.conf.tmpl      # from the embedded templates; or content: |
//     path: nginx/conf.d/default.conf    # workspace-relative (or absolute)
//     mode: 0644
//     vars: {upstream: "app:8000", redirect_authority: "localhost:8443"}
//
// Templates are Go text/template with these functions: var NAME (a required
// entry of vars), varOr NAME DEFAULT, target NAME (a target's value; refused
// for a secret target), sqlLiteral, sqlIdent, envName, upper, lower, join.
// A rendering that would contain a known secret value is refused: files that
// get committed reference secrets, they never hold them.
type Template struct {
	Template string         `yaml:"template"`
	Content  string         `yaml:"content"`
	Path     string         `yaml:"path"`
	Mode     Mode           `yaml:"mode"`
	Vars     map[string]any `yaml:"vars"`

	// Templates is where Template names resolve; nil means the embedded
	// assets.Templates().
	Templates fs.FS `yaml:"-"`

	ready bool
}

func (t *Template) fsys() fs.FS {
	if t.Templates != nil {
		return t.Templates
	}
	return assets.Templates()
}

// Validate implements runbooks.Validator. It parses the template, so a
// syntax error is reported when the runbook loads.
func (t *Template) Validate() error {
	if (t.Template == "") == (t.Content == "") {
		return errors.New("give exactly one of template (an embedded template name) or content (inline text)")
	}
	if err := checkPath("path", t.Path); err != nil {
		return err
	}
	if t.Mode == 0 {
		t.Mode = 0o644
	}
	if _, _, err := t.parse(nil); err != nil {
		return err
	}
	t.ready = true
	return nil
}

// source returns the template's name and text.
func (t *Template) source() (string, string, error) {
	if t.Content != "" {
		return "content", t.Content, nil
	}
	b, err := fs.ReadFile(t.fsys(), t.Template)
	if err != nil {
		var names []string
		_ = fs.WalkDir(t.fsys(), ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				names = append(names, p)
			}
			return nil
		})
		return "", "", fmt.Errorf("template %q not found (embedded templates: %s)", t.Template, strings.Join(names, ", "))
	}
	return t.Template, string(b), nil
}

func (t *Template) parse(env *steps.Env) (*template.Template, string, error) {
	name, text, err := t.source()
	if err != nil {
		return nil, "", err
	}
	tp, err := template.New(name).Option("missingkey=error").Funcs(t.funcs(env)).Parse(text)
	if err != nil {
		return nil, "", fmt.Errorf("template %s: %w", name, err)
	}
	return tp, name, nil
}

func (t *Template) funcs(env *steps.Env) template.FuncMap {
	return template.FuncMap{
		"var": func(name string) (any, error) {
			v, ok := t.Vars[name]
			if !ok {
				return nil, fmt.Errorf("the template needs vars: {%s: ...}", name)
			}
			return v, nil
		},
		"varOr": func(name string, def any) any {
			if v, ok := t.Vars[name]; ok {
				return v
			}
			return def
		},
		"target": func(name string) (string, error) {
			if env == nil {
				return "", nil
			}
			v, ok := env.Targets[name]
			if !ok {
				return "", fmt.Errorf("target %s has no value", name)
			}
			if env.Redact.Known(v) {
				return "", fmt.Errorf("target %s is secret: render a reference to a secret file instead of its value", name)
			}
			return v, nil
		},
		"sqlLiteral": sqlLiteral,
		"sqlIdent":   sqlIdent,
		"envName":    envName,
		"upper":      strings.ToUpper,
		"lower":      strings.ToLower,
		"join": func(sep string, v any) (string, error) {
			list, ok := v.([]any)
			if !ok {
				return "", fmt.Errorf("join: expected a list, found %T", v)
			}
			parts := make([]string, len(list))
			for i, x := range list {
				parts[i] = fmt.Sprint(x)
			}
			return strings.Join(parts, sep), nil
		},
	}
}

// sqlLiteral quotes a value as a SQL string literal (standard conforming
// strings: a quote is doubled; a backslash makes it an E” literal).
func sqlLiteral(v any) string {
	s := fmt.Sprint(v)
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// sqlIdent quotes a value as a SQL identifier.
func sqlIdent(v any) string {
	return `"` + strings.ReplaceAll(fmt.Sprint(v), `"`, `""`) + `"`
}

var nonEnvRE = regexp.MustCompile(`[^A-Z0-9_]+`)

// envName turns a name like "db-password" into DB_PASSWORD.
func envName(v any) string {
	return nonEnvRE.ReplaceAllString(strings.ToUpper(fmt.Sprint(v)), "_")
}

// Render returns the file content the action would write.
func (t *Template) Render(env *steps.Env) ([]byte, error) {
	tp, name, err := t.parse(env)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	data := map[string]any{"Vars": t.Vars, "Step": env.Step}
	if err := tp.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render template %s: %w", name, err)
	}
	if env.Redact.Known(b.String()) {
		return nil, fmt.Errorf("render template %s for %s: the result contains a secret value; reference the secret's file instead", name, t.Path)
	}
	return b.Bytes(), nil
}

// Describe implements steps.Action.
func (t *Template) Describe(env *steps.Env) string {
	mode := t.Mode
	if mode == 0 {
		mode = 0o644
	}
	src := "inline content"
	if t.Template != "" {
		src = "template " + t.Template
	}
	s := fmt.Sprintf("render %s to %s (mode %s)", src, t.Path, mode)
	if len(t.Vars) > 0 {
		keys := make([]string, 0, len(t.Vars))
		for k := range t.Vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + fmt.Sprint(t.Vars[k])
		}
		s += " with " + env.Redact.String(strings.Join(parts, ", "))
	}
	return s + "; the previous content is saved for file.restore"
}

// Run implements steps.Action.
func (t *Template) Run(_ context.Context, env *steps.Env) error {
	if !t.ready {
		if err := t.Validate(); err != nil {
			return err
		}
	}
	p, err := locate(env, t.Path)
	if err != nil {
		return err
	}
	content, err := t.Render(env)
	if err != nil {
		return err
	}
	mode := fs.FileMode(t.Mode)
	old, err := os.ReadFile(p.abs)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", p.shown, err)
	}
	if exists {
		fi, err := os.Stat(p.abs)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p.shown, err)
		}
		if bytes.Equal(old, content) && fi.Mode().Perm() == mode {
			env.Printf("%s is up to date (%d bytes, mode %s)", p.shown, len(content), t.Mode)
			return nil
		}
	}
	showDiff(env, p.shown, exists, string(old), string(content))
	if err := saveOnce(env, p); err != nil {
		return err
	}
	if err := writeAtomic(p.abs, content, mode, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p.shown, err)
	}
	p.touch(env)
	env.Printf("wrote %s (%d bytes, mode %s)", p.shown, len(content), t.Mode)
	return nil
}

// showDiff prints a unified diff, redacted, at most maxDiffLines lines.
func showDiff(env *steps.Env, name string, existed bool, old, new string) {
	from := "a/" + name
	if !existed {
		from = "/dev/null"
	}
	d := udiff.Unified(from, "b/"+name, old, new)
	if d == "" {
		env.Printf("%s: content unchanged (mode only)", name)
		return
	}
	lines := strings.Split(strings.TrimRight(d, "\n"), "\n")
	for i, l := range lines {
		if i == maxDiffLines {
			env.Printf("… %d more diff lines", len(lines)-i)
			break
		}
		env.Printf("%s", env.Redact.String(l))
	}
}

// Restore is the `file.restore` action, the undo of file.template: it puts
// the file back as it was before this step (or removes it if this step
// created it). Running it twice is harmless.
//
//   - file.restore: {path: nginx/conf.d/default.conf}
type Restore struct {
	Path string `yaml:"path"`
}

// Validate implements runbooks.Validator.
func (r *Restore) Validate() error { return checkPath("path", r.Path) }

// Describe implements steps.Action.
func (r *Restore) Describe(*steps.Env) string {
	return "restore " + r.Path + " to its content before this step (remove it if this step created it)"
}

// Run implements steps.Action.
func (r *Restore) Run(_ context.Context, env *steps.Env) error {
	if err := r.Validate(); err != nil {
		return err
	}
	p, err := locate(env, r.Path)
	if err != nil {
		return err
	}
	before, _ := os.ReadFile(p.abs)
	res, err := restore(env, p)
	if err != nil {
		return err
	}
	if res == restoredContent || res == removedCreated {
		after, _ := os.ReadFile(p.abs)
		showDiff(env, p.shown, true, string(before), string(after))
		p.touch(env)
	}
	env.Printf("%s", res.describe(p.shown))
	return nil
}

// Assert is the `file.assert` action: a file exists (or not), has a mode,
// and its content matches (or does not match) a pattern. Content is never
// printed: a failure says where, not what.
//
//   - file.assert:
//     path: certs/server.key
//     mode: 0600
//     content: '-----BEGIN PRIVATE KEY-----'
//   - file.assert: {path: .env, absent: true}
//   - file.assert: {path: docker-compose.yml, no_content: 'POSTGRES_PASSWORD:\s*\w'}
type Assert struct {
	Path      string `yaml:"path"`
	Absent    bool   `yaml:"absent"`
	Mode      Mode   `yaml:"mode"`
	Content   string `yaml:"content"`
	NoContent string `yaml:"no_content"`

	ready     bool
	re, notRE *regexp.Regexp
}

// Validate implements runbooks.Validator.
func (a *Assert) Validate() error {
	if err := checkPath("path", a.Path); err != nil {
		return err
	}
	if a.Absent && (a.Mode != 0 || a.Content != "" || a.NoContent != "") {
		return errors.New("absent: true cannot go with mode, content or no_content")
	}
	var err error
	if a.Content != "" {
		if a.re, err = regexp.Compile(a.Content); err != nil {
			return fmt.Errorf("content: %v", err)
		}
	}
	if a.NoContent != "" {
		if a.notRE, err = regexp.Compile(a.NoContent); err != nil {
			return fmt.Errorf("no_content: %v", err)
		}
	}
	a.ready = true
	return nil
}

// Describe implements steps.Action.
func (a *Assert) Describe(*steps.Env) string {
	if a.Absent {
		return "check that " + a.Path + " does not exist"
	}
	s := "check that " + a.Path + " exists"
	if a.Mode != 0 {
		s += ", mode " + a.Mode.String()
	}
	if a.Content != "" {
		s += ", content matching /" + a.Content + "/"
	}
	if a.NoContent != "" {
		s += ", no content matching /" + a.NoContent + "/"
	}
	return s
}

// Run implements steps.Action.
func (a *Assert) Run(_ context.Context, env *steps.Env) error {
	if !a.ready {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	p, err := locate(env, a.Path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p.abs)
	if a.Absent {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			env.Printf("ok   %s does not exist", p.shown)
			return nil
		case err != nil:
			return fmt.Errorf("stat %s: %w", p.shown, err)
		}
		return fmt.Errorf("%s: expected absent, found a file (%d bytes)", p.shown, fi.Size())
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: expected a file, found none", p.shown)
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", p.shown, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: expected a regular file, found %s", p.shown, fi.Mode().Type())
	}
	var fails []string
	env.Printf("ok   %s exists (%d bytes, mode %04o)", p.shown, fi.Size(), fi.Mode().Perm())
	if a.Mode != 0 {
		if got := fi.Mode().Perm(); got != fs.FileMode(a.Mode) {
			fails = append(fails, fmt.Sprintf("mode: expected %s, found %04o", a.Mode, got))
		} else {
			env.Printf("ok   mode %s", a.Mode)
		}
	}
	if a.re != nil || a.notRE != nil {
		b, err := os.ReadFile(p.abs)
		if err != nil {
			return fmt.Errorf("read %s: %w", p.shown, err)
		}
		if a.re != nil {
			if a.re.Match(b) {
				env.Printf("ok   content matches /%s/", a.Content)
			} else {
				fails = append(fails, fmt.Sprintf("content: expected a match for /%s/, found none", a.Content))
			}
		}
		if a.notRE != nil {
			if loc := a.notRE.FindIndex(b); loc != nil {
				line := bytes.Count(b[:loc[0]], []byte("\n")) + 1
				fails = append(fails, fmt.Sprintf("content: expected no match for /%s/, found one at line %d", a.NoContent, line))
			} else {
				env.Printf("ok   no content matches /%s/", a.NoContent)
			}
		}
	}
	if len(fails) > 0 {
		for _, f := range fails {
			env.Printf("FAIL %s", f)
		}
		return fmt.Errorf("%s: %s", p.shown, strings.Join(fails, "; "))
	}
	return nil
}
