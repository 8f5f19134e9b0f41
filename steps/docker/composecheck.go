package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// validateCompose checks a compose file's new content before it is
// written. Schema and interpolation are checked by the compose CLI the
// host has — the program compose.apply runs, so the check and the apply
// read the file alike: `config --quiet` on the content from stdin, with
// the file's directory as the project directory (its .env, its relative
// paths). compose v1 does not check that every secret, network and named
// volume a service uses is defined; checkReferences does, for both.
//
// (The Go loader of compose-spec was used here before; its JSON-schema
// library compiles every meta-schema in package init, which every runbook
// command paid for at start-up, and a compose file is checked a few times
// a run.)
func validateCompose(ctx context.Context, path string, content []byte, project string) error {
	if err := checkReferences(content); err != nil {
		return err
	}
	cli, err := detectCompose(ctx, "")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if project == "" {
		project = normalizeProjectName(filepath.Base(dir))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	argv := append(append([]string(nil), cli.argv...), "--ansi", "never", "-f", "-", "--project-directory", dir, "-p", project, "config", "--quiet")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = composeEnv("")
	cmd.Stdin = bytes.NewReader(content)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		var lines []string
		for _, l := range strings.Split(stderr.String(), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "variable is not set") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			return fmt.Errorf("%s config: %w", cli, err)
		}
		return fmt.Errorf("%s config: %s", cli, strings.Join(lines, "; "))
	}
	return nil
}

// checkReferences: every secret, network and named volume a service uses
// is defined at the top level of the file.
func checkReferences(content []byte) error {
	var doc struct {
		Services map[string]struct {
			Secrets  []any `yaml:"secrets"`
			Networks any   `yaml:"networks"`
			Volumes  []any `yaml:"volumes"`
		} `yaml:"services"`
		Secrets  map[string]any `yaml:"secrets"`
		Networks map[string]any `yaml:"networks"`
		Volumes  map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	var problems []string
	undefined := func(service, kind, name string, defined map[string]any) {
		if name == "" || strings.Contains(name, "${") {
			return
		}
		if _, ok := defined[name]; !ok {
			problems = append(problems, fmt.Sprintf("service %q uses %s %q, which is not defined under top-level %ss", service, kind, name, kind))
		}
	}
	names := make([]string, 0, len(doc.Services))
	for n := range doc.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := doc.Services[n]
		for _, x := range s.Secrets {
			undefined(n, "secret", refName(x, "source"), doc.Secrets)
		}
		switch nets := s.Networks.(type) {
		case []any:
			for _, x := range nets {
				if name := fmt.Sprint(x); name != "default" {
					undefined(n, "network", name, doc.Networks)
				}
			}
		case map[string]any:
			for name := range nets {
				if name != "default" {
					undefined(n, "network", name, doc.Networks)
				}
			}
		}
		for _, x := range s.Volumes {
			var src string
			switch v := x.(type) {
			case string:
				src, _, _ = strings.Cut(v, ":")
				if !strings.Contains(v, ":") {
					src = "" // an anonymous volume
				}
			case map[string]any:
				if t, _ := v["type"].(string); t == "volume" {
					src = refName(v, "source")
				}
			}
			if src != "" && !strings.ContainsAny(src[:1], "/.~$") && !strings.Contains(src, "/") {
				undefined(n, "volume", src, doc.Volumes)
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// refName is a short-syntax reference (a string) or the key of its long
// syntax (a mapping).
func refName(x any, key string) string {
	switch v := x.(type) {
	case string:
		return v
	case map[string]any:
		s, _ := v[key].(string)
		return s
	}
	return ""
}

// normalizeProjectName is compose's rule for a project name taken from a
// directory: lowercase, only a-z, 0-9, '_' and '-', no leading '_' or '-'.
func normalizeProjectName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	return strings.TrimLeft(b.String(), "_-")
}
