package runbooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// LoadOptions says where guides live and which action types exist.
type LoadOptions struct {
	// Actions is required: every action is decoded through it.
	Actions ActionTypes
	// Guides is where guide references resolve. When nil, guides resolve
	// relative to the runbook file inside the same file system (or the
	// `guides:` directory the runbook names).
	Guides fs.FS
	// Cache, when set, keeps the validated runbook between processes
	// (see Cache); Parse never uses it.
	Cache Cache
}

// Load reads and validates one runbook. On failure the error is Errors:
// every problem found, each with file:line:col.
func Load(fsys fs.FS, name string, opt LoadOptions) (*Runbook, error) {
	// The size is checked before the file is read: a runbook is never
	// megabytes, and reading one must not be the cost of refusing it.
	if fi, err := fs.Stat(fsys, name); err == nil && fi.Size() > MaxSize {
		return nil, Errors{tooBig(name, fi.Size())}
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read runbook %s: %w", name, err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read runbook %s: %w", name, err)
	}
	if opt.Cache != nil {
		return loadCached(src, fsys, name, opt)
	}
	return Parse(src, name, fsys, opt)
}

func tooBig(name string, size int64) *Error {
	return &Error{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: fmt.Sprintf("the runbook is %s; the limit is %s: split the window into several runbooks", sizeText(size), sizeText(MaxSize))}
}

func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)>>10)
}

// Parse validates runbook source. name is used in positions; fsys (may be
// nil) is where guides resolve when opt.Guides is nil.
func Parse(src []byte, name string, fsys fs.FS, opt LoadOptions) (rb *Runbook, err error) {
	l := &loader{file: name, opt: opt}
	// The YAML library is well tested, but a runbook loader must never take
	// the process down on hostile input: turn a panic into a positioned error.
	defer func() {
		if r := recover(); r != nil {
			rb, err = nil, Errors{{Pos: Pos{File: name}, Msg: fmt.Sprintf("cannot parse runbook: %v", r)}}
		}
	}()
	if opt.Actions == nil {
		return nil, errors.New("runbooks: LoadOptions.Actions is required")
	}
	if len(src) > MaxSize {
		return nil, Errors{tooBig(name, int64(len(src)))}
	}
	// Editors on some systems start a UTF-8 file with a byte order mark;
	// it is not part of the first key.
	text := bytes.TrimPrefix(src, []byte("\ufeff"))
	if !l.checkEncoding(text) {
		return nil, l.errs.sorted()
	}
	tokens, ok := l.tokenize(string(text))
	if !ok {
		return nil, l.errs.sorted()
	}
	f, perr := parser.Parse(tokens, 0)
	if perr != nil {
		return nil, append(l.errs, l.yamlErr(perr)).sorted()
	}
	if len(f.Docs) != 1 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		return nil, Errors{{Pos: Pos{File: name, Line: 1, Col: 1}, Msg: "expected exactly one YAML document holding a runbook"}}
	}
	if !l.survey(f.Docs[0].Body, 0) {
		return nil, l.errs.sorted()
	}
	sum := sha256.Sum256(src)
	rb = &Runbook{Source: name, Digest: hex.EncodeToString(sum[:8])}
	guidesDir := l.runbook(f.Docs[0].Body, rb)
	l.checkRaises(rb)
	l.checkSchedule(rb)
	l.checkRefs(rb)
	rb.Guides = opt.Guides
	if rb.Guides == nil && fsys != nil {
		dir := path.Dir(name)
		if guidesDir != "" {
			dir = path.Join(dir, guidesDir)
		}
		if sub, err := fs.Sub(fsys, dir); err == nil {
			rb.Guides, rb.guidesDir = sub, dir
		}
	}
	// Guides are checked even when the file has other faults, so one
	// validate run reports them all.
	if rb.Guides != nil {
		l.checkGuides(rb)
	}
	if len(l.errs) > 0 {
		return nil, l.errs.sorted()
	}
	return rb, nil
}

type loader struct {
	file     string
	opt      LoadOptions
	errs     Errors
	raisesAt []raiseRef
	// anchors are every &name of the file, in file order; aliasNodes
	// counts what aliases in action parameters expanded to.
	anchors    []anchor
	aliasNodes int
	// Where schedule values were written, for the checks that need the
	// whole runbook: schedule start, each phase's slot (by index), each
	// step's budget (by id).
	acts     []actionAt
	startPos Pos
	slotPos  []Pos
	budgetAt map[string]Pos
}

