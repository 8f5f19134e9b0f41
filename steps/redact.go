package steps

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Mask replaces a secret wherever runbook shows or records text.
const Mask = "[redacted]"

// Redactor removes secrets from text: known secret values (target values
// marked secret, generated secrets, passwords read from files) in every
// form they travel in (as is, base64, URL-encoded, hex), and the shapes
// secrets take in text (URL passwords, password=... pairs in env, YAML,
// JSON, DSNs and query strings, authorization headers, PEM private keys).
// It masks values, never names: `DB_PASSWORD`, `secrets=[db_password]`,
// `DB_PASSWORD_FILE=/run/secrets/db_password`, SQL keywords and ordinary
// words after a password-like key stay readable. It is safe for concurrent
// use.
type Redactor struct {
	mu     sync.RWMutex
	values []string // the values as taught, in order
	forms  []string // every form of every value, longest first
}

// NewRedactor returns a redactor that knows the given secret values.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// minSecretLen: values shorter than this are ignored; masking them would
// mangle ordinary text.
const minSecretLen = 4

// minEncodedLen: the encoded forms of shorter values are not looked for;
// a few bytes of base64 or hex turn up by chance in hashes and ids.
const minEncodedLen = 8

// Add teaches the redactor more secret values. Values shorter than four
// bytes are ignored: masking them would mangle ordinary text.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, s := range secrets {
		if len(s) < minSecretLen || containsString(r.values, s) {
			continue
		}
		r.values = append(r.values, s)
		forms := []string{s}
		if len(s) >= minEncodedLen {
			forms = encodedForms(s)
		}
		for _, f := range forms {
			if !containsString(r.forms, f) {
				r.forms = append(r.forms, f)
			}
		}
		changed = true
	}
	if changed {
		// Longest first, so a secret containing another is masked whole.
		sort.SliceStable(r.forms, func(i, j int) bool { return len(r.forms[i]) > len(r.forms[j]) })
	}
}

// encodedForms are the ways a secret value travels through text: as is,
// base64 (standard and URL alphabets, padded or not), URL-encoded (query
// and path escaping) and hex (either case).
func encodedForms(s string) []string {
	b := []byte(s)
	forms := []string{
		s,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		url.QueryEscape(s),
		url.PathEscape(s),
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
	}
	out := forms[:0]
	for _, f := range forms {
		if !containsString(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Values returns the secret values the redactor was taught, as taught (not
// their encoded forms): what a final secret scan looks for.
func (r *Redactor) Values() []string {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]string(nil), r.values...)
}

// secretKey is a key naming a secret: a word holding one of these,
// prefixed or suffixed by more of the name (DB_PASSWORD, pgpassword,
// x-api-key, SECRET_KEY_BASE, "access_token").
const secretKey = `[A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret)[A-Za-z0-9_.-]*`

var (
	urlPassRE = regexp.MustCompile(`(://[^/\s:@'"]*:)([^@\s/'"]+)(@)`)
	authRE    = regexp.MustCompile(`(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest|negotiate)\s+)[^\s"',;]+`)
	cookieRE  = regexp.MustCompile(`(?i)((?:set-)?cookie:\s*)[^\r\n]+`)
	// kvRE is a secret-named key, an optional closing quote (JSON, quoted
	// YAML keys), a separator on the same line, and the value. The value
	// itself is judged in code (isValue).
	kvRE  = regexp.MustCompile(`(?i)(` + secretKey + `)(["']?)([ \t]*(?::=|[=:])[ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s,;&"'}\]]+)`)
	pemRE = regexp.MustCompile(`(?s)-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END ([A-Z0-9 ]*)PRIVATE KEY-----|$)`)

	// A value that is itself a secret's name (db_password, SECRET_KEY).
	secretNameRE = regexp.MustCompile(`(?i)^(?:[a-z0-9]+[_-])+(?:password|passwd|pwd|secret|token|key)(?:[_-][a-z0-9]+)*$|^(?:password|passwd|secret|token)(?:[_-][a-z0-9]+)+$`)
	// A qualified SQL column (b.rolpassword, t.x) compared with " = ".
	sqlRefRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$`)
)

// ordinaryWords are words that follow a password-like key in prose, logs
// and plans without being its value ("DB_PASSWORD: expected unset",
// "db_password=file").
var ordinaryWords = map[string]bool{
	"expected": true, "unset": true, "set": true, "missing": true, "present": true, "absent": true,
	"required": true, "optional": true, "empty": true, "none": true, "null": true, "nil": true,
	"file": true, "files": true, "path": true, "found": true, "not": true, "is": true, "was": true,
	"from": true, "in": true, "ok": true, "invalid": true, "changed": true, "rotated": true,
	"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "masked": true,
	"hidden": true, "generated": true, "kept": true, "removed": true, "restored": true, "saved": true,
	"never": true, "shown": true, "unknown": true, "default": true, "env": true, "environment": true,
	"variable": true, "reference": true, "refused": true, "accepted": true, "exists": true,
	"ignored": true, "same": true, "different": true, "new": true, "old": true, "the": true, "a": true,
}

// sqlKeywords stay readable after a password-like column or key.
var sqlKeywords = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true, "NOT": true, "NULL": true,
	"IS": true, "IN": true, "AS": true, "ON": true, "JOIN": true, "INSERT": true, "UPDATE": true,
	"DELETE": true, "SET": true, "VALUES": true, "INTO": true, "ALTER": true, "ROLE": true,
	"CREATE": true, "DROP": true, "TABLE": true, "WITH": true, "CASE": true, "WHEN": true,
	"THEN": true, "ELSE": true, "END": true, "ORDER": true, "GROUP": true, "BY": true, "LIMIT": true,
	"TRUE": true, "FALSE": true, "DEFAULT": true, "PASSWORD": true, "ENCRYPTED": true, "USER": true,
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	if r != nil {
		r.mu.RLock()
		for _, v := range r.forms {
			if strings.Contains(s, v) {
				s = strings.ReplaceAll(s, v, Mask)
			}
		}
		r.mu.RUnlock()
	}
	if strings.Contains(s, "://") {
		s = urlPassRE.ReplaceAllString(s, "${1}"+Mask+"${3}")
	}
	if strings.Contains(s, "PRIVATE KEY-----") {
		s = pemRE.ReplaceAllStringFunc(s, func(m string) string {
			head := m[:strings.Index(m, "KEY-----")+len("KEY-----")]
			if strings.HasPrefix(m[len(head):], " "+Mask) {
				return m // masked already
			}
			return head + " " + Mask
		})
	}
	if l := strings.ToLower(s); strings.Contains(l, "authorization") {
		s = authRE.ReplaceAllString(s, "${1}"+Mask)
	}
	if l := strings.ToLower(s); strings.Contains(l, "cookie:") {
		s = cookieRE.ReplaceAllString(s, "${1}"+Mask)
	}
	if hasSecretWord(s) {
		s = maskPairs(s)
	}
	return s
}

// maskPairs masks the values of key=value / key: value pairs whose key
// names a secret.
func maskPairs(s string) string {
	idx := kvRE.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		key, sep, val := s[m[2]:m[3]], s[m[6]:m[7]], s[m[8]:m[9]]
		if m[2] > 0 && (s[m[2]-1] == '/' || s[m[2]-1] == '\\') {
			continue // a path (secrets/db_password:12), not a key
		}
		if strings.HasPrefix(s[m[8]:], Mask) || !isValue(key, sep, val) {
			continue
		}
		b.WriteString(s[last:m[8]])
		switch {
		case strings.HasPrefix(val, `"`):
			b.WriteString(`"` + Mask + `"`)
		case strings.HasPrefix(val, `'`):
			b.WriteString(`'` + Mask + `'`)
		default:
			b.WriteString(Mask)
		}
		last = m[9]
	}
	b.WriteString(s[last:])
	return b.String()
}

