package steps

import (
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Mask replaces a secret wherever runbook shows or records text.
const Mask = "[redacted]"

// Redactor removes secrets from text: known secret values (target values
// marked secret, generated secrets, secret environment variables), and the
// shapes secrets take in text (URL passwords, password=... pairs, PEM private
// keys). It is safe for concurrent use.
type Redactor struct {
	mu     sync.RWMutex
	values []string // longest first, so a secret containing another is masked whole
}

// NewRedactor returns a redactor that knows the given secret values.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add teaches the redactor more secret values. Values shorter than four
// bytes are ignored: masking them would mangle ordinary text.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) < 4 {
			continue
		}
		dup := false
		for _, v := range r.values {
			dup = dup || v == s
		}
		if !dup {
			r.values = append(r.values, s)
		}
	}
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
}

var (
	urlPassRE = regexp.MustCompile(`(://[^/\s:@]*:)([^@\s/]+)(@)`)
	authRE    = regexp.MustCompile(`(?i)(authorization:\s*(?:bearer|basic|token)\s+)\S+`)
	kvRE      = regexp.MustCompile(`(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key)[a-z0-9_]*\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)`)
	pemRE     = regexp.MustCompile(`(?s)-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(-----END ([A-Z ]*)PRIVATE KEY-----|$)`)
)

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	if r != nil {
		r.mu.RLock()
		for _, v := range r.values {
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
		s = pemRE.ReplaceAllString(s, "-----BEGIN ${1}PRIVATE KEY----- "+Mask)
	}
	if strings.Contains(s, "uthorization") || strings.Contains(s, "UTHORIZATION") {
		s = authRE.ReplaceAllString(s, "${1}"+Mask)
	}
	if hasSecretWord(s) {
		s = kvRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := kvRE.FindStringSubmatch(m)
			v := strings.Trim(sub[2], `"'`)
			switch {
			case sub[2] == Mask || strings.HasPrefix(v, "$"):
				return m // already masked, or a reference such as $PGPASSWORD
			case isReference(sub[1], v):
				return m // DB_PASSWORD_FILE=/run/secrets/db_password names where, not what
			}
			return sub[1] + Mask
		})
	}
	return s
}

// isReference tells a key=value pair that points at a secret (a file, a
// path) from one that holds it.
func isReference(key, v string) bool {
	k := strings.ToUpper(strings.TrimRight(key, " =:\t"))
	if strings.HasSuffix(k, "_FILE") || strings.HasSuffix(k, "_PATH") {
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

// Known reports whether s contains one of the secret values the redactor
// was taught (not merely text shaped like a secret). An action that writes
// files uses it to refuse writing a secret value where it does not belong.
// Found lists the known secret values s contains (for checks that must
// compare, never for display).
func (r *Redactor) Found(s string) []string {
	if r == nil || s == "" {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, v := range r.values {
		if strings.Contains(s, v) {
			out = append(out, v)
		}
	}
	return out
}

func (r *Redactor) Known(s string) bool {
	if r == nil || s == "" {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, v := range r.values {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}
