package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

// register adds the flags every command shares to the root command, as
// persistent flags, with their completions.
func (c *common) register(root *cobra.Command, getenv func(string) string) {
	c.targets = targetFlags{profileKey: ""}
	c.getenv = getenv
	fs := root.PersistentFlags()
	fs.StringVarP(&c.file, "file", "f", "", "runbook `FILE` (default: the embedded "+defaultRunbook+")")
	fs.StringVar(&c.name, "runbook", defaultRunbook, "embedded runbook `NAME`")
	fs.StringVar(&c.guides, "guides", "", "guide `DIR` for -f (default: beside the runbook file)")
	fs.StringVar(&c.date, "date", envOr(getenv, "RUNBOOK_DATE", ""), "day of the window, `YYYY-MM-DD` or today (default: the day the run started; a new run asks) ($RUNBOOK_DATE)")
	fs.StringVar(&c.stateDir, "state", envOr(getenv, "RUNBOOK_STATE", ".runbook"), "state `DIR`: journal, lock, logs ($RUNBOOK_STATE)")
	fs.StringVar(&c.workspace, "workspace", envOr(getenv, "RUNBOOK_WORKSPACE", "."), "workspace `DIR`: the repository steps edit and checkpoint ($RUNBOOK_WORKSPACE)")
	fs.StringVar(&c.operator, "operator", envOr(getenv, "RUNBOOK_OPERATOR", currentUser()), "operator `NAME` recorded in the journal ($RUNBOOK_OPERATOR)")
	fs.BoolVar(&c.takeOver, "take-over", false, "take over a stale lock left by a session that died; with --store, the run's lease once its heartbeat is older than --lease-timeout")
	fs.BoolVar(&c.rehearsal, "rehearsal", false, "a rehearsal: the engine confirms manual steps itself and journals that it did; state in STATE/rehearsal unless --state is given")
	fs.BoolVar(&c.debug, "debug", false, "write a debug log to the state directory")
	fs.BoolVar(&c.noDBLock, "no-db-lock", false, "go on when the run lock on the database target cannot be taken (unreachable or refused credentials)")
	fs.StringVar(&c.store, "store", "", "shared-run store: a PostgreSQL `DSN` of the team's own ($RUNBOOK_STORE, or store= in a profile)")
	fs.StringVar(&c.runID, "run", "", "run `ID` in the store (default: the runbook's latest run)")
	c.registerWorkspace(fs, getenv)
	c.team.register(fs, getenv)
	c.registerShare(fs, getenv)
	fs.Var(c.targets, "target", "set a target: `NAME=VALUE`, or a profile NAME (repeatable; overrides its environment variable)")

	noFiles := cobra.ShellCompDirectiveNoFileComp
	root.RegisterFlagCompletionFunc("runbook", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return runbooks.Names(), noFiles
	})
	root.RegisterFlagCompletionFunc("target", func(_ *cobra.Command, _ []string, typed string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return c.completeTargets(typed)
	})
	root.RegisterFlagCompletionFunc("date", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		out := []cobra.Completion{cobra.CompletionWithDesc("today", "hold the window today")}
		if rb := c.quietRunbook(); rb != nil {
			out = append(out, cobra.CompletionWithDesc(rb.Schedule.Date, "the runbook's planned day"))
		}
		return out, noFiles
	})
	root.RegisterFlagCompletionFunc("file", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	for _, dir := range []string{"guides", "state", "workspace"} {
		root.RegisterFlagCompletionFunc(dir, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		})
	}
}

// targetFlags collects --target NAME=VALUE pairs; a bare --target NAME
// names a profile (see profile.go).
type targetFlags map[string]string

func (t targetFlags) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		if k == profileKey {
			continue
		}
		keys = append(keys, k+"="+t[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// Type names the value in help output.
func (t targetFlags) Type() string { return "NAME=VALUE" }

func (t targetFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		// A bare name is a profile: remembered in order under a key no
		// target name can have.
		if !profileNameRE.MatchString(v) {
			return fmt.Errorf("want NAME=VALUE or a profile name, got %q", termsafe.Line(v))
		}
		t[profileKey] = strings.TrimPrefix(t[profileKey]+","+v, ",")
		return nil
	}
	if k == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", termsafe.Line(v))
	}
	t[k] = val
	return nil
}