// isValue tells a secret's value from what merely follows a secret's name:
// a reference to where the secret lives ($VAR, ${target.x}, a *_FILE path),
// another secret's name, an SQL keyword or column, an ordinary word.
func isValue(key, sep, val string) bool {
	v := val
	quoted := strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `'`)
	if quoted {
		v = v[1 : len(v)-1]
		if v == "" || v == Mask || !strings.ContainsFunc(v, isAlnum) {
			return false // '' or the '\'' of shell quoting, not a value
		}
	}
	switch {
	case strings.HasPrefix(v, "$"), strings.HasPrefix(v, "{{"), strings.HasPrefix(v, "<"):
		return false // $PGPASSWORD, ${target.x}, {{ .x }}, <secret>
	case isReference(key, v):
		return false
	}
	// An ordinary word, another secret's name, an SQL keyword, or a
	// regexp's alternatives of such words ("(env|file)"), quoted or not.
	bare := strings.Trim(v, "[](){}.:/^$")
	if bare == "" {
		return false
	}
	plain := true
	for _, w := range strings.Split(bare, "|") {
		w = strings.Trim(w, "()")
		plain = plain && (secretNameRE.MatchString(w) || sqlKeywords[w] || ordinaryWords[w])
	}
	if plain {
		return false // secrets=[db_password secret_key], db_password=file
	}
	if !quoted && strings.Contains(sep, " ") && strings.Contains(sep, "=") && sqlRefRE.MatchString(bare) {
		return false // a.rolpassword = b.rolpassword
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// isReference tells a key=value pair that points at a secret (a file, a
// path) from one that holds it.
func isReference(key, v string) bool {
	k := strings.ToUpper(strings.TrimRight(key, " =:\t\"'"))
	if strings.HasSuffix(k, "_FILE") || strings.HasSuffix(k, "_PATH") || strings.HasSuffix(k, "-FILE") {
		return true
	}
	return strings.HasPrefix(v, "/run/secrets/") || strings.HasPrefix(v, "./secrets/") || strings.HasPrefix(v, "secrets/")
}

func hasSecretWord(s string) bool {
	l := strings.ToLower(s)
	for _, w := range []string{"pass", "pwd", "secret", "token", "key"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// Event masks every free-text field of an event.
func (r *Redactor) Event(ev Event) Event {
	ev.Reason = r.String(ev.Reason)
	ev.Note = r.String(ev.Note)
	ev.Err = r.String(ev.Err)
	ev.Actor = r.String(ev.Actor)
	return ev
}

// Found lists the known secret values s contains, in any of their forms
// (the text as found, for checks that must compare, never for display).
// An action that writes files uses it to refuse writing a secret value
// where it does not belong.
func (r *Redactor) Found(s string) []string {
	if r == nil || s == "" {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, v := range r.forms {
		if strings.Contains(s, v) {
			out = append(out, v)
		}
	}
	return out
}

// Known reports whether s contains one of the secret values the redactor
// was taught, in any form (not merely text shaped like a secret).
func (r *Redactor) Known(s string) bool {
	if r == nil || s == "" {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, v := range r.forms {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}
