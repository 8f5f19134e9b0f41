package pg

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/runbook-dev/runbook/steps"
)

// statement is one SQL statement of a script and where it starts.
type statement struct {
	SQL    string
	Offset int // byte offset of SQL in the script
}

// splitSQL cuts a script into statements at top-level semicolons. It knows
// the lexical forms that may hide a semicolon: 'strings' (with ”),
// E'strings' (with backslash escapes), "identifiers", $tag$ dollar quotes
// $tag$, -- line comments and nested /* block comments */. Statements that
// hold only space and comments are dropped. A script that ends inside a
// quote or comment is an error, because sending it would run something
// other than what the author wrote.
func splitSQL(src string) ([]statement, error) {
	var out []statement
	start := 0
	emit := func(end int) {
		s := src[start:end]
		if hasCode(s) {
			lead := len(s) - len(strings.TrimLeft(s, " \t\r\n"))
			out = append(out, statement{SQL: strings.TrimSpace(s), Offset: start + lead})
		}
	}
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ';':
			emit(i)
			start = i + 1
			i++
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				i = len(src)
			} else {
				i += j + 1
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			depth, j := 1, i+2
			for j < len(src) && depth > 0 {
				switch {
				case strings.HasPrefix(src[j:], "/*"):
					depth++
					j += 2
				case strings.HasPrefix(src[j:], "*/"):
					depth--
					j += 2
				default:
					j++
				}
			}
			if depth > 0 {
				return nil, unterminated("block comment", src, i)
			}
			i = j
		case c == '\'':
			escapes := i > 0 && (src[i-1] == 'E' || src[i-1] == 'e') && (i < 2 || !isIdentByte(src[i-2]))
			j, ok := skipQuoted(src, i, '\'', escapes)
			if !ok {
				return nil, unterminated("string", src, i)
			}
			i = j
		case c == '"':
			j, ok := skipQuoted(src, i, '"', false)
			if !ok {
				return nil, unterminated("quoted identifier", src, i)
			}
			i = j
		case c == '$' && (i == 0 || !isIdentByte(src[i-1])):
			tag, ok := dollarTag(src[i:])
			if !ok {
				i++
				continue
			}
			j := strings.Index(src[i+len(tag):], tag)
			if j < 0 {
				return nil, unterminated("dollar-quoted string "+tag, src, i)
			}
			i += len(tag) + j + len(tag)
		default:
			i++
		}
	}
	emit(len(src))
	return out, nil
}

// skipQuoted returns the index after the quote that closes the one at i.
// A doubled quote stands for itself; with escapes, so does \'.
func skipQuoted(src string, i int, q byte, escapes bool) (int, bool) {
	j := i + 1
	for j < len(src) {
		switch src[j] {
		case '\\':
			if escapes {
				j += 2
				continue
			}
		case q:
			if j+1 < len(src) && src[j+1] == q {
				j += 2
				continue
			}
			return j + 1, true
		}
		j++
	}
	return 0, false
}

// dollarTag returns the $tag$ that opens a dollar-quoted string at s[0].
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
		case c >= '0' && c <= '9' && j > 1:
		default:
			return "", false
		}
	}
	return "", false
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// hasCode reports whether s holds something other than space and comments.
func hasCode(s string) bool {
	for i := 0; i < len(s); {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n':
			i++
		case strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return false
			}
			i += j + 1
		case strings.HasPrefix(s[i:], "/*"):
			// Nested comments were checked by the caller; find the end.
			depth, j := 1, i+2
			for j < len(s) && depth > 0 {
				switch {
				case strings.HasPrefix(s[j:], "/*"):
					depth++
					j += 2
				case strings.HasPrefix(s[j:], "*/"):
					depth--
					j += 2
				default:
					j++
				}
			}
			i = j
		default:
			return true
		}
	}
	return false
}

func unterminated(what, src string, i int) error {
	line := 1 + strings.Count(src[:i], "\n")
	col := 1 + utf8.RuneCountInString(src[strings.LastIndexByte(src[:i], '\n')+1:i])
	return fmt.Errorf("unterminated %s starting at line %d, column %d", what, line, col)
}

// quoteLiteral quotes s as an SQL string literal exactly as PostgreSQL's
// quote_literal does: quotes doubled, and when s holds a backslash, an
// E” literal with backslashes doubled, which reads the same whatever
// standard_conforming_strings says.
func quoteLiteral(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("a literal cannot hold a NUL byte")
	}
	if !utf8.ValidString(s) {
		return "", errors.New("a literal must be valid UTF-8")
	}
	var b strings.Builder
	if strings.IndexByte(s, '\\') >= 0 {
		b.WriteByte('E')
	}
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}

// quoteIdent quotes one identifier (pgx.Identifier.Sanitize: always
// double-quoted, quotes doubled, NUL removed).
func quoteIdent(s string) (string, error) {
	if s == "" {
		return "", errors.New("an identifier cannot be empty")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("an identifier cannot hold a NUL byte")
	}
	return pgx.Identifier{s}.Sanitize(), nil
}

var placeholderRE = regexp.MustCompile(`\$\{(ident|literal):([A-Za-z_][A-Za-z0-9_]*)\}`)

// checkPlaceholders makes sure every ${ident:K} / ${literal:K} of sql has a
// value and that the SQL splices no target value.
func checkPlaceholders(sql string, idents, literals map[string]string) error {
	if strings.Contains(sql, "${target.") {
		return errors.New("SQL may not contain ${target.NAME}: values never go into SQL text; bind it as a parameter ($1 with args: [\"${target.NAME}\"]) or name it with ${ident:K} / ${literal:K} under idents or literals")
	}
	var missing []string
	for _, m := range placeholderRE.FindAllStringSubmatch(sql, -1) {
		var ok bool
		switch m[1] {
		case "ident":
			_, ok = idents[m[2]]
		default:
			_, ok = literals[m[2]]
		}
		if !ok {
			missing = append(missing, m[0])
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("SQL uses %s with no value: add it under idents or literals", strings.Join(missing, ", "))
	}
	return nil
}

// fillPlaceholders replaces ${ident:K} and ${literal:K} with the quoted,
// target-expanded values. show=true masks secrets instead of failing on
// them (plan view).
func fillPlaceholders(env *steps.Env, sql string, idents, literals map[string]string, show bool) (string, error) {
	if err := checkPlaceholders(sql, idents, literals); err != nil {
		return "", err
	}
	var ferr error
	out := placeholderRE.ReplaceAllStringFunc(sql, func(m string) string {
		sub := placeholderRE.FindStringSubmatch(m)
		raw := literals[sub[2]]
		if sub[1] == "ident" {
			raw = idents[sub[2]]
		}
		var v string
		if show {
			v = env.ShowExpand(raw)
		} else {
			var err error
			if v, err = env.Expand(raw); err != nil {
				ferr = errors.Join(ferr, fmt.Errorf("%s: %w", m, err))
				return m
			}
		}
		var q string
		var err error
		if sub[1] == "ident" {
			q, err = quoteIdent(v)
		} else {
			q, err = quoteLiteral(v)
		}
		if err != nil {
			ferr = errors.Join(ferr, fmt.Errorf("%s: %w", m, err))
			return m
		}
		return q
	})
	return out, ferr
}
