package runbooks

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/scanner"
	"github.com/goccy/go-yaml/token"
)

// Limits on what the loader reads. A runbook is a plan a person writes and
// reviews; these are ten times any such plan (the Phase 1 runbook is 47 KiB
// and 4,200 tokens, nested about a dozen deep) and keep validation of the
// largest file allowed under a second and 64 MB of memory (see
// BenchmarkValidate): the YAML library holds every token of a file at once,
// at several hundred bytes each, so 4 MB of dense YAML would take about
// half a gigabyte.
const (
	// MaxSize is the largest runbook file, in bytes, checked before parsing.
	MaxSize = 512 << 10
	// MaxTokens bounds the YAML tokens (scalars, indicators) of a file.
	MaxTokens = 40_000
	// MaxDepth bounds nesting: mappings and lists inside one another.
	MaxDepth = 64
	// MaxAliasNodes bounds the values that aliases inside action parameters
	// may expand to, all aliases of a file together.
	MaxAliasNodes = 10_000
)

// checkEncoding refuses what is not UTF-8 text: a UTF-16/32 byte order mark,
// invalid UTF-8, and control bytes other than tab and line ends. Each
// problem is reported once per line, at most maxEncodingErrors in all.
func (l *loader) checkEncoding(src []byte) bool {
	switch {
	case bytes.HasPrefix(src, []byte{0x00, 0x00, 0xFE, 0xFF}), bytes.HasPrefix(src, []byte{0xFF, 0xFE, 0x00, 0x00}):
		l.errs = append(l.errs, &Error{Pos: Pos{File: l.file, Line: 1, Col: 1}, Msg: "the file is UTF-32 (it starts with a UTF-32 byte order mark): save it as UTF-8"})
		return false
	case bytes.HasPrefix(src, []byte{0xFE, 0xFF}), bytes.HasPrefix(src, []byte{0xFF, 0xFE}):
		l.errs = append(l.errs, &Error{Pos: Pos{File: l.file, Line: 1, Col: 1}, Msg: "the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8"})
		return false
	}
	// Without a byte order mark, UTF-16 text shows itself by a zero byte
	// beside every ASCII character.
	if len(src) >= 4 && (src[0] != 0 && src[1] == 0 && src[2] != 0 && src[3] == 0 || src[0] == 0 && src[1] != 0 && src[2] == 0 && src[3] != 0) {
		l.errs = append(l.errs, &Error{Pos: Pos{File: l.file, Line: 1, Col: 1}, Msg: "the file looks like UTF-16 (a zero byte beside every character): save it as UTF-8"})
		return false
	}
	const maxEncodingErrors = 20
	line, col, lastLine := 1, 1, 0
	n := 0
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		msg := ""
		switch {
		case r == utf8.RuneError && size <= 1:
			msg = fmt.Sprintf("invalid UTF-8 (byte 0x%02X): runbooks are UTF-8 text", src[i])
		case r == '\n':
			line, col = line+1, 1
			i += size
			continue
		case r == '\r' && i+1 < len(src) && src[i+1] == '\n':
		case r == 0:
			msg = "a NUL byte: runbooks are text"
		case controlRune(r) && r != '\t':
			msg = fmt.Sprintf("a control character (%U): write it as an escape in a double-quoted string if it is meant, or remove it", r)
		}
		if msg != "" && line != lastLine {
			l.errs = append(l.errs, &Error{Pos: Pos{File: l.file, Line: line, Col: col}, Msg: msg})
			lastLine = line
			if n++; n == maxEncodingErrors {
				return false
			}
		}
		i += size
		col++
	}
	return n == 0
}

// controlRune reports runes that can move a terminal's cursor, change what
// it shows or hide text: C0 and C1 controls, DEL, and the bidirectional
// overrides and isolates.
func controlRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// knownTags are the YAML core tags; any other tag (!vault, !include, ...)
// asks for something runbook does not do, and dropping it would change the
// meaning of the value silently.
var knownTags = []string{"!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq"}

