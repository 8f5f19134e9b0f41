package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/runbook-dev/runbook/steps/lab"
)

const labLong = `The lab is a disposable local copy of the staging stack, in its state
before the change window, for rehearsals:

  runbook lab up       build what is missing, start the lab, wait until healthy
  runbook lab status   images, containers and health, ports, workspace, profile
  runbook lab down     remove the lab's containers and volumes (images stay)
  runbook lab reset    down, delete workspace and profile, then up afresh

then: runbook run --headless --target lab --rehearsal.
"lab status" exits 1 when the lab is not up.`

// rebuildFlag is --rebuild (every image) or --rebuild=postgres,app.
type rebuildFlag []string

func (r *rebuildFlag) String() string { return strings.Join(*r, ",") }
func (r *rebuildFlag) Type() string   { return "LIST" }
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

// labOptions are the flags of `runbook lab up|status|down|reset`.
type labOptions struct {
	io       Streams
	opt      lab.Options
	rebuild  rebuildFlag
	asJSON   bool
	stateDir string
}

func newLabCmd(ctx context.Context, io Streams, getenv func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "the local rehearsal lab: up, status, down, reset",
		Long:  labLong,
		// fly → no; stauts → status.
		SuggestionsMinimumDistance: 2,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("lab: name a command: up, status, down or reset\nRun 'runbook lab --help' for usage.")
			}
			return unknownCommand(cmd, args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error { return nil },
	}
	for _, sub := range []struct{ name, short string }{
		{"up", "build what is missing, start the lab, wait until healthy"},
		{"status", "images, containers and health, ports, workspace, profile"},
		{"down", "remove the lab's containers and volumes (images stay)"},
		{"reset", "down, delete workspace and profile, then up afresh"},
	} {
		opts := &labOptions{io: io}
		c := &cobra.Command{
			Use:   sub.name,
			Short: sub.short,
			Args:  noArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return labRun(ctx, cmd, sub.name, opts)
			},
		}
		fs := c.Flags()
		fs.StringVar(&opts.opt.Dir, "dir", envOr(getenv, "RUNBOOK_LAB_DIR", lab.DefaultDir), "lab `DIR`: workspace/, origin.git and profile.env ($RUNBOOK_LAB_DIR)")
		fs.StringVar(&opts.opt.Project, "project", lab.DefaultProject, "compose project `NAME`")
		fs.StringVar(&opts.opt.Docker, "docker", "", "Docker engine `ENDPOINT` (default $DOCKER_HOST, else the local socket)")
		// Local: shadows the shared --state with the same meaning and a
		// lab's own wording.
		fs.StringVar(&opts.stateDir, "state", envOr(getenv, "RUNBOOK_STATE", ".runbook"), "state `DIR` that gets profile \"lab\" (--target lab) ($RUNBOOK_STATE)")
		if sub.name == "up" || sub.name == "reset" {
			fs.StringVar(&opts.opt.Source, "source", "", "runbook source tree `DIR` the app image is built from (default: found upward from here)")
			fs.StringVar(&opts.opt.Mirror, "mirror", lab.DefaultMirror, "Debian mirror `URL` for debootstrap")
			fs.Var(&opts.rebuild, "rebuild", "build images even when present: every one, or `LIST` of base,postgres,nginx,app")
			fs.Lookup("rebuild").NoOptDefVal = "true"
			fs.DurationVar(&opts.opt.Timeout, "timeout", 3*time.Minute, "how long to wait for the stack to be healthy")
		}
		if sub.name == "status" {
			fs.BoolVar(&opts.asJSON, "json", false, "print the status as JSON")
		}
		cmd.AddCommand(c)
	}
	return cmd
}

// labRun is `runbook lab up|status|down|reset`.
func labRun(ctx context.Context, cmd *cobra.Command, sub string, o *labOptions) error {
	io, opt := o.io, o.opt
	opt.Rebuild = o.rebuild
	profileCopy := ProfilePath(o.stateDir, "lab")
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
		if o.asJSON {
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
	writeUp(io, res, labFlags(cmd), profileCopy)
	return nil
}

// labFlags are the flags given that name a lab (dir, project, engine,
// state), to repeat in the commands `lab up` suggests.
func labFlags(cmd *cobra.Command) map[string]string {
	out := map[string]string{}
	cmd.Flags().Visit(func(f *pflag.Flag) {
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
	for _, s := range res.Store {
		fmt.Fprintf(io.Out, "  %-6s %-22s %s (the shared-run store)\n", s.Service, s.Container, s.Health)
	}
	fmt.Fprintf(io.Out, "workspace: %s\n", res.Workspace)
	fmt.Fprintf(io.Out, "profile:   %s (and %s, read by --target lab)\n", res.Profile, profileCopy)
	if res.StoreDSN != "" {
		fmt.Fprintf(io.Out, "store:     %s (store= in the profile: runs with --target lab are shared)\n", res.StoreDSN)
	}
	state := given["state"]
	fmt.Fprintln(io.Out, "rehearse:")
	fmt.Fprintf(io.Out, "  runbook run --headless --target lab --rehearsal%s   # or `runbook --target lab --rehearsal%s`: the terminal UI\n", state, state)
	fmt.Fprintf(io.Out, "  runbook rollback --target lab --rehearsal --to start%s\n", state)
	fmt.Fprintf(io.Out, "  runbook follow --target lab --rehearsal%s   # from another terminal: the same run, read-only\n", state)
	fmt.Fprintf(io.Out, "  runbook lab down%s%s%s\n", given["dir"], given["project"], given["docker"])
}
