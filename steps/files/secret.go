package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/runbook-dev/runbook/steps"
)

// Alphabets secret.generate draws from.
var alphabets = map[string]string{
	"alnum":     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	"hex":       "0123456789abcdef",
	"base64url": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
}

// SecretGenerate is the `secret.generate` action: a random secret written
// to a file readable by its owner only. The value is never printed, never
// journaled and never reported for a checkpoint; it is taught to the
// redactor so no later output can show it either. An existing non-empty
// secret file is kept (a password already in use must not change under a
// running service) unless force is set.
//
//   - secret.generate:
//     path: secrets/db_password
//     length: 32
//     alphabet: alnum        # alnum, hex or base64url
type SecretGenerate struct {
	Path     string `yaml:"path"`
	Length   int    `yaml:"length"`
	Alphabet string `yaml:"alphabet"`
	Force    bool   `yaml:"force"`

	ready bool
}

// Validate implements runbooks.Validator.
func (s *SecretGenerate) Validate() error {
	if err := checkPath("path", s.Path); err != nil {
		return err
	}
	if s.Length == 0 {
		s.Length = 32
	}
	if s.Length < 16 || s.Length > 4096 {
		return fmt.Errorf("length %d must be 16–4096 characters", s.Length)
	}
	if s.Alphabet == "" {
		s.Alphabet = "alnum"
	}
	if _, ok := alphabets[s.Alphabet]; !ok {
		return fmt.Errorf("alphabet %q: expected alnum, hex or base64url", s.Alphabet)
	}
	s.ready = true
	return nil
}

// Describe implements steps.Action.
func (s *SecretGenerate) Describe(*steps.Env) string {
	n, a := s.Length, s.Alphabet
	if n == 0 {
		n = 32
	}
	if a == "" {
		a = "alnum"
	}
	d := fmt.Sprintf("generate %d-char %s secret into %s (mode 0600, value never shown)", n, a, s.Path)
	if s.Force {
		return d + ", replacing any existing one"
	}
	return d + "; an existing one is kept"
}

// randomString draws n characters uniformly from alphabet (rejection
// sampling: no modulo bias).
func randomString(n int, alphabet string) (string, error) {
	if len(alphabet) < 2 || len(alphabet) > 256 {
		return "", errors.New("alphabet must have 2–256 characters")
	}
	// The largest multiple of len(alphabet) that fits a byte.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}

// KnownSecrets implements steps.SecretSource: the secret already in the
// file, so a resumed run masks it before any action prints.
func (s *SecretGenerate) KnownSecrets(env *steps.Env) []string {
	p, err := locate(env, s.Path)
	if err != nil {
		return nil
	}
	cur, err := os.ReadFile(p.abs)
	if err != nil || len(bytes.TrimSpace(cur)) == 0 {
		return nil
	}
	return []string{string(cur), string(bytes.TrimSpace(cur))}
}

// Run implements steps.Action.
func (s *SecretGenerate) Run(_ context.Context, env *steps.Env) error {
	if !s.ready {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	p, err := locate(env, s.Path)
	if err != nil {
		return err
	}
	cur, err := os.ReadFile(p.abs)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", p.shown, err)
	}
	if err == nil && len(bytes.TrimSpace(cur)) > 0 && !s.Force {
		env.Redact.Add(string(cur), string(bytes.TrimSpace(cur)))
		fi, err := os.Stat(p.abs)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p.shown, err)
		}
		if fi.Mode().Perm() != 0o600 {
			if err := saveOnce(env, p); err != nil {
				return err
			}
			if err := os.Chmod(p.abs, 0o600); err != nil {
				return fmt.Errorf("restrict %s to its owner: %w", p.shown, err)
			}
			env.Printf("keeping the existing secret in %s; mode was %04o, now 0600", p.shown, fi.Mode().Perm())
			return nil
		}
		env.Printf("keeping the existing secret in %s (%d bytes, mode 0600; value never shown)", p.shown, len(cur))
		return nil
	}
	v, err := randomString(s.Length, alphabets[s.Alphabet])
	if err != nil {
		return fmt.Errorf("generate secret for %s: %w", p.shown, err)
	}
	// Teach the redactor before the value exists anywhere else.
	env.Redact.Add(v)
	if err := saveOnce(env, p); err != nil {
		return err
	}
	// No trailing newline: a secret file's bytes are the secret (Docker
	// secrets and *_FILE readers take the content as is).
	if err := writeAtomic(p.abs, []byte(v), 0o600, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", p.shown, err)
	}
	env.Printf("generated a %d-char %s secret into %s (mode 0600; value never shown, not committed)", s.Length, s.Alphabet, p.shown)
	return nil
}

// SecretRemove is the `secret.remove` action, the undo of secret.generate:
// it removes the secret file the step created, or puts back the one it
// replaced. A secret the step kept is left alone.
//
//   - secret.remove: {path: secrets/db_password}
type SecretRemove struct {
	Path string `yaml:"path"`
}

// Validate implements runbooks.Validator.
func (s *SecretRemove) Validate() error { return checkPath("path", s.Path) }

// Describe implements steps.Action.
func (s *SecretRemove) Describe(*steps.Env) string {
	return "remove the secret " + s.Path + " if this step generated it (put back the one it replaced)"
}

// Run implements steps.Action.
func (s *SecretRemove) Run(_ context.Context, env *steps.Env) error {
	if err := s.Validate(); err != nil {
		return err
	}
	p, err := locate(env, s.Path)
	if err != nil {
		return err
	}
	res, err := restore(env, p)
	if err != nil {
		return err
	}
	env.Printf("%s", res.describe(p.shown))
	return nil
}