// checkTargets refuses a value given on the command line or in a profile
// that cannot be what its target's kind says (a url target given
// `notaurl`), naming the target and the kind. Secret values are not echoed.
func (c *common) checkTargets(rb *runbooks.Runbook) error {
	check := func(name, v, from string) error {
		t, ok := rb.Target(name)
		if !ok || v == "" {
			// ResolveTargets names unknown targets with the known ones;
			// an empty value leaves the target to its variable or default.
			return nil
		}
		if err := checkKind(t.Kind, v); err != nil {
			shown := termsafe.Line(v)
			if t.Secret {
				shown = steps.Mask
			}
			return usagef("%s %s=%s: %s is a %s target: %v", from, name, shown, name, t.Kind, err)
		}
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(c.targets)) {
		if name == profileKey {
			continue
		}
		if err := check(name, c.targets[name], "--target"); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.profile)) {
		if _, explicit := c.targets[name]; explicit {
			continue
		}
		if err := check(name, c.profile[name], "profile value"); err != nil {
			return err
		}
	}
	return nil
}

// checkKind says why v cannot be a value of a target of kind k.
func checkKind(k runbooks.TargetKind, v string) error {
	switch k {
	case runbooks.TargetURL:
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("want an http or https URL such as http://localhost:8001")
		}
	case runbooks.TargetDocker:
		scheme, rest, ok := strings.Cut(v, "://")
		switch {
		case !ok || rest == "":
			return fmt.Errorf("want a Docker endpoint such as unix:///var/run/docker.sock or tcp://host:2376")
		case scheme != "unix" && scheme != "tcp" && scheme != "ssh" && scheme != "npipe" && scheme != "http" && scheme != "https":
			return fmt.Errorf("unknown Docker endpoint scheme %q (want unix, tcp, ssh, npipe, http or https)", scheme)
		}
	case runbooks.TargetPostgres:
		if _, err := pgconn.ParseConfig(v); err != nil {
			return fmt.Errorf("want a PostgreSQL connection string (postgres://user@host:5432/db or key=value pairs)")
		}
	case runbooks.TargetDir:
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("want a directory path")
		}
	}
	return nil
}

// quietRunbook loads the runbook the flags name, for completions: no
// profile, no day, no error shown (a shell completing must not print).
func (c *common) quietRunbook() *runbooks.Runbook {
	rb, err := c.readRunbook()
	if err != nil {
		return nil
	}
	return rb
}

// completeTargets offers NAME= for every target of the runbook (its kind
// and description as the hint) and the profiles in the state directory.
func (c *common) completeTargets(typed string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	if name, _, ok := strings.Cut(typed, "="); ok {
		// A value is being typed: nothing to offer but the default.
		if rb := c.quietRunbook(); rb != nil {
			if t, ok := rb.Target(name); ok && t.Default != "" && !t.Secret {
				out = append(out, name+"="+t.Default)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	if rb := c.quietRunbook(); rb != nil {
		for _, t := range rb.Targets {
			desc := string(t.Kind)
			if t.Description != "" {
				desc += ": " + t.Description
			}
			out = append(out, cobra.CompletionWithDesc(t.Name+"=", termsafe.Line(desc)))
		}
	}
	profiles, _ := filepath.Glob(ProfilePath(c.stateDir, "*"))
	for _, p := range profiles {
		name := strings.TrimSuffix(filepath.Base(p), ".env")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && profileNameRE.MatchString(name) {
			out = append(out, cobra.CompletionWithDesc(name, "profile"))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeIDs offers the step and phase ids of the runbook, with their
// titles; start first when withStart.
func (c *common) completeIDs(withStart bool) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	if withStart {
		out = append(out, cobra.CompletionWithDesc("start", "undo everything, latest first"))
	}
	rb := c.quietRunbook()
	if rb == nil {
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	for _, p := range rb.Phases {
		if withStart {
			out = append(out, cobra.CompletionWithDesc(p.ID, termsafe.Line("phase: "+p.Title)))
		}
		for _, s := range p.Steps {
			out = append(out, cobra.CompletionWithDesc(s.ID, termsafe.Line(s.Title)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// writeJSON writes v as indented JSON that is also safe on a terminal:
// encoding/json escapes control characters but not C1 controls or bidi
// overrides, which are escaped here as \uXXXX (the same data to a parser).
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	var out strings.Builder
	out.Grow(len(b) + 1)
	for _, r := range string(b) {
		if (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	out.WriteByte('\n')
	_, err = io.WriteString(w, out.String())
	return err
}