func (l *loader) pos(n ast.Node) Pos {
	// The token of a block mapping (and of one entry) is the colon after its
	// first key; point at the key itself, where a reader looks.
	switch v := n.(type) {
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 && v.Values[0].Key != nil {
			return l.pos(v.Values[0].Key)
		}
	case *ast.MappingValueNode:
		if v.Key != nil {
			return l.pos(v.Key)
		}
	}
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return Pos{File: l.file}
	}
	p := n.GetToken().Position
	return Pos{File: l.file, Line: p.Line, Col: p.Column}
}

func (l *loader) errorf(n ast.Node, format string, args ...any) {
	l.errs = append(l.errs, &Error{Pos: l.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// yamlErr turns an error of the YAML library into a positioned Error.
func (l *loader) yamlErr(err error) *Error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		e := &Error{Pos: Pos{File: l.file}, Msg: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Pos.Line, e.Pos.Col = tk.Position.Line, tk.Position.Column
		}
		return e
	}
	return &Error{Pos: Pos{File: l.file}, Msg: err.Error()}
}

// unwrap strips anchors, tags and comments so the walker sees values.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.CommentGroupNode:
			return nil
		default:
			return n
		}
	}
}

type field struct {
	key   string
	keyN  ast.Node
	value ast.Node
}

// mapping returns the entries of a mapping node in source order, or reports
// what was found instead.
func (l *loader) mapping(n ast.Node, what string) ([]field, bool) {
	n = unwrap(n)
	var vals []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.MappingNode:
		vals = v.Values
	case *ast.MappingValueNode:
		vals = []*ast.MappingValueNode{v}
	case nil, *ast.NullNode:
		return nil, true
	default:
		l.errorf(n, "%s must be a mapping, found %s", what, kindOf(n))
		return nil, false
	}
	out := make([]field, 0, len(vals))
	for _, mv := range vals {
		k := unwrap(mv.Key)
		ks, ok := scalar(k)
		if _, merge := k.(*ast.MergeKeyNode); merge {
			ks, ok = "<<", true
		}
		if !ok {
			l.errorf(mv.Key, "%s: keys must be plain strings", what)
			continue
		}
		out = append(out, field{key: ks, keyN: mv.Key, value: mv.Value})
	}
	return out, true
}

func (l *loader) sequence(n ast.Node, what string) []ast.Node {
	n = unwrap(n)
	switch v := n.(type) {
	case *ast.SequenceNode:
		return v.Values
	case nil, *ast.NullNode:
		return nil
	default:
		l.errorf(n, "%s must be a list, found %s", what, kindOf(n))
		return nil
	}
}

func kindOf(n ast.Node) string {
	switch unwrap(n).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode, nil:
		return "nothing"
	case *ast.IntegerNode:
		return "a number"
	case *ast.FloatNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.AliasNode:
		return "an alias (aliases are not supported in runbooks)"
	default:
		return "a string"
	}
}

func scalar(n ast.Node) (string, bool) {
	switch v := unwrap(n).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	return "", false
}

func (l *loader) str(f field, what string) string {
	s, ok := scalar(f.value)
	if !ok {
		l.errorf(f.value, "%s must be a string, found %s", what, kindOf(f.value))
	}
	return s
}

func (l *loader) boolean(f field, what string) bool {
	if b, ok := unwrap(f.value).(*ast.BoolNode); ok {
		return b.Value
	}
	l.errorf(f.value, "%s must be true or false, found %s", what, kindOf(f.value))
	return false
}

func (l *loader) integer(f field, what string) int {
	if i, ok := unwrap(f.value).(*ast.IntegerNode); ok {
		switch v := i.Value.(type) {
		case int64:
			if v >= 0 && v < 1000 {
				return int(v)
			}
		case uint64:
			if v < 1000 {
				return int(v)
			}
		}
		l.errorf(f.value, "%s must be between 0 and 999", what)
		return 0
	}
	if sn, ok := unwrap(f.value).(*ast.StringNode); ok && sn.GetToken() != nil && sn.GetToken().Type == token.StringType {
		switch {
		case plainIntRE.MatchString(sn.Value):
			l.errorf(f.value, "%s %s is out of range: it must be between 0 and 999", what, sn.Value)
			return 0
		case plainFloatRE.MatchString(sn.Value):
			l.errorf(f.value, "%s must be a whole number, found %s", what, sn.Value)
			return 0
		}
	}
	if fn, ok := unwrap(f.value).(*ast.FloatNode); ok {
		l.errorf(f.value, "%s must be a whole number, found %s", what, fn.GetToken().Value)
		return 0
	}
	l.errorf(f.value, "%s must be a whole number, found %s", what, kindOf(f.value))
	return 0
}

