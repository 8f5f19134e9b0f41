package runbooks

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// The checks here need the whole runbook: the schedule as a whole, and the
// references of actions to targets and steps (a target may be defined after
// the phases that use it).

// checkSchedule refuses phases out of order or overlapping, a start after
// the first slot, and budgets that do not fit their slot (unless the phase
// says `overrun: allowed`).
func (l *loader) checkSchedule(rb *Runbook) {
	var prev *Phase
	nErrs := len(l.errs)
	for i := range rb.Phases {
		p := &rb.Phases[i]
		if p.SlotStart.IsZero() {
			continue
		}
		if prev != nil {
			switch {
			case p.SlotStart.Before(prev.SlotStart):
				l.errs = append(l.errs, &Error{Pos: l.slotPos[i], Msg: fmt.Sprintf("phase %q (%s) starts before phase %q (%s), which is listed before it: list phases in the order they run", p.ID, slotText(p), prev.ID, slotText(prev))})
			case p.SlotStart.Before(prev.SlotEnd):
				l.errs = append(l.errs, &Error{Pos: l.slotPos[i], Msg: fmt.Sprintf("phase %q (%s) overlaps phase %q (%s): a slot starts at or after the previous one ends", p.ID, slotText(p), prev.ID, slotText(prev))})
			}
		}
		prev = p
	}
	if len(rb.Phases) == 0 || rb.Phases[0].SlotStart.IsZero() {
		return
	}
	first := rb.Phases[0]
	if l.startPos.Line > 0 && rb.Schedule.Start.After(first.SlotStart) {
		l.errs = append(l.errs, &Error{Pos: l.startPos, Msg: fmt.Sprintf("start %s is after the first phase's slot begins (%s at %s): the window starts at or before its first slot", rb.Schedule.Start.Format("15:04"), first.ID, first.SlotStart.Format("15:04"))})
	}
	for i := range rb.Phases {
		if rb.Phases[i].SlotStart.IsZero() {
			return // a slot could not be read; its error says so
		}
	}
	if len(l.errs) > nErrs {
		return // out of order: the plan below would only repeat it
	}
	// A phase pushed late by an earlier one is reported only when the
	// earlier one may run late: otherwise the earlier one's error says it.
	lateReported := false
	for i, pp := range rb.Plan() {
		p := pp.Phase
		if p.OverrunAllowed {
			continue
		}
		slot := p.Slot()
		long := false
		for _, s := range p.Steps {
			if s.Budget > slot {
				long = true
				l.errs = append(l.errs, &Error{Pos: l.budgetAt[s.ID], Msg: fmt.Sprintf("budget %s is longer than phase %q's whole slot (%s, %s): shorten it, move the step, or let the phase run late with `overrun: allowed`", durText(s.Budget), p.ID, durText(slot), slotText(p))})
			}
		}
		if long {
			lateReported = true
			continue
		}
		if pp.Overrun <= 0 {
			continue
		}
		why := fmt.Sprintf("its steps' budgets add up to %s, %s more than its slot (%s)", durText(p.Budget()), durText(p.Budget()-slot), durText(slot))
		if p.Budget() <= slot {
			if lateReported {
				continue
			}
			why = fmt.Sprintf("the phases before it end late, so its steps start at %s", pp.Start.Format("15:04"))
		}
		lateReported = true
		l.errs = append(l.errs, &Error{Pos: l.slotPos[i], Msg: fmt.Sprintf("phase %q is planned to end at %s, %s past its slot (%s): %s; shorten the budgets, widen the slot, or say the phase may run late with `overrun: allowed`", p.ID, pp.End.Format("15:04"), durText(pp.Overrun), slotText(p), why)})
	}
}

func slotText(p *Phase) string {
	return p.SlotStart.Format("15:04") + "-" + p.SlotEnd.Format("15:04")
}

