package docker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// This file edits YAML text the way a careful person would: it applies a
// merge patch (RFC 7386 semantics: mappings merge key by key, null deletes
// a key, anything else replaces) by rewriting only the lines of the entries
// the patch touches. Every other byte of the file — comments, blank lines,
// quoting, key order — is left as it was. Compose's list form of
// environment and labels ("- KEY=value") is edited key by key when the
// patch gives a mapping for it.
//
// After editing, the result is parsed again and compared with the patch
// applied to the parsed original; any difference is an error, so a layout
// this editor does not understand can never produce a wrong file silently.

// mergeEdit returns src with patch applied.
func mergeEdit(src []byte, patch yaml.MapSlice) ([]byte, error) {
	crlf := bytes.Contains(src, []byte("\r\n"))
	if crlf {
		src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	}
	d, err := newYAMLDoc(src)
	if err != nil {
		return nil, err
	}
	var old any
	if err := yaml.UnmarshalWithOptions(src, &old, yaml.UseOrderedMap()); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if old == nil {
		old = yaml.MapSlice{}
	}
	if _, ok := old.(yaml.MapSlice); !ok {
		return nil, errors.New("the file's top level is not a mapping")
	}
	want, err := mergeValue(old, patch)
	if err != nil {
		return nil, err
	}
	if d.root == nil {
		d.insertAtEnd(patch)
	} else if err := d.editMapping(d.root, old.(yaml.MapSlice), patch); err != nil {
		return nil, err
	}
	out := d.apply()
	var got any
	if err := yaml.UnmarshalWithOptions(out, &got, yaml.UseOrderedMap()); err != nil {
		return nil, fmt.Errorf("the edited file does not parse (%v): this layout is beyond the structural editor; edit the file by hand", err)
	}
	if got == nil {
		got = yaml.MapSlice{}
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		return nil, errors.New("the edited file does not hold what the patch asks for (anchors, aliases or an unusual layout?): edit the file by hand")
	}
	if crlf {
		out = bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))
	}
	return out, nil
}

// yamlDoc is the text of a YAML file as lines, with what the editor needs
// to know about it, and the edits collected so far.
type yamlDoc struct {
	lines     []string // without their "\n"
	finalNL   bool
	root      *blockMap
	comments  map[int]int // line -> column of a comment starting there
	unit      int         // indentation step of nested mappings
	indentSeq bool        // whether "- " items sit deeper than their key
	edits     []lineEdit
}

// lineEdit replaces lines [from, to] (1-based, inclusive) with repl; an
// insertion before line from has to == from-1.
type lineEdit struct {
	from, to int
	repl     []string
}

// blockMap is a block-style mapping: its entries, all at one column.
type blockMap struct {
	col     int
	entries []*ast.MappingValueNode
}

func newYAMLDoc(src []byte) (*yamlDoc, error) {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(f.Docs) > 1 {
		return nil, errors.New("the file holds several YAML documents; a compose file has one")
	}
	text := string(src)
	d := &yamlDoc{
		finalNL:   strings.HasSuffix(text, "\n"),
		comments:  map[int]int{},
		unit:      2,
		indentSeq: true,
	}
	d.lines = strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" {
		d.lines = nil
	}
	for _, tk := range lexer.Tokenize(text) {
		if tk.Type == token.CommentType && tk.Position != nil {
			if _, seen := d.comments[tk.Position.Line]; !seen {
				d.comments[tk.Position.Line] = tk.Position.Column
			}
		}
	}
	if len(f.Docs) == 1 && f.Docs[0] != nil && f.Docs[0].Body != nil {
		body := f.Docs[0].Body
		if _, isNull := body.(*ast.NullNode); !isNull {
			bm := asBlockMap(body)
			if bm == nil {
				return nil, errors.New("the file's top level is not a block mapping")
			}
			d.root = bm
		}
	}
	d.learnStyle()
	return d, nil
}

