package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Action is one typed operation of a step. Action families (shell, docker,
// postgres, web, files, git) implement it in sub-packages; the parameter
// struct decoded from the runbook is the action itself.
type Action interface {
	// Describe says concretely what Run will do (the plan view), with
	// secrets masked. It does no I/O.
	Describe(env *Env) string
	// Run performs the action. Output goes to env.Out, a line at a time.
	Run(ctx context.Context, env *Env) error
}

// Env is what an action may use while it runs.
type Env struct {
	Out       io.Writer
	Targets   Targets
	Redact    *Redactor
	Workspace string // the workspace directory (the repository checkpoints go to)
	StateDir  string
	Step      string
	Rehearsal bool
	Clock     Clock
	// StepStarted is when the step's current attempt began (for actions
	// that look at logs "since the step began").
	StepStarted time.Time
	// SaveDir is a directory private to this step (created on demand by
	// the action) where a do action keeps what its undo needs: the previous
	// content of a file it overwrote, the previous compose file. It
	// survives restarts.
	SaveDir string
	// Touched records workspace paths (relative to Workspace) an action
	// created, changed or removed, so the step's checkpoint commits exactly
	// those. Nil-safe.
	Touched *PathSet
}

// Touch records changed workspace paths for the step's checkpoint.
func (e *Env) Touch(paths ...string) { e.Touched.Add(paths...) }

// PathSet is a set of paths, safe for concurrent use.
type PathSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

// Add puts paths in the set; a nil set ignores them.
func (p *PathSet) Add(paths ...string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]struct{}{}
	}
	for _, x := range paths {
		p.m[x] = struct{}{}
	}
}

// List returns the paths, sorted.
func (p *PathSet) List() []string {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.m))
	for k := range p.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Printf writes one line of output.
func (e *Env) Printf(format string, args ...any) {
	if e.Out != nil {
		fmt.Fprintf(e.Out, format+"\n", args...)
	}
}

// Expand replaces ${target.NAME} with the resolved value of target NAME.
// An unknown name is an error, so a typo never reaches a command line.
func (e *Env) Expand(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${target.")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s)
		}
		name := s[i+len("${target.") : i+j]
		v, ok := e.Targets[name]
		if !ok {
			return "", fmt.Errorf("unknown target %q in %q", name, s)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// ShowExpand is Expand for display: secret values come out masked.
func (e *Env) ShowExpand(s string) string {
	v, err := e.Expand(s)
	if err != nil {
		return s
	}
	return e.Redact.String(v)
}

// SecretSource is implemented by actions whose secrets outlive the process
// that made them (a generated secret file). A session asks every such action
// at open, so a run resumed by a new process masks them from the start.
type SecretSource interface {
	KnownSecrets(env *Env) []string
}

// NeedsOperatorError is returned by an action that waits for a person.
type NeedsOperatorError struct{ Prompt string }

func (e *NeedsOperatorError) Error() string { return "needs the operator: " + e.Prompt }

// IsNeedsOperator reports whether err asks for the operator.
func IsNeedsOperator(err error) bool {
	var n *NeedsOperatorError
	return errors.As(err, &n)
}

// Factory makes a fresh parameter struct of one action type.
type Factory func() Action

// Registry maps action type names to their factories. It satisfies
// runbooks.ActionTypes. Built by a function at start-up; never global.
type Registry struct {
	m map[string]Factory
}

// NewRegistry returns a registry holding the built-in manual action.
func NewRegistry() *Registry {
	r := &Registry{m: map[string]Factory{}}
	r.Register("manual", func() Action { return new(Manual) })
	return r
}

// Register adds an action type. Registering a name twice is a programming
// error and panics at start-up.
func (r *Registry) Register(typ string, f Factory) {
	if _, dup := r.m[typ]; dup {
		panic("steps: action type registered twice: " + typ)
	}
	r.m[typ] = f
}

// NewParams implements runbooks.ActionTypes.
func (r *Registry) NewParams(typ string) (any, bool) {
	f, ok := r.m[typ]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types implements runbooks.ActionTypes.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.m))
	for k := range r.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Manual is a step of work done by a person: the operator reads the prompt
// (and the guide), does it, and confirms.
type Manual struct {
	Prompt string `yaml:"prompt"`
}

// Validate implements runbooks.Validator.
func (m *Manual) Validate() error {
	if strings.TrimSpace(m.Prompt) == "" {
		return errors.New("prompt is required: tell the operator what to do")
	}
	return nil
}

// Describe implements Action.
func (m *Manual) Describe(*Env) string { return "operator: " + m.Prompt }

// Run implements Action: it always waits for the operator.
func (m *Manual) Run(context.Context, *Env) error { return &NeedsOperatorError{Prompt: m.Prompt} }

// LineTap passes output through to W and calls Fn with each complete line.
// Safe for use as both Stdout and Stderr of one command.
type LineTap struct {
	W   io.Writer
	Fn  func(line string)
	mu  sync.Mutex
	buf []byte
}

func (t *LineTap) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.W != nil {
		if _, err := t.W.Write(p); err != nil {
			return 0, err
		}
	}
	if t.Fn == nil {
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		t.Fn(string(t.buf[:i]))
		t.buf = t.buf[i+1:]
	}
	if len(t.buf) > maxLine {
		// A very long line without a newline: handed on in pieces.
		t.Fn(string(t.buf))
		t.buf = t.buf[:0]
	}
	return len(p), nil
}

// maxLine is the longest unterminated line LineTap keeps before it hands
// it on.
const maxLine = 64 << 10

// Flush hands a last unterminated line to Fn.
func (t *LineTap) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) > 0 && t.Fn != nil {
		t.Fn(string(t.buf))
	}
	t.buf = nil
}