// durText is 3h, 20m, 1h30m, 45s: what an author writes.
func durText(d time.Duration) string {
	if d%time.Second != 0 || d <= 0 {
		return d.String()
	}
	h, m, sec := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// checkTargetDefaults checks a target's default against its kind, so a
// typo in a default is found by validate and not when a step connects.
func (l *loader) checkTargetDefault(t Target, n ast.Node) {
	if t.Default == "" || strings.Contains(t.Default, "${") {
		return
	}
	bad := ""
	switch t.Kind {
	case TargetURL:
		u, err := url.Parse(t.Default)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad = "a url target's value is an http:// or https:// URL with a host"
		}
	case TargetPostgres:
		if strings.HasPrefix(t.Default, "postgres://") || strings.HasPrefix(t.Default, "postgresql://") {
			if u, err := url.Parse(t.Default); err != nil || u.Host == "" && u.Query().Get("host") == "" {
				bad = "a postgres target's value is a URL (postgres://USER@HOST:5432/DB) or key=value pairs"
			}
		} else if !strings.Contains(t.Default, "=") {
			bad = "a postgres target's value is a URL (postgres://USER@HOST:5432/DB) or key=value pairs"
		}
	case TargetDocker:
		u, err := url.Parse(t.Default)
		if err != nil || !contains([]string{"unix", "tcp", "ssh", "npipe", "http", "https"}, u.Scheme) {
			bad = "a docker target's value is an engine address such as unix:///var/run/docker.sock or tcp://HOST:2376"
		}
	case TargetDir:
		if strings.TrimSpace(t.Default) != t.Default {
			bad = "a dir target's value is a path without surrounding spaces"
		}
	}
	if bad != "" {
		l.errorf(n, "default %q does not fit target %s's kind: %s", t.Default, t.Name, bad)
	}
}

// actionAt is an action read from the file, kept for the checks that need
// the whole runbook.
type actionAt struct {
	typ    string
	params any
	node   ast.Node // the parameters' mapping (nil when none were given)
	typeN  ast.Node // the action's type key
}

// checkRefs checks every action's references: the targets it acts on (that
// they exist and are of a kind it accepts), ${target.NAME} placeholders
// (closed, naming a target, and in a parameter the action expands), and
// the steps it names.
func (l *loader) checkRefs(rb *Runbook) {
	names := make([]string, 0, len(rb.Targets))
	for _, t := range rb.Targets {
		names = append(names, t.Name)
	}
	var stepIDs []string
	for _, s := range rb.Steps() {
		stepIDs = append(stepIDs, s.ID)
	}
	defined := func() string {
		if len(names) == 0 {
			return "this runbook defines no targets"
		}
		return "this runbook defines: " + strings.Join(names, ", ")
	}
	for _, a := range l.acts {
		if tu, ok := a.params.(TargetUser); ok {
			for _, u := range tu.TargetUses() {
				at := l.paramNode(a, u.Key)
				t, found := rb.Target(u.Name)
				switch {
				case !found && u.Key == "" && u.Optional:
					// The family's default target, left undefined: the
					// family's documented fallback applies (DOCKER_HOST,
					// the PG* variables).
				case !found && u.Key == "":
					l.errorf(at, "%s acts on target %q when it names none, and %s: define %s under targets or name one with target:", a.typ, u.Name, defined(), u.Name)
				case !found:
					l.errorf(at, "unknown target %q (%s)%s", u.Name, defined(), didYouMean(u.Name, names))
				case len(u.Kinds) > 0 && !kindIn(t.Kind, u.Kinds):
					l.errorf(at, "%s needs a %s target, and %s is a %s target (defined at %s)", a.typ, kindsText(u.Kinds), t.Name, t.Kind, t.Pos)
				}
			}
		}
		if su, ok := a.params.(StepUser); ok {
			for _, u := range su.StepUses() {
				if _, _, found := rb.StepRef(u.ID); !found {
					l.errorf(l.paramNode(a, u.Key), "%s names step %q, which this runbook does not have%s", a.typ, u.ID, didYouMean(u.ID, stepIDs))
				}
			}
		}
		var expanded []string
		if ex, ok := a.params.(Expander); ok {
			expanded = ex.ExpandedKeys()
		}
		l.checkPlaceholders(a, a.node, nil, expanded, names)
	}
}

func kindIn(k TargetKind, ks []TargetKind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func kindsText(ks []TargetKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, " or ")
}

// paramNode finds the value of a dotted key ("target", "baseline.target")
// in an action's parameters; the action's type key when it is not there.
func (l *loader) paramNode(a actionAt, key string) ast.Node {
	n := a.node
	for _, k := range strings.Split(key, ".") {
		if key == "" || n == nil {
			return a.typeN
		}
		var next ast.Node
		if m, ok := unwrap(n).(*ast.MappingNode); ok {
			for _, mv := range m.Values {
				if ks, _ := scalar(mv.Key); ks == k {
					next = mv.Value
				}
			}
		} else if mv, ok := unwrap(n).(*ast.MappingValueNode); ok {
			if ks, _ := scalar(mv.Key); ks == k {
				next = mv.Value
			}
		}
		n = next
	}
	if n == nil {
		return a.typeN
	}
	return n
}