// asBlockMap returns n as a block mapping, or nil when it is anything else
// (a flow mapping, a scalar, a sequence, an anchored or tagged node).
func asBlockMap(n ast.Node) *blockMap {
	switch v := n.(type) {
	case *ast.MappingNode:
		if v.IsFlowStyle || len(v.Values) == 0 {
			return nil
		}
		return &blockMap{col: v.Values[0].Key.GetToken().Position.Column, entries: v.Values}
	case *ast.MappingValueNode:
		if v.IsFlowStyle {
			return nil
		}
		return &blockMap{col: v.Key.GetToken().Position.Column, entries: []*ast.MappingValueNode{v}}
	}
	return nil
}

// learnStyle reads the file's indentation habits from its first nested
// mapping and its first sequence under a key.
func (d *yamlDoc) learnStyle() {
	if d.root == nil {
		return
	}
	unitSeen, seqSeen := false, false
	var walk func(bm *blockMap)
	walk = func(bm *blockMap) {
		for _, e := range bm.entries {
			if unitSeen && seqSeen {
				return
			}
			if child := asBlockMap(e.Value); child != nil && child.col > bm.col {
				if !unitSeen {
					d.unit, unitSeen = child.col-bm.col, true
				}
				walk(child)
			}
			if s, ok := e.Value.(*ast.SequenceNode); ok && !s.IsFlowStyle && !seqSeen {
				d.indentSeq, seqSeen = s.GetToken().Position.Column > bm.col, true
			}
		}
	}
	walk(d.root)
}

func keyString(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	return k.GetToken().Value
}

func (d *yamlDoc) line(n int) string { return d.lines[n-1] }

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// blankOrComment reports whether line n holds nothing or only a comment
// (as the lexer sees it: a "#" inside a block scalar is text).
func (d *yamlDoc) blankOrComment(n int) bool {
	l := d.line(n)
	if strings.TrimSpace(l) == "" {
		return true
	}
	c, ok := d.comments[n]
	return ok && c == indentOf(l)+1
}

func lookup(m yaml.MapSlice, k string) any {
	for _, it := range m {
		if fmt.Sprint(it.Key) == k {
			return it.Value
		}
	}
	return nil
}

// extent is the last line of the node that starts on line start at column
// col: every following line indented deeper belongs to it (and, when
// dashItems, "- " items at the same column: a sequence under a key may sit
// at the key's column). Trailing blank and comment lines do not.
func (d *yamlDoc) extent(start, col int, dashItems bool) int {
	end := start
	for j := start + 1; j <= len(d.lines); j++ {
		if d.blankOrComment(j) {
			continue
		}
		l := d.line(j)
		ind := indentOf(l)
		rest := strings.TrimLeft(l, " ")
		if ind > col-1 || dashItems && ind == col-1 && (rest == "-" || strings.HasPrefix(rest, "- ")) {
			end = j
			continue
		}
		break
	}
	return end
}

func (d *yamlDoc) entryExtent(e *ast.MappingValueNode, col int) (int, int) {
	start := e.Key.GetToken().Position.Line
	dash := false
	if s, ok := e.Value.(*ast.SequenceNode); ok && !s.IsFlowStyle && s.GetToken().Position.Column == col {
		dash = true
	}
	return start, d.extent(start, col, dash)
}

