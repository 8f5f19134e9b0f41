package lab

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/runbook-dev/runbook/assets"
)

// WiringFile is the lab's data about the runbook it rehearses, in
// assets.Lab(): the stack's host ports and the targets its profile sets.
const WiringFile = "wiring.yaml"

// Wiring is what the lab knows of the runbook it rehearses. The code knows
// no target name and no port: they are data, in WiringFile.
type Wiring struct {
	Ports    []PortSpec   `yaml:"ports"`
	DBTarget string       `yaml:"db_target"`
	Targets  []TargetSpec `yaml:"targets"`
	Store    StoreSpec    `yaml:"store"`
}

// StoreSpec is the lab's shared-run store (store.go).
type StoreSpec struct {
	Bind     string `yaml:"bind"`
	Port     int    `yaml:"port"`
	Database string `yaml:"database"`
	// DSN is the profile's store= line, a text/template over storeData.
	DSN string `yaml:"dsn"`
}

// PortSpec is one host port of the stack.
type PortSpec struct {
	Name string `yaml:"name"`
	// Bind is the host address compose publishes the port on.
	Bind string `yaml:"bind"`
	Port int    `yaml:"port"`
	// Before says whether the "before" stack publishes it.
	Before bool `yaml:"before"`
}

// TargetSpec is one target the profile sets; Value is a text/template
// over profileData.
type TargetSpec struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// LoadWiring reads and checks the embedded WiringFile.
func LoadWiring() (Wiring, error) {
	data, err := fs.ReadFile(assets.Lab(), WiringFile)
	if err != nil {
		return Wiring{}, fmt.Errorf("lab wiring: %w", err)
	}
	return parseWiring(data)
}

func parseWiring(data []byte) (Wiring, error) {
	var w Wiring
	if err := yaml.UnmarshalWithOptions(data, &w, yaml.Strict()); err != nil {
		return w, fmt.Errorf("lab wiring %s: %w", WiringFile, err)
	}
	seen := map[string]bool{}
	for _, p := range w.Ports {
		if p.Name == "" || p.Port <= 0 || p.Port > 65535 || p.Bind == "" || seen["port "+p.Name] {
			return w, fmt.Errorf("lab wiring %s: port %+v: want a unique name, a bind address and a port 1-65535", WiringFile, p)
		}
		seen["port "+p.Name] = true
	}
	for _, t := range w.Targets {
		if t.Name == "" || seen["target "+t.Name] {
			return w, fmt.Errorf("lab wiring %s: target %q: want a unique name", WiringFile, t.Name)
		}
		seen["target "+t.Name] = true
	}
	if st := w.Store; st.Bind == "" || st.Port <= 0 || st.Port > 65535 || st.Database == "" || st.DSN == "" {
		return w, fmt.Errorf("lab wiring %s: store %+v: want a bind address, a port 1-65535, a database and a dsn", WiringFile, st)
	}
	for _, p := range w.Ports {
		if p.Port == w.Store.Port {
			return w, fmt.Errorf("lab wiring %s: the store's port %d is also port %s of the stack", WiringFile, p.Port, p.Name)
		}
	}
	if !seen["target "+w.DBTarget] {
		return w, fmt.Errorf("lab wiring %s: db_target %q is not one of the targets", WiringFile, w.DBTarget)
	}
	return w, nil
}

// Port returns the host port named name (0 when there is none).
func (w Wiring) Port(name string) int {
	for _, p := range w.Ports {
		if p.Name == name {
			return p.Port
		}
	}
	return 0
}

// portMap is the ports by name, for templates (the workspace's compose
// file, the profile).
func (w Wiring) portMap() map[string]int {
	m := make(map[string]int, len(w.Ports))
	for _, p := range w.Ports {
		m[p.Name] = p.Port
	}
	return m
}

// profileData is what a target's value template may use.
type profileData struct {
	Port       map[string]int
	DBPassword string // URL-escaped
	Docker     string
	Project    string
	Workspace  string
	Image      map[string]string
	Python     string
	// StorePassword is the store's password (not for targets: it renders
	// the profile's store= line).
	StorePassword string
}

// profile renders the targets for one lab.
func (w Wiring) profile(d profileData) (Profile, error) {
	d.Port = w.portMap()
	d.Image = map[string]string{}
	for _, im := range images() {
		d.Image[im.key] = im.ref
	}
	d.DBPassword = url.QueryEscape(d.DBPassword)
	p := Profile{Workspace: d.Workspace, DBTarget: w.DBTarget}
	for _, t := range w.Targets {
		tm, err := template.New(t.Name).Option("missingkey=error").Parse(t.Value)
		if err != nil {
			return p, fmt.Errorf("lab wiring %s: target %s: %w", WiringFile, t.Name, err)
		}
		var b bytes.Buffer
		if err := tm.Execute(&b, d); err != nil {
			return p, fmt.Errorf("lab wiring %s: target %s: %w", WiringFile, t.Name, err)
		}
		p.Targets = append(p.Targets, Target{Name: t.Name, Value: b.String()})
	}
	if d.StorePassword != "" {
		dsn, err := w.storeDSN(d.StorePassword)
		if err != nil {
			return p, err
		}
		p.Store = dsn
	}
	return p, nil
}

// PythonProblem says why no interpreter for the workspace's tests was
// found, and how to get one.
type PythonProblem struct {
	Tried []string // "path: what it said"
}

func (e *PythonProblem) Error() string {
	return fmt.Sprintf("no python3 that can import pytest (tried %s): the rehearsal's test steps (python3 -m pytest) would fail; install it with `apt-get install python3-pytest` (Debian) or `python3 -m pip install pytest`, or set target.python in the profile",
		strings.Join(e.Tried, "; "))
}

// wellKnownPythons are looked at after every python3 on PATH: the
// system's interpreter, which the distribution's pytest package serves,
// even when a python3 of a version manager (pyenv, asdf) comes first.
func wellKnownPythons() []string { return []string{"/usr/bin/python3", "/usr/local/bin/python3"} }

// FindPython returns the absolute path of the first python3 that can
// import pytest: every python3 on PATH in order, then the well-known
// locations. A *PythonProblem names each one tried and what it said.
func FindPython(ctx context.Context, path string) (string, error) {
	var cands []string
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		cands = append(cands, filepath.Join(dir, "python3"))
	}
	cands = append(cands, wellKnownPythons()...)
	problem := &PythonProblem{}
	seen := map[string]bool{}
	for _, c := range cands {
		fi, err := os.Stat(c)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		abs, err := filepath.Abs(c)
		if err != nil || seen[abs] {
			continue
		}
		seen[abs] = true
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		out, err := exec.CommandContext(cctx, abs, "-c", "import pytest").CombinedOutput()
		cancel()
		if err == nil {
			return abs, nil
		}
		said := strings.TrimSpace(string(out))
		if i := strings.LastIndex(said, "\n"); i >= 0 {
			said = said[i+1:]
		}
		if said == "" {
			said = err.Error()
		}
		problem.Tried = append(problem.Tried, abs+": "+said)
	}
	if len(problem.Tried) == 0 {
		problem.Tried = []string{"no python3 on PATH (" + strconv.Quote(path) + ") nor at " + strings.Join(wellKnownPythons(), ", ")}
	}
	return "", problem
}