var placeholderRE = regexp.MustCompile(`\$\{target\.([^}]*)\}`)

// checkPlaceholders walks an action's parameters: every ${target.NAME}
// must be closed, name a target, and stand in a parameter the action
// expands (expanded lists dotted keys; a key covers what is below it).
func (l *loader) checkPlaceholders(a actionAt, n ast.Node, path []string, expanded, targets []string) {
	switch v := unwrap(n).(type) {
	case *ast.MappingNode:
		for _, mv := range v.Values {
			l.checkPlaceholders(a, mv, path, expanded, targets)
		}
	case *ast.MappingValueNode:
		k, _ := scalar(v.Key)
		if strings.Contains(k, "${target.") {
			l.errorf(v.Key, "%s: ${target.…} is not expanded in a key: it would be used as written", a.typ)
		}
		l.checkPlaceholders(a, v.Value, append(path[:len(path):len(path)], k), expanded, targets)
	case *ast.SequenceNode:
		for _, x := range v.Values {
			l.checkPlaceholders(a, x, path, expanded, targets)
		}
	case *ast.StringNode, *ast.LiteralNode:
		s, _ := scalar(v)
		if !strings.Contains(s, "${target.") {
			return
		}
		key := strings.Join(path, ".")
		if !keyCovered(key, expanded) {
			l.errorf(v, "%s does not expand ${target.…} in %s: the text would be used as written; %s", a.typ, key, expandHint(expanded))
			return
		}
		rest := s
		for {
			i := strings.Index(rest, "${target.")
			if i < 0 {
				break
			}
			rest = rest[i:]
			m := placeholderRE.FindStringSubmatch(rest)
			if m == nil {
				l.errorf(v, "unclosed %s in %s: write ${target.NAME}", firstWord(rest), key)
				return
			}
			if _, ok := indexOf(targets, m[1]); !ok {
				l.errorf(v, "%s names unknown target %q (%s)%s", m[0], m[1], definedText(targets), didYouMean(m[1], targets))
			}
			rest = rest[len(m[0]):]
		}
	}
}