// editMapping applies patch to the entries of a block mapping; old is the
// mapping's parsed value (aliases and merge keys resolved).
func (d *yamlDoc) editMapping(bm *blockMap, old yaml.MapSlice, patch yaml.MapSlice) error {
	var added yaml.MapSlice
	for _, it := range patch {
		k := fmt.Sprint(it.Key)
		var e *ast.MappingValueNode
		for _, x := range bm.entries {
			if keyString(x.Key) == k {
				e = x
			}
		}
		if e == nil {
			if it.Value != nil {
				added = append(added, it)
			}
			continue
		}
		if err := d.editEntry(e, bm.col, lookup(old, k), it.Value); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	if len(added) == 0 {
		return nil
	}
	last := bm.entries[len(bm.entries)-1]
	_, end := d.entryExtent(last, bm.col)
	// Where the file parts the entries of this mapping with a blank line,
	// new entries get one too.
	spaced := false
	if len(bm.entries) > 1 {
		if l := last.Key.GetToken().Position.Line; l > 1 && strings.TrimSpace(d.line(l-1)) == "" {
			spaced = true
		}
	}
	var repl []string
	for _, it := range added {
		v, err := mergeValue(nil, it.Value)
		if err != nil {
			return err
		}
		if spaced {
			repl = append(repl, "")
		}
		repl = append(repl, d.renderEntry(fmt.Sprint(it.Key), v, bm.col-1)...)
	}
	d.edits = append(d.edits, lineEdit{from: end + 1, to: end, repl: repl})
	return nil
}

func (d *yamlDoc) insertAtEnd(patch yaml.MapSlice) {
	var repl []string
	for _, it := range patch {
		if it.Value == nil {
			continue
		}
		v, _ := mergeValue(nil, it.Value)
		repl = append(repl, d.renderEntry(fmt.Sprint(it.Key), v, 0)...)
	}
	n := len(d.lines)
	d.edits = append(d.edits, lineEdit{from: n + 1, to: n, repl: repl})
}

// editEntry applies one patch value to one existing entry whose parsed
// value is old.
func (d *yamlDoc) editEntry(e *ast.MappingValueNode, col int, old, pv any) error {
	start, end := d.entryExtent(e, col)
	if pv == nil {
		d.edits = append(d.edits, lineEdit{from: start, to: end})
		return nil
	}
	merged, err := mergeValue(old, pv)
	if err != nil {
		return err
	}
	if pm, ok := pv.(yaml.MapSlice); ok && !isEmpty(merged) {
		if child := asBlockMap(e.Value); child != nil && child.col > col {
			om, _ := old.(yaml.MapSlice)
			return d.editMapping(child, om, pm)
		}
		if s, ok := e.Value.(*ast.SequenceNode); ok && !s.IsFlowStyle && isKVList(old) && s.GetToken().Position.Line > start {
			return d.editKVList(s, pm)
		}
	}
	// Replace the whole value, keeping the key as written and a comment on
	// the key's line.
	keyLine := d.line(start)
	colon := e.Start.Position.Column
	prefix := string([]rune(keyLine)[:colon])
	comment := ""
	if cc, ok := d.comments[start]; ok && cc > colon {
		r := []rune(keyLine)
		gapStart := cc - 1
		for gapStart > colon && r[gapStart-1] == ' ' {
			gapStart--
		}
		comment = string(r[gapStart:])
	}
	childIndent := col - 1 + d.unit
	if _, isSeq := merged.([]any); isSeq && !d.indentSeq {
		childIndent = col - 1
	}
	if oldChild := d.blockColumn(e.Value, start); oldChild > 0 {
		childIndent = oldChild - 1
	}
	var repl []string
	if isScalarish(merged) {
		repl = []string{prefix + " " + renderScalar(merged) + comment}
	} else {
		repl = append([]string{prefix + comment}, renderBlock(merged, childIndent, d.unit, d.indentSeq)...)
	}
	d.edits = append(d.edits, lineEdit{from: start, to: end, repl: repl})
	return nil
}

// blockColumn is the column where a block collection value starts, when it
// starts on a line after its key's, else 0.
func (d *yamlDoc) blockColumn(v ast.Node, keyLine int) int {
	switch n := v.(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		if bm := asBlockMap(n); bm != nil && n.GetToken().Position.Line > keyLine {
			return bm.col
		}
		if s, ok := n.(*ast.SequenceNode); ok && !s.IsFlowStyle && s.GetToken().Position.Line > keyLine {
			return s.GetToken().Position.Column
		}
	}
	return 0
}

// editKVList edits a "- KEY=value" list key by key.
func (d *yamlDoc) editKVList(s *ast.SequenceNode, patch yaml.MapSlice) error {
	type item struct {
		key        string
		start, end int
		valueCol   int
		dashCol    int
	}
	var items []item
	for _, v := range s.Values {
		var x any
		if err := yaml.NodeToValue(v, &x); err != nil {
			return err
		}
		str, _ := x.(string)
		k, _, _ := strings.Cut(str, "=")
		p := v.GetToken().Position
		dash := strings.LastIndex(string([]rune(d.line(p.Line))[:p.Column-1]), "-") + 1
		if dash <= 0 {
			return errors.New("list item layout not understood")
		}
		items = append(items, item{key: k, start: p.Line, end: d.extent(p.Line, dash, false), valueCol: p.Column, dashCol: dash})
	}
	var added []string
	for _, it := range patch {
		k := fmt.Sprint(it.Key)
		idx := -1
		for i, x := range items {
			if x.key == k {
				idx = i
			}
		}
		if it.Value == nil {
			if idx >= 0 {
				d.edits = append(d.edits, lineEdit{from: items[idx].start, to: items[idx].end})
			}
			continue
		}
		sv, err := scalarString(it.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		text := renderScalar(k + "=" + sv)
		if idx < 0 {
			added = append(added, text)
			continue
		}
		x := items[idx]
		l := []rune(d.line(x.start))
		repl := string(l[:x.valueCol-1]) + text
		if cc, ok := d.comments[x.start]; ok && cc > x.valueCol {
			g := cc - 1
			for g > x.valueCol && l[g-1] == ' ' {
				g--
			}
			repl += string(l[g:])
		}
		d.edits = append(d.edits, lineEdit{from: x.start, to: x.end, repl: []string{repl}})
	}
	if len(added) > 0 {
		last := items[len(items)-1]
		lead := string([]rune(d.line(last.start))[:last.valueCol-1])
		lead = strings.Repeat(" ", last.dashCol-1) + strings.TrimLeft(lead, " ")
		var repl []string
		for _, a := range added {
			repl = append(repl, lead+a)
		}
		d.edits = append(d.edits, lineEdit{from: last.end + 1, to: last.end, repl: repl})
	}
	return nil
}

// apply returns the text with every collected edit made. Edits never
// overlap: each belongs to a different entry.
func (d *yamlDoc) apply() []byte {
	eds := append([]lineEdit(nil), d.edits...)
	// Bottom-up, so earlier line numbers stay valid; at one place,
	// insertions go after replacements of the line before.
	sort.SliceStable(eds, func(i, j int) bool {
		if eds[i].from != eds[j].from {
			return eds[i].from > eds[j].from
		}
		return eds[i].to > eds[j].to
	})
	lines := append([]string(nil), d.lines...)
	for _, e := range eds {
		tail := append([]string(nil), lines[e.to:]...)
		lines = append(append(lines[:e.from-1], e.repl...), tail...)
	}
	out := strings.Join(lines, "\n")
	if d.finalNL || len(d.lines) == 0 {
		out += "\n"
	}
	return []byte(out)
}

func (d *yamlDoc) renderEntry(key string, v any, indent int) []string {
	pad := strings.Repeat(" ", indent)
	if isScalarish(v) {
		return []string{pad + renderKey(key) + ": " + renderScalar(v)}
	}
	child := indent + d.unit
	if _, isSeq := v.([]any); isSeq && !d.indentSeq {
		child = indent
	}
	return append([]string{pad + renderKey(key) + ":"}, renderBlock(v, child, d.unit, d.indentSeq)...)
}

// renderBlock renders a non-empty mapping or sequence in block style at the
// given indentation.
func renderBlock(v any, indent, unit int, indentSeq bool) []string {
	pad := strings.Repeat(" ", indent)
	var out []string
	switch x := v.(type) {
	case yaml.MapSlice:
		for _, it := range x {
			k := renderKey(fmt.Sprint(it.Key))
			if isScalarish(it.Value) {
				out = append(out, pad+k+": "+renderScalar(it.Value))
				continue
			}
			child := indent + unit
			if _, isSeq := it.Value.([]any); isSeq && !indentSeq {
				child = indent
			}
			out = append(out, pad+k+":")
			out = append(out, renderBlock(it.Value, child, unit, indentSeq)...)
		}
	case []any:
		for _, it := range x {
			if isScalarish(it) {
				out = append(out, pad+"- "+renderScalar(it))
				continue
			}
			sub := renderBlock(it, indent+2, unit, indentSeq)
			sub[0] = pad + "- " + strings.TrimLeft(sub[0], " ")
			out = append(out, sub...)
		}
	}
	return out
}

func isScalarish(v any) bool {
	switch x := v.(type) {
	case yaml.MapSlice:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return true
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case yaml.MapSlice:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case nil:
		return true
	}
	return false
}

// plainRE is what may stay unquoted in any YAML reader (1.1 and 1.2): no
// number, no ':' (ports such as 80:80 are base-60 numbers to YAML 1.1).
var plainRE = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./@+-]*$`)

var yaml11Words = map[string]bool{
	"y": true, "n": true, "yes": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true,
}

func renderKey(k string) string { return renderString(k) }

func renderString(s string) string {
	if plainRE.MatchString(s) && !yaml11Words[strings.ToLower(s)] {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a JSON string is a YAML double-quoted scalar
	return strings.TrimSuffix(b.String(), "\n")
}

func renderScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return renderString(x)
	case bool:
		return strconv.FormatBool(x)
	case float32:
		return renderFloat(float64(x))
	case float64:
		return renderFloat(x)
	case yaml.MapSlice, map[string]any:
		return "{}"
	case []any:
		return "[]"
	}
	return fmt.Sprint(v) // integers
}

func renderFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	case math.IsNaN(f):
		return ".nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// scalarString is a patch value as the text after "KEY=" in a list item.
func scalarString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case yaml.MapSlice, []any, map[string]any:
		return "", errors.New("a list-form environment entry takes a single value, not a mapping or list")
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	}
	return fmt.Sprint(v), nil
}

// isKVList reports whether v is a compose list of "KEY=value" strings.
func isKVList(v any) bool {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return false
	}
	for _, x := range l {
		s, ok := x.(string)
		if !ok || s == "" || strings.HasPrefix(s, "=") {
			return false
		}
	}
	return true
}

// mergeValue is the merge patch applied to a parsed value.
func mergeValue(old, patch any) (any, error) {
	pm, ok := patch.(yaml.MapSlice)
	if !ok {
		return patch, nil
	}
	switch o := old.(type) {
	case yaml.MapSlice:
		out := append(yaml.MapSlice(nil), o...)
		for _, it := range pm {
			k := fmt.Sprint(it.Key)
			idx := -1
			for i, x := range out {
				if fmt.Sprint(x.Key) == k {
					idx = i
				}
			}
			switch {
			case it.Value == nil && idx >= 0:
				out = append(out[:idx], out[idx+1:]...)
			case it.Value == nil:
			case idx >= 0:
				v, err := mergeValue(out[idx].Value, it.Value)
				if err != nil {
					return nil, err
				}
				out[idx].Value = v
			default:
				v, err := mergeValue(nil, it.Value)
				if err != nil {
					return nil, err
				}
				out = append(out, yaml.MapItem{Key: it.Key, Value: v})
			}
		}
		return out, nil
	case []any:
		if isKVList(o) {
			out := append([]any(nil), o...)
			for _, it := range pm {
				k := fmt.Sprint(it.Key)
				idx := -1
				for i, x := range out {
					if xk, _, _ := strings.Cut(x.(string), "="); xk == k {
						idx = i
					}
				}
				if it.Value == nil {
					if idx >= 0 {
						out = append(out[:idx], out[idx+1:]...)
					}
					continue
				}
				sv, err := scalarString(it.Value)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				if idx >= 0 {
					out[idx] = k + "=" + sv
				} else {
					out = append(out, k+"="+sv)
				}
			}
			return out, nil
		}
	}
	return mergeValue(yaml.MapSlice{}, pm)
}

// normalize turns a parsed value into a form reflect.DeepEqual compares
// by meaning: mappings as key-sorted key/value lists (key order means
// nothing to compose, and merge keys reorder them), every integer as int64.
func normalize(v any) any {
	switch x := v.(type) {
	case yaml.MapSlice:
		m := make(map[string]any, len(x))
		for _, it := range x {
			m[fmt.Sprint(it.Key)] = it.Value
		}
		return normalize(m)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := []any{"\x00map"}
		for _, k := range keys {
			out = append(out, k, normalize(x[k]))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case int:
		return int64(x)
	case int64:
		return x
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return x
	case float32:
		return float64(x)
	}
	return v
}
