package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps/lab"
)

const labUsage = `Usage:
  runbook lab up [flags]       build what is missing, start the lab, wait until healthy
  runbook lab status [--json]  images, containers and health, ports, workspace, profile
  runbook lab down [flags]     remove the lab's containers and volumes (images stay)
  runbook lab reset [flags]    down, delete workspace and profile, then up afresh

The lab is a disposable local copy of the staging stack, in its state
before the change window, for rehearsals: runbook run --target lab --rehearsal.
"lab status" exits 1 when the lab is not up.
`

// rebuildFlag is --rebuild (every image) or --rebuild=postgres,app.
type rebuildFlag []string

func (r *rebuildFlag) String() string   { return strings.Join(*r, ",") }
func (r *rebuildFlag) IsBoolFlag() bool { return true }
func (r *rebuildFlag) Set(v string) error {
	switch v {
	case "true":
		*r = []string{"all"}
	case "false":
		*r = nil
	default:
		*r = strings.Split(v, ",")
	}
	return nil
}

// runLab is `runbook lab up|status|down|reset`.
func runLab(ctx context.Context, args []string, io Streams, getenv func(string) string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(io.Out, labUsage)
			return nil
		}
		return usagef("lab: name a command: up, status, down or reset\n\n%s", labUsage)
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "up", "status", "down", "reset":
	default:
		return usagef("lab: unknown command %q\n\n%s", sub, labUsage)
	}
	fs := newFlags("lab "+sub, io)
	var opt lab.Options
	var rebuild rebuildFlag
	var asJSON bool
	fs.StringVar(&opt.Dir, "dir", envOr(getenv, "RUNBOOK_LAB_DIR", lab.DefaultDir), "lab `DIR`: workspace/, origin.git and profile.env ($RUNBOOK_LAB_DIR)")
	fs.StringVar(&opt.Project, "project", lab.DefaultProject, "compose project `NAME`")
	fs.StringVar(&opt.Docker, "docker", "", "Docker engine `ENDPOINT` (default $DOCKER_HOST, else the local socket)")
	stateDir := fs.String("state", envOr(getenv, "RUNBOOK_STATE", ".runbook"), "state `DIR` that gets profile \"lab\" (--target lab) ($RUNBOOK_STATE)")
	if sub == "up" || sub == "reset" {
		fs.StringVar(&opt.Source, "source", "", "runbook source tree `DIR` the app image is built from (default: found upward from here)")
		fs.StringVar(&opt.Mirror, "mirror", lab.DefaultMirror, "Debian mirror `URL` for debootstrap")
		fs.Var(&rebuild, "rebuild", "build images even when present: every one, or `LIST` of base,postgres,nginx,app")
		fs.DurationVar(&opt.Timeout, "timeout", 3*time.Minute, "how long to wait for the stack to be healthy")
	}
	if sub == "status" {
		fs.BoolVar(&asJSON, "json", false, "print the status as JSON")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("lab %s: unexpected argument %q", sub, fs.Arg(0))
	}
	opt.Rebuild = rebuild
	profileCopy := ProfilePath(*stateDir, "lab")
	opt.ProfileCopies = []string{profileCopy}
	opt.Progress = func(line string) { fmt.Fprintln(io.Err, line) }
	if sub == "status" {
		opt.Progress = nil
	}
	l, err := lab.Open(opt)
	if err != nil {
		return usagef("lab %s: %v", sub, err)
	}
	defer l.Close()

	switch sub {
	case "status":
		st, err := l.Status(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(io.Out)
			enc.SetIndent("", "  ")
			if err := enc.Encode(st); err != nil {
				return err
			}
		} else {
			st.Write(io.Out)
		}
		if !st.Up() {
			return &exitError{code: exitFailed, err: errors.New("")}
		}
		return nil
	case "down":
		removed, err := l.Down(ctx)
		if err != nil {
			return fmt.Errorf("lab down: %w", err)
		}
		if len(removed) > 0 {
			fmt.Fprintf(io.Out, "removed what compose left: %s\n", strings.Join(removed, ", "))
		}
		fmt.Fprintf(io.Out, "lab %s is down (project %s); images, workspace and profile are kept\n", l.Dir(), l.Project())
		return nil
	}
	var res *lab.UpResult
	if sub == "reset" {
		res, err = l.Reset(ctx)
	} else {
		res, err = l.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("lab %s: %w", sub, err)
	}
	writeUp(io, res, labFlags(fs), profileCopy)
	return nil
}

// labFlags are the flags given that name a lab (dir, project, engine,
// state), to repeat in the commands `lab up` suggests.
func labFlags(fs *flag.FlagSet) map[string]string {
	out := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "dir", "project", "docker", "state":
			out[f.Name] = " --" + f.Name + " " + f.Value.String()
		}
	})
	return out
}

// writeUp says what `lab up` did and how to rehearse.
func writeUp(io Streams, res *lab.UpResult, given map[string]string, profileCopy string) {
	built := "every image reused"
	if len(res.Built) > 0 {
		built = "built: " + strings.Join(res.Built, ", ")
	}
	fmt.Fprintf(io.Out, "lab up in %s (%s)\n", res.Took.Round(100*time.Millisecond), built)
	for _, s := range res.Services {
		health := s.Health
		if health == "" {
			health = s.State
		}
		fmt.Fprintf(io.Out, "  %-6s %-22s %s\n", s.Service, s.Container, health)
	}
	fmt.Fprintf(io.Out, "workspace: %s\n", res.Workspace)
	fmt.Fprintf(io.Out, "profile:   %s (and %s, read by --target lab)\n", res.Profile, profileCopy)
	state := given["state"]
	fmt.Fprintln(io.Out, "rehearse:")
	fmt.Fprintf(io.Out, "  runbook run --headless --target lab --rehearsal%s   # or `runbook --target lab --rehearsal%s`: the terminal UI\n", state, state)
	fmt.Fprintf(io.Out, "  runbook rollback --target lab --rehearsal --to start%s\n", state)
	fmt.Fprintf(io.Out, "  runbook lab down%s%s%s\n", given["dir"], given["project"], given["docker"])
}