func definedText(names []string) string {
	if len(names) == 0 {
		return "this runbook defines no targets"
	}
	return "this runbook defines: " + strings.Join(names, ", ")
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t\n\"'"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func indexOf(list []string, s string) (int, bool) {
	for i, x := range list {
		if x == s {
			return i, true
		}
	}
	return -1, false
}

func keyCovered(key string, expanded []string) bool {
	for _, e := range expanded {
		if key == e || strings.HasPrefix(key, e+".") {
			return true
		}
	}
	return false
}

func expandHint(expanded []string) string {
	if len(expanded) == 0 {
		return "this action expands ${target.…} nowhere"
	}
	e := append([]string(nil), expanded...)
	sort.Strings(e)
	return "it expands them in: " + strings.Join(e, ", ")
}

// checkParams checks an action's parameters against the Go type they
// decode into, before the YAML library does, so the errors an author sees
// say what is wrong and where: unknown keys (with the nearest known one),
// numbers where whole numbers belong, numbers out of range.
func (l *loader) checkParams(typ string, n ast.Node, t reflect.Type, key string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(nodeUnmarshaler) || t.Implements(nodeUnmarshaler) {
		return true // the type reads its own YAML
	}
	n = unwrap(n)
	ok := true
	switch t.Kind() {
	case reflect.Struct:
		fields := yamlFields(t)
		var vals []*ast.MappingValueNode
		switch m := n.(type) {
		case *ast.MappingNode:
			vals = m.Values
		case *ast.MappingValueNode:
			vals = []*ast.MappingValueNode{m}
		default:
			return true // the decoder names the wrong type
		}
		for _, mv := range vals {
			k, isStr := scalar(mv.Key)
			if !isStr {
				continue
			}
			ft, known := fields[k]
			if !known {
				if _, merge := unwrap(mv.Key).(*ast.MergeKeyNode); merge {
					continue
				}
				names := make([]string, 0, len(fields))
				for f := range fields {
					names = append(names, f)
				}
				sort.Strings(names)
				l.errorf(mv.Key, "%s: unknown field %q%s (expected one of: %s)", typ, k, didYouMean(k, names), strings.Join(names, ", "))
				ok = false
				continue
			}
			ok = l.checkParams(typ, mv.Value, ft, joinKey(key, k)) && ok
		}
	case reflect.Map:
		switch m := n.(type) {
		case *ast.MappingNode:
			for _, mv := range m.Values {
				k, _ := scalar(mv.Key)
				ok = l.checkParams(typ, mv.Value, t.Elem(), joinKey(key, k)) && ok
			}
		case *ast.MappingValueNode:
			k, _ := scalar(m.Key)
			ok = l.checkParams(typ, m.Value, t.Elem(), joinKey(key, k))
		}
	case reflect.Slice, reflect.Array:
		if s, isSeq := n.(*ast.SequenceNode); isSeq {
			for _, x := range s.Values {
				ok = l.checkParams(typ, x, t.Elem(), key) && ok
			}
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return l.checkWhole(typ, n, key, int64(math.MinInt64)>>(64-t.Bits()), uint64(math.MaxInt64)>>(64-t.Bits()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return l.checkWhole(typ, n, key, 0, uint64(math.MaxUint64)>>(64-t.Bits()))
	case reflect.Interface:
		return l.checkNumber(typ, n, key)
	}
	return ok
}

var nodeUnmarshaler = reflect.TypeOf((*yaml.NodeUnmarshaler)(nil)).Elem()

func joinKey(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// yamlFields maps the YAML keys of a struct (inline structs flattened) to
// their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

var (
	plainIntRE   = regexp.MustCompile(`^[-+]?[0-9]+$`)
	plainFloatRE = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
)

// checkWhole checks a value that decodes into a whole number.
func (l *loader) checkWhole(typ string, n ast.Node, key string, lo int64, hi uint64) bool {
	switch v := n.(type) {
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			if x >= lo && (x < 0 || uint64(x) <= hi) {
				return true
			}
		case uint64:
			if x <= hi {
				return true
			}
		}
		l.errorf(n, "%s: %s %s is out of range (%d to %d)", typ, key, v.GetToken().Value, lo, hi)
		return false
	case *ast.FloatNode:
		l.errorf(n, "%s: %s must be a whole number, found %s", typ, key, v.GetToken().Value)
		return false
	case *ast.StringNode:
		if v.GetToken() == nil || v.GetToken().Type != token.StringType {
			return true // quoted: the decoder says it is a string
		}
		switch {
		case plainIntRE.MatchString(v.Value):
			l.errorf(n, "%s: %s %s is out of range (%d to %d)", typ, key, v.Value, lo, hi)
			return false
		case plainFloatRE.MatchString(v.Value):
			l.errorf(n, "%s: %s must be a whole number, found %s", typ, key, v.Value)
			return false
		}
	}
	return true
}

// checkNumber checks a value of any type: a number too large for 64 bits
// would silently become text.
func (l *loader) checkNumber(typ string, n ast.Node, key string) bool {
	switch v := n.(type) {
	case *ast.IntegerNode:
		if x, ok := v.Value.(uint64); ok && x > math.MaxInt64 {
			l.errorf(n, "%s: %s %s is out of range (at most %d); quote it if it is text", typ, key, v.GetToken().Value, int64(math.MaxInt64))
			return false
		}
	case *ast.StringNode:
		if v.GetToken() != nil && v.GetToken().Type == token.StringType && plainIntRE.MatchString(v.Value) {
			if _, err := strconv.ParseInt(v.Value, 10, 64); err != nil {
				l.errorf(n, "%s: %s %s is out of range (at most %d); quote it if it is text", typ, key, v.Value, int64(math.MaxInt64))
				return false
			}
		}
	case *ast.SequenceNode:
		ok := true
		for _, x := range v.Values {
			ok = l.checkNumber(typ, unwrap(x), key) && ok
		}
		return ok
	case *ast.MappingNode:
		ok := true
		for _, mv := range v.Values {
			k, _ := scalar(mv.Key)
			ok = l.checkNumber(typ, unwrap(mv.Value), joinKey(key, k)) && ok
		}
		return ok
	}
	return true
}