func (l *loader) duration(f field, what string) time.Duration {
	s, ok := scalar(f.value)
	if !ok {
		l.errorf(f.value, "%s must be a duration like 5m or 1h30m, found %s", what, kindOf(f.value))
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		l.errorf(f.value, "%s: %q is not a positive duration (expected e.g. 30s, 5m, 1h30m)", what, s)
		return 0
	}
	return d
}

func (l *loader) strings(f field, what string) []string {
	var out []string
	for _, n := range l.sequence(f.value, what) {
		s, ok := scalar(n)
		if !ok {
			l.errorf(n, "%s items must be strings, found %s", what, kindOf(n))
			continue
		}
		out = append(out, s)
	}
	return out
}

func (l *loader) unknown(f field, in string, known ...string) {
	l.errorf(f.keyN, "unknown key %q in %s%s (expected one of: %s)", f.key, in, didYouMean(f.key, known), strings.Join(known, ", "))
}

func (l *loader) required(n ast.Node, seen map[string]bool, in string, keys ...string) {
	for _, k := range keys {
		if !seen[k] && !l.misspelt(seen, k) {
			l.errorf(n, "%s is missing required key %q", in, k)
		}
	}
}

// misspelt reports whether a key present is a misspelling of key: its
// "unknown key ... did you mean" error already says what is missing.
func (l *loader) misspelt(seen map[string]bool, key string) bool {
	for k := range seen {
		if didYouMean(k, []string{key}) != "" {
			return true
		}
	}
	return false
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func (l *loader) id(f field, what string) string {
	s := l.str(f, what)
	if s != "" && !idRE.MatchString(s) {
		l.errorf(f.value, "%s %q must be lowercase letters, digits, '.', '_' or '-' (at most 64)", what, s)
	}
	return s
}

var runbookKeys = []string{"id", "title", "schedule", "guides", "targets", "score", "phases", "checkpoints", "notify"}

func (l *loader) runbook(body ast.Node, rb *Runbook) (guidesDir string) {
	fields, ok := l.mapping(body, "runbook")
	if !ok {
		return ""
	}
	seen := map[string]bool{}
	var phasesN, schedN ast.Node
	for _, f := range fields {
		seen[f.key] = true
		switch f.key {
		case "id":
			rb.ID = l.id(f, "runbook id")
		case "title":
			rb.Title = l.str(f, "title")
		case "schedule":
			schedN = f.value
		case "guides":
			guidesDir = l.str(f, "guides")
			if path.IsAbs(guidesDir) || strings.HasPrefix(path.Clean(guidesDir), "..") {
				l.errorf(f.value, "guides must be a directory inside the runbook's directory")
			}
		case "targets":
			l.targets(f.value, rb)
		case "score":
			l.score(f.value, rb)
		case "phases":
			phasesN = f.value
		case "checkpoints":
			l.checkpoints(f.value, rb)
		case "notify":
			l.notify(f.value, rb)
		default:
			l.unknown(f, "runbook", runbookKeys...)
		}
	}
	l.required(body, seen, "runbook", "id", "title", "schedule", "phases")
	if schedN != nil {
		l.schedule(schedN, rb)
	}
	if phasesN != nil {
		l.phases(phasesN, rb)
	}
	return guidesDir
}

func (l *loader) schedule(n ast.Node, rb *Runbook) {
	fields, ok := l.mapping(n, "schedule")
	if !ok {
		return
	}
	seen := map[string]bool{}
	var dateN, startN ast.Node
	var start string
	rb.Schedule.Location = time.UTC
	for _, f := range fields {
		seen[f.key] = true
		switch f.key {
		case "date":
			rb.Schedule.Date = l.str(f, "schedule date")
			dateN = f.value
		case "timezone":
			tz := l.str(f, "timezone")
			switch {
			case strings.TrimSpace(tz) == "":
				l.errorf(f.value, "timezone is empty: name the window's zone, an IANA name like UTC or Europe/Berlin")
			case tz == "Local":
				l.errorf(f.value, "timezone Local is the zone of whichever machine runs runbook, different on every laptop: name the window's zone, an IANA name like UTC or Europe/Berlin")
			default:
				loc, err := time.LoadLocation(tz)
				if err != nil {
					l.errorf(f.value, "unknown time zone %q (expected an IANA name like UTC or Europe/Berlin)", tz)
				} else {
					rb.Schedule.Location = loc
				}
			}
		case "start":
			start, startN = l.str(f, "schedule start"), f.value
		default:
			l.unknown(f, "schedule", "date", "timezone", "start")
		}
	}
	l.required(n, seen, "schedule", "date", "timezone")
	if dateN != nil {
		if _, err := time.Parse("2006-01-02", rb.Schedule.Date); err != nil {
			l.errorf(dateN, "schedule date %q must be YYYY-MM-DD", rb.Schedule.Date)
			rb.Schedule.Date = ""
		}
	}
	if startN != nil && rb.Schedule.Date != "" {
		if t, ok := l.clock(startN, rb, start, "start"); ok {
			rb.Schedule.Start = t
			l.startPos = l.pos(startN)
		}
	}
}

var hhmmRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// clock turns HH:MM on the schedule's date into an absolute time; HH:MM+1
// is on the day after (a window that runs past midnight).
func (l *loader) clock(n ast.Node, rb *Runbook, hhmm, what string) (time.Time, bool) {
	if rb.Schedule.Date == "" {
		return time.Time{}, false
	}
	s := strings.TrimSpace(hhmm)
	s, nextDay := strings.CutSuffix(s, "+1")
	if !hhmmRE.MatchString(s) {
		l.errorf(n, "%s %q is not a time of day: expected HH:MM, 24-hour, two digits each (08:00, not 8:00)", what, strings.TrimSpace(hhmm))
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", rb.Schedule.Date+" "+s, rb.Schedule.Location)
	if err != nil {
		l.errorf(n, "%s %q is not a time of day (expected HH:MM, 24-hour)", what, hhmm)
		return time.Time{}, false
	}
	if nextDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, true
}

var targetKinds = []string{string(TargetDocker), string(TargetPostgres), string(TargetURL), string(TargetDir), string(TargetValue)}

var envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// named reads a mapping of named entries, each a mapping of keys
// (`targets:`, score `areas:`): the name must be an id, each key is handed
// to fn, unknown ones reported there, and required keys checked after.
func (l *loader) named(n ast.Node, what string, required []string, entry func(name field), key func(f field)) {
	fields, _ := l.mapping(n, what+"s")
	for _, nf := range fields {
		if !idRE.MatchString(nf.key) {
			l.errorf(nf.keyN, "%s name %q must be lowercase letters, digits, '.', '_' or '-'", what, nf.key)
		}
		sub, ok := l.mapping(nf.value, what+" "+nf.key)
		if !ok {
			continue
		}
		entry(nf)
		seen := map[string]bool{}
		for _, f := range sub {
			seen[f.key] = true
			key(f)
		}
		l.required(nf.value, seen, what+" "+nf.key, required...)
	}
}

func (l *loader) targets(n ast.Node, rb *Runbook) {
	var t *Target
	defaults := map[string]ast.Node{}
	defer func() {
		for _, t := range rb.Targets {
			if dn := defaults[t.Name]; dn != nil {
				l.checkTargetDefault(t, dn)
			}
		}
	}()
	l.named(n, "target", []string{"kind"}, func(name field) {
		rb.Targets = append(rb.Targets, Target{Name: name.key, Pos: l.pos(name.keyN)})
		t = &rb.Targets[len(rb.Targets)-1]
	}, func(f field) {
		switch f.key {
		case "kind":
			k := l.str(f, "target kind")
			t.Kind = TargetKind(k)
			if k != "" && !contains(targetKinds, k) {
				l.errorf(f.value, "unknown target kind %q%s (expected one of: %s)", k, didYouMean(k, targetKinds), strings.Join(targetKinds, ", "))
			}
		case "env":
			t.Env = l.str(f, "target env")
			if t.Env != "" && !envRE.MatchString(t.Env) {
				l.errorf(f.value, "%q is not an environment variable name", t.Env)
			}
		case "default":
			t.Default = l.str(f, "target default")
			defaults[t.Name] = f.value
		case "secret":
			t.Secret = l.boolean(f, "target secret")
		case "description":
			t.Description = l.str(f, "target description")
		default:
			l.unknown(f, "target", "kind", "env", "default", "secret", "description")
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var phaseKeys = []string{"id", "title", "slot", "overrun", "checkpoint", "steps"}

func (l *loader) phases(n ast.Node, rb *Runbook) {
	phaseIDs := map[string]Pos{}
	stepIDs := map[string]Pos{}
	items := l.sequence(n, "phases")
	if len(items) == 0 && len(l.errs) == 0 {
		l.errorf(n, "a runbook needs at least one phase")
	}
	for _, pn := range items {
		p := Phase{Checkpoint: true, Pos: l.pos(pn)}
		fields, ok := l.mapping(pn, "phase")
		if !ok {
			continue
		}
		seen := map[string]bool{}
		var stepsN ast.Node
		slotPos := Pos{}
		for _, f := range fields {
			seen[f.key] = true
			switch f.key {
			case "id":
				p.ID = l.id(f, "phase id")
				if prev, dup := phaseIDs[p.ID]; dup && p.ID != "" {
					l.errorf(f.value, "duplicate phase id %q (first defined at %s)", p.ID, prev)
				}
				phaseIDs[p.ID] = l.pos(f.value)
			case "title":
				p.Title = l.str(f, "phase title")
			case "slot":
				l.slot(f, rb, &p)
				slotPos = l.pos(f.value)
			case "overrun":
				switch v := l.str(f, "overrun"); v {
				case "allowed":
					p.OverrunAllowed = true
				case "refused":
				default:
					l.errorf(f.value, "overrun %q: expected allowed (the steps may run past the slot's end) or refused (the default)", v)
				}
			case "checkpoint":
				p.Checkpoint = l.boolean(f, "checkpoint")
			case "steps":
				stepsN = f.value
			default:
				l.unknown(f, "phase", phaseKeys...)
			}
		}
		l.required(pn, seen, "phase", "id", "title", "slot", "steps")
		if stepsN != nil {
			for _, sn := range l.sequence(stepsN, "steps") {
				s, idN, ok := l.step(sn)
				if !ok {
					continue
				}
				if prev, dup := stepIDs[s.ID]; dup && s.ID != "" {
					l.errorf(idN, "duplicate step id %q (first defined at %s)", s.ID, prev)
				}
				stepIDs[s.ID] = l.pos(idN)
				p.Steps = append(p.Steps, s)
			}
			if len(p.Steps) == 0 {
				l.errorf(stepsN, "phase %q has no steps", p.ID)
			}
		}
		rb.Phases = append(rb.Phases, p)
		l.slotPos = append(l.slotPos, slotPos)
	}
	if rb.Schedule.Start.IsZero() && len(rb.Phases) > 0 {
		rb.Schedule.Start = rb.Phases[0].SlotStart
	}
}

func (l *loader) slot(f field, rb *Runbook, p *Phase) {
	s, ok := scalar(f.value)
	if !ok {
		l.errorf(f.value, "slot must be a string, found %s", kindOf(f.value))
		return
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok || strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
		l.errorf(f.value, "slot %q must be HH:MM-HH:MM", s)
		return
	}
	start, ok1 := l.clock(f.value, rb, a, "slot start")
	end, ok2 := l.clock(f.value, rb, b, "slot end")
	if !ok1 || !ok2 {
		return
	}
	switch {
	case end.Equal(start):
		l.errorf(f.value, "slot %q is empty: it ends when it starts", s)
		return
	case end.Before(start):
		l.errorf(f.value, "slot %q ends before it starts; a slot that runs past midnight marks the next day's time with +1, as in \"22:00-02:00+1\"", s)
		return
	}
	p.SlotStart, p.SlotEnd = start, end
}

var stepKeys = []string{"id", "title", "budget", "undo_budget", "guide", "checklist", "do", "verify", "undo", "retries", "timeout", "raises", "approval"}

// step decodes one step; idN is the node of its id (for duplicate checks).
func (l *loader) step(n ast.Node) (s Step, idN ast.Node, ok bool) {
	s = Step{Pos: l.pos(n)}
	fields, ok := l.mapping(n, "step")
	if !ok {
		return s, nil, false
	}
	seen := map[string]bool{}
	var budgetN ast.Node
	defer func() {
		if budgetN != nil && s.ID != "" {
			l.budgetAt[s.ID] = l.pos(budgetN)
		}
	}()
	for _, f := range fields {
		seen[f.key] = true
		switch f.key {
		case "id":
			s.ID, idN = l.id(f, "step id"), f.value
		case "title":
			s.Title = l.str(f, "step title")
		case "budget":
			s.Budget = l.duration(f, "budget")
			if l.budgetAt == nil {
				l.budgetAt = map[string]Pos{}
			}
			budgetN = f.value
		case "undo_budget":
			s.UndoBudget = l.duration(f, "undo_budget")
		case "timeout":
			s.Timeout = l.duration(f, "timeout")
		case "retries":
			s.Retries = l.integer(f, "retries")
		case "guide":
			g := l.str(f, "guide")
			file, anchor, _ := strings.Cut(g, "#")
			s.Guide = GuideRef{File: file, Anchor: anchor, Pos: l.pos(f.value)}
			if strings.TrimSpace(g) == "" {
				if _, isStr := scalar(f.value); isStr {
					l.errorf(f.value, "guide is empty: name a markdown file beside the runbook, as file.md#anchor")
				}
			} else if file == "" || !strings.HasSuffix(file, ".md") {
				l.errorf(f.value, "guide %q must name a markdown file, as file.md#anchor", g)
			}
		case "checklist":
			s.Checklist = l.strings(f, "checklist")
		case "raises":
			s.Raises = l.raises(f)
		case "approval":
			s.Approval = l.approval(f)
		case "do":
			s.Do = l.actions(f.value, "do")
		case "verify":
			s.Verify = l.actions(f.value, "verify")
		case "undo":
			s.Undo = l.actions(f.value, "undo")
		default:
			l.unknown(f, "step", stepKeys...)
		}
	}
	l.required(n, seen, "step", "id", "title", "budget", "guide")
	if s.UndoBudget == 0 && len(s.Undo) > 0 {
		s.UndoBudget = max(s.Budget/3, time.Minute)
	}
	return s, idN, true
}

func (l *loader) actions(n ast.Node, list string) []Action {
	var out []Action
	for _, an := range l.sequence(n, list) {
		if a, ok := l.action(an, list); ok {
			out = append(out, a)
		}
	}
	return out
}

// action decodes `- TYPE: {params}` with an optional `name:` beside it.
func (l *loader) action(n ast.Node, list string) (Action, bool) {
	a := Action{Pos: l.pos(n)}
	fields, ok := l.mapping(n, "an action in "+list)
	if !ok {
		return a, false
	}
	var typeF *field
	for i, f := range fields {
		if f.key == "name" {
			a.Name = l.str(f, "action name")
			continue
		}
		if typeF != nil {
			l.errorf(f.keyN, "action has two types, %q and %q: one action per list item", typeF.key, f.key)
			return a, false
		}
		typeF = &fields[i]
	}
	if typeF == nil {
		l.errorf(n, "action in %s names no type (expected one of: %s)", list, strings.Join(sortedTypes(l.opt.Actions), ", "))
		return a, false
	}
	a.Type, a.Pos = typeF.key, l.pos(typeF.keyN)
	params, known := l.opt.Actions.NewParams(a.Type)
	if !known {
		l.errorf(typeF.keyN, "unknown action type %q%s (expected one of: %s)", a.Type, didYouMean(a.Type, l.opt.Actions.Types()), strings.Join(sortedTypes(l.opt.Actions), ", "))
		return a, false
	}
	v := unwrap(typeF.value)
	if v != nil {
		if _, isNull := v.(*ast.NullNode); !isNull {
			if _, isMap := l.mapping(v, "parameters of "+a.Type); !isMap {
				return a, false
			}
			// Aliases are resolved here, where the whole file's anchors
			// are known: the YAML library sees only the parameters.
			rv, err := l.resolveAliases(v, 0)
			if err != nil {
				l.errs = append(l.errs, err.(*Error))
				return a, false
			}
			v = rv
			if !l.checkParams(a.Type, v, reflect.TypeOf(params), "") {
				return a, false
			}
			if err := yaml.NodeToValue(v, params, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
				e := l.yamlErr(err)
				e.Msg = a.Type + ": " + e.Msg
				l.errs = append(l.errs, e)
				return a, false
			}
		}
	}
	if val, ok := params.(Validator); ok {
		if err := val.Validate(); err != nil {
			l.errorf(typeF.keyN, "%s: %v", a.Type, err)
			return a, false
		}
	}
	a.Params = params
	l.acts = append(l.acts, actionAt{typ: a.Type, params: params, node: v, typeN: typeF.keyN})
	return a, true
}

func sortedTypes(t ActionTypes) []string {
	ts := append([]string(nil), t.Types()...)
	sort.Strings(ts)
	return ts
}

func (l *loader) checkGuides(rb *Runbook) {
	anchors := map[string]map[string]bool{}
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			g := s.Guide
			if g.File == "" || !strings.HasSuffix(g.File, ".md") {
				continue // missing or malformed: reported where it was read
			}
			set, ok := anchors[g.File]
			if !ok {
				src, err := fs.ReadFile(rb.Guides, g.File)
				if err != nil {
					l.errs = append(l.errs, &Error{Pos: g.Pos, Msg: fmt.Sprintf("guide file %q not found", g.File)})
					anchors[g.File] = nil
					continue
				}
				set = map[string]bool{}
				for _, h := range Headings(src) {
					set[h.Anchor] = true
				}
				anchors[g.File] = set
			}
			if set == nil || g.Anchor == "" {
				continue
			}
			if !set[g.Anchor] {
				l.errs = append(l.errs, &Error{Pos: g.Pos, Msg: fmt.Sprintf("guide %s has no heading with anchor %q", g.File, g.Anchor)})
			}
		}
	}
}

// score reads
//
//	score:
//	  title: Security score
//	  target: 95
//	  areas:
//	    api: {title: API security, weight: 40, baseline: 100}
func (l *loader) score(n ast.Node, rb *Runbook) {
	fields, ok := l.mapping(n, "score")
	if !ok {
		return
	}
	sm := &ScoreModel{Pos: l.pos(n), Title: "Score"}
	seen := map[string]bool{}
	for _, f := range fields {
		seen[f.key] = true
		switch f.key {
		case "title":
			sm.Title = l.str(f, "score title")
		case "target":
			sm.Target = l.percent(f, "score target")
		case "areas":
			var a *ScoreArea
			l.named(f.value, "score area", []string{"weight", "baseline"}, func(name field) {
				sm.Areas = append(sm.Areas, ScoreArea{ID: name.key, Title: name.key})
				a = &sm.Areas[len(sm.Areas)-1]
			}, func(x field) {
				switch x.key {
				case "title":
					a.Title = l.str(x, "area title")
				case "weight":
					a.Weight = l.integer(x, "area weight")
				case "baseline":
					a.Baseline = l.percent(x, "area baseline")
				default:
					l.unknown(x, "score area", "title", "weight", "baseline")
				}
			})
			if len(sm.Areas) == 0 {
				l.errorf(f.value, "score needs at least one area")
			}
		default:
			l.unknown(f, "score", "title", "target", "areas")
		}
	}
	l.required(n, seen, "score", "areas")
	rb.Score = sm
}

func (l *loader) percent(f field, what string) int {
	v := l.integer(f, what)
	if v > 100 {
		l.errorf(f.value, "%s must be between 0 and 100", what)
	}
	return v
}

// raises reads `raises: {transport: 100}`; areas are checked once the
// whole runbook is read.
func (l *loader) raises(f field) map[string]int {
	fields, _ := l.mapping(f.value, "raises")
	out := map[string]int{}
	for _, x := range fields {
		out[x.key] = l.percent(x, "raises "+x.key)
		l.raisesAt = append(l.raisesAt, raiseRef{area: x.key, n: x.keyN})
	}
	return out
}

type raiseRef struct {
	area string
	n    ast.Node
}

func (l *loader) checkRaises(rb *Runbook) {
	for _, r := range l.raisesAt {
		known := false
		var ids []string
		if rb.Score != nil {
			for _, a := range rb.Score.Areas {
				known = known || a.ID == r.area
				ids = append(ids, a.ID)
			}
		}
		switch {
		case rb.Score == nil:
			l.errorf(r.n, "raises %q, but the runbook defines no score", r.area)
		case !known:
			l.errorf(r.n, "raises unknown score area %q%s (the score has: %s)", r.area, didYouMean(r.area, ids), strings.Join(ids, ", "))
		}
	}
}