// tokenize is lexer.Tokenize with limits: it stops at MaxTokens tokens or
// MaxDepth nested flow collections, before the cost of the rest is paid.
func (l *loader) tokenize(src string) (token.Tokens, bool) {
	var s scanner.Scanner
	s.Init(src)
	var tokens token.Tokens
	depth := 0
	for {
		sub, err := s.Scan()
		if err == io.EOF {
			break
		}
		for _, tk := range sub {
			switch tk.Type {
			case token.SequenceStartType, token.MappingStartType:
				if depth++; depth > MaxDepth {
					l.tokenErr(tk, "nested more than %d deep: a runbook's values are never this deep", MaxDepth)
					return nil, false
				}
			case token.SequenceEndType, token.MappingEndType:
				depth--
			case token.TagType:
				if !contains(knownTags, tk.Value) {
					l.tokenErr(tk, "unknown YAML tag %s: runbook does not interpret tags (a value is plain text, a number, true/false, a list or a mapping); remove it", tk.Value)
				}
			}
		}
		tokens.Add(sub...)
		if len(tokens) > MaxTokens {
			l.tokenErr(sub[0], "the runbook has more than %d YAML tokens: split the window into several runbooks", MaxTokens)
			return nil, false
		}
	}
	return tokens, true
}

func (l *loader) tokenErr(tk *token.Token, format string, args ...any) {
	e := &Error{Pos: Pos{File: l.file, Line: 1, Col: 1}, Msg: fmt.Sprintf(format, args...)}
	if tk != nil && tk.Position != nil && tk.Position.Line > 0 {
		e.Pos.Line, e.Pos.Col = tk.Position.Line, max(tk.Position.Column, 1)
	}
	l.errs = append(l.errs, e)
}

// anchor is a `&name` in the file, for aliases inside action parameters.
type anchor struct {
	name  string
	value ast.Node
	line  int
	col   int
}

// survey walks the whole tree once before it is read: it bounds nesting
// (block collections; flow ones were bounded while tokenizing), refuses
// control characters that escapes put into strings, and records anchors.
// It never descends past MaxDepth, so its own recursion is bounded.
func (l *loader) survey(n ast.Node, depth int) bool {
	switch v := n.(type) {
	case nil:
		return true
	case *ast.DocumentNode:
		return l.survey(v.Body, depth)
	case *ast.MappingNode:
		if depth++; depth > MaxDepth {
			l.errorf(v, "nested more than %d deep: a runbook's values are never this deep", MaxDepth)
			return false
		}
		for _, mv := range v.Values {
			if !l.survey(mv.Key, depth) || !l.survey(mv.Value, depth) {
				return false
			}
		}
	case *ast.MappingValueNode:
		// A single-entry mapping (`key: value` as a list item) is a
		// collection of its own.
		if depth++; depth > MaxDepth {
			l.errorf(v, "nested more than %d deep: a runbook's values are never this deep", MaxDepth)
			return false
		}
		return l.survey(v.Key, depth) && l.survey(v.Value, depth)
	case *ast.SequenceNode:
		if depth++; depth > MaxDepth {
			l.errorf(v, "nested more than %d deep: a runbook's values are never this deep", MaxDepth)
			return false
		}
		for _, x := range v.Values {
			if !l.survey(x, depth) {
				return false
			}
		}
	case *ast.MappingKeyNode:
		return l.survey(v.Value, depth)
	case *ast.TagNode:
		return l.survey(v.Value, depth)
	case *ast.AnchorNode:
		name, _ := scalar(v.Name)
		a := anchor{name: name, value: v.Value}
		if tk := v.GetToken(); tk != nil && tk.Position != nil {
			a.line, a.col = tk.Position.Line, tk.Position.Column
		}
		l.anchors = append(l.anchors, a)
		return l.survey(v.Value, depth)
	case *ast.StringNode:
		l.checkText(v, v.Value)
	case *ast.LiteralNode:
		if v.Value != nil {
			l.checkText(v, v.Value.Value)
		}
	}
	return true
}

// checkText refuses control characters in a string value (written as
// escapes such as "\e" or "\x07" in a double-quoted string): they would
// reach terminals, reports and commit messages.
func (l *loader) checkText(n ast.Node, s string) {
	for _, r := range s {
		if r != '\n' && r != '\t' && controlRune(r) {
			l.errorf(n, "the text holds a control character (%U): runbook text is shown on terminals and in reports, so it may not move the cursor or change what is shown", r)
			return
		}
	}
}

// findAnchor returns the value of the last anchor called name defined
// before line:col.
func (l *loader) findAnchor(name string, line, col int) (ast.Node, bool) {
	var found ast.Node
	for _, a := range l.anchors {
		if a.name == name && (a.line < line || a.line == line && a.col < col) {
			found = a.value
		}
	}
	return found, found != nil
}

// resolveAliases returns n with every alias replaced by its anchor's value,
// so the parameters of an action decode on their own (the YAML library
// looks for anchors only inside the node it decodes). Every value an alias
// brings in counts against MaxAliasNodes.
func (l *loader) resolveAliases(n ast.Node, hops int) (ast.Node, error) {
	switch v := n.(type) {
	case *ast.AliasNode:
		name, _ := scalar(v.Value)
		p := l.pos(v)
		if hops > MaxDepth {
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("alias *%s refers to itself", name)}
		}
		target, ok := l.findAnchor(name, p.Line, p.Col)
		if !ok {
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("alias *%s names no anchor defined before it (&%s)%s", name, name, l.suggestAnchor(name))}
		}
		l.aliasNodes += countNodes(target, MaxAliasNodes+1)
		if l.aliasNodes > MaxAliasNodes {
			return nil, &Error{Pos: p, Msg: fmt.Sprintf("aliases expand to more than %d values: write the values out", MaxAliasNodes)}
		}
		return l.resolveAliases(target, hops+1)
	case *ast.AnchorNode:
		x, err := l.resolveAliases(v.Value, hops)
		if err != nil {
			return nil, err
		}
		v.Value = x
	case *ast.TagNode:
		x, err := l.resolveAliases(v.Value, hops)
		if err != nil {
			return nil, err
		}
		v.Value = x
	case *ast.MappingNode:
		for _, mv := range v.Values {
			if _, err := l.resolveAliases(mv, hops); err != nil {
				return nil, err
			}
		}
	case *ast.MappingValueNode:
		x, err := l.resolveAliases(v.Value, hops)
		if err != nil {
			return nil, err
		}
		v.Value = x
	case *ast.SequenceNode:
		for i, x := range v.Values {
			y, err := l.resolveAliases(x, hops)
			if err != nil {
				return nil, err
			}
			v.Values[i] = y
		}
	}
	return n, nil
}

func (l *loader) suggestAnchor(name string) string {
	names := make([]string, 0, len(l.anchors))
	for _, a := range l.anchors {
		names = append(names, a.name)
	}
	return didYouMean(name, names)
}

// countNodes counts the nodes of a tree, stopping at limit.
func countNodes(n ast.Node, limit int) int {
	c := 0
	var walk func(ast.Node)
	walk = func(n ast.Node) {
		if c >= limit || n == nil {
			return
		}
		c++
		switch v := n.(type) {
		case *ast.MappingNode:
			for _, mv := range v.Values {
				walk(mv.Value)
			}
		case *ast.MappingValueNode:
			walk(v.Value)
		case *ast.SequenceNode:
			for _, x := range v.Values {
				walk(x)
			}
		case *ast.AnchorNode:
			walk(v.Value)
		case *ast.TagNode:
			walk(v.Value)
		case *ast.AliasNode:
			// Counted when it is resolved.
		}
	}
	walk(n)
	return c
}

// didYouMean returns ` (did you mean "x"?)` when one of known is close to
// name, else "".
func didYouMean(name string, known []string) string {
	best, bestD := "", 0
	for _, k := range known {
		if k == name || k == "" {
			continue
		}
		d := editDistance(strings.ToLower(name), strings.ToLower(k))
		limit := max(1, min(len(name), len(k))/3)
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of two short names.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return max(len(ra), len(rb))
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
