package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/steps/gitcp"
	"github.com/runbook-dev/runbook/steps/pg"
)

// Exit codes. Documented in the README; scripts rely on them.
const (
	exitOK         = 0   // everything asked for is done
	exitFailed     = 1   // a step failed (or a manual step was not confirmed)
	exitUsage      = 2   // bad command line or invalid runbook
	exitLocked     = 3   // another operator holds the run
	exitNeedsOp    = 4   // a dirty step needs the operator's decision
	exitEnv        = 5   // the state directory, journal or a target cannot be used
	exitSignal     = 130 // interrupted (SIGINT/SIGTERM); the step's end is journaled
	defaultRunbook = "phase1-security-hardening"
)

// Streams are the process's standard streams (swapped in tests).
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// common holds the flags every command shares.
type common struct {
	file      string
	name      string
	guides    string
	date      string
	stateDir  string
	workspace string
	operator  string
	takeOver  bool
	debug     bool
	// rehearsal: a rehearsal run (e.g. against the lab). Its state lives
	// apart from the real run's (STATE/rehearsal unless --state is given),
	// so the real window never resumes a rehearsal.
	rehearsal bool
	targets   targetFlags
	getenv    func(string) string
	flags     *flag.FlagSet
	// profile holds target values read from profiles (--target NAME).
	profile  map[string]string
	profiled bool
	// confirmManualUndo: manual undo actions are taken as done.
	confirmManualUndo bool
	// noDBLock: go on when the database run lock cannot be taken.
	noDBLock bool
	// todayByDefault: with no --date and no run yet, the window is today
	// (a rehearsal runs now, not on the day the runbook was planned for).
	todayByDefault bool
	// workspaceSet: the workspace was named (flag, environment, profile);
	// only then do checkpoints go into it.
	workspaceSet bool
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

func (t targetFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		// A bare name is a profile: remembered in order under a key no
		// target name can have.
		if !profileNameRE.MatchString(v) {
			return fmt.Errorf("want NAME=VALUE or a profile name, got %q", v)
		}
		t[profileKey] = strings.TrimPrefix(t[profileKey]+","+v, ",")
		return nil
	}
	if k == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	t[k] = val
	return nil
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	c.targets = targetFlags{profileKey: ""}
	c.getenv = getenv
	c.flags = fs
	fs.StringVar(&c.file, "f", "", "runbook `FILE` (default: the embedded "+defaultRunbook+")")
	fs.StringVar(&c.name, "runbook", defaultRunbook, "embedded runbook `NAME`")
	fs.StringVar(&c.guides, "guides", "", "guide `DIR` for -f (default: beside the runbook file)")
	fs.StringVar(&c.date, "date", envOr(getenv, "RUNBOOK_DATE", ""), "day of the window, `YYYY-MM-DD` or today (default: the day the run started, else the runbook's date) ($RUNBOOK_DATE)")
	fs.StringVar(&c.stateDir, "state", envOr(getenv, "RUNBOOK_STATE", ".runbook"), "state `DIR`: journal, lock, logs ($RUNBOOK_STATE)")
	fs.StringVar(&c.workspace, "workspace", envOr(getenv, "RUNBOOK_WORKSPACE", "."), "workspace `DIR`: the repository steps edit and checkpoint ($RUNBOOK_WORKSPACE)")
	fs.StringVar(&c.operator, "operator", envOr(getenv, "RUNBOOK_OPERATOR", currentUser()), "operator `NAME` recorded in the journal ($RUNBOOK_OPERATOR)")
	fs.BoolVar(&c.takeOver, "take-over", false, "take over a stale lock left by a session that died")
	fs.BoolVar(&c.rehearsal, "rehearsal", false, "a rehearsal: manual steps are auto-confirmed and journaled as such; state in STATE/rehearsal unless --state is given")
	fs.BoolVar(&c.debug, "debug", false, "write a debug log to the state directory")
	fs.BoolVar(&c.noDBLock, "no-db-lock", false, "go on when the run lock on the database target cannot be taken (unreachable or refused credentials)")
	fs.Var(c.targets, "target", "set a target: `NAME=VALUE` (repeatable; overrides its environment variable)")
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "operator"
}

// usageError is a bad command line: exit 2 with the message.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code chosen by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

const helpText = `runbook carries a team through a timed change window.

Usage:
  runbook [flags]                 open the runbook in the terminal UI
  runbook plan [--json]           the schedule: phases, steps, budgets, actions
  runbook validate FILE...        check runbook files; print every problem
  runbook status [--json]         where the run stands, from its journal
  runbook run --headless          run without the UI, plain log lines
  runbook report [-o FILE]        markdown report: planned vs actual
  runbook rollback --to start     undo what the run did, latest first (or --to STEP|PHASE)
  runbook lab up|status|down|reset  the local rehearsal lab (see "runbook lab -h")
  runbook help                    this text

Common flags (every command): -f FILE, --runbook NAME, --state DIR,
--workspace DIR, --operator NAME, --target NAME=VALUE, --take-over, --debug.
Run "runbook COMMAND -h" for a command's flags.

Exit codes: 0 ok, 1 a step failed, 2 usage or invalid runbook, 3 locked by
another operator, 4 a dirty step needs a decision, 5 state or target unusable,
130 interrupted.
`

// Main runs one command line and returns the exit code.
func Main(ctx context.Context, args []string, io Streams, getenv func(string) string) int {
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "", "tui":
		err = runTUI(ctx, args, io, getenv)
	case "plan":
		err = runPlan(args, io, getenv)
	case "validate":
		err = runValidate(args, io, getenv)
	case "status":
		err = runStatus(args, io, getenv)
	case "run":
		err = runHeadless(ctx, args, io, getenv)
	case "report":
		err = runReport(args, io, getenv)
	case "rollback":
		err = runRollback(ctx, args, io, getenv)
	case "lab":
		err = runLab(ctx, args, io, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(io.Out, helpText)
		return exitOK
	default:
		fmt.Fprintf(io.Err, "runbook: unknown command %q\n\n%s", cmd, helpText)
		return exitUsage
	}
	return report(err, io.Err)
}

// report prints err and maps it to an exit code.
func report(err error, w io.Writer) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var (
		ue  *usageError
		ee  *exitError
		le  *steps.LockedError
		dh  *steps.DBLockHeldError
		rbe runbooks.Errors
		se  *steps.StepError
	)
	switch {
	case errors.As(err, &ee):
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(w, "runbook:", ee.err)
		}
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(w, "runbook:", ue.msg)
		return exitUsage
	case errors.As(err, &le):
		fmt.Fprintln(w, "runbook:", le)
		return exitLocked
	case errors.As(err, &dh):
		fmt.Fprintln(w, "runbook:", dh)
		return exitLocked
	case errors.As(err, &rbe):
		fmt.Fprintln(w, rbe)
		return exitUsage
	case errors.As(err, &se):
		fmt.Fprintln(w, "runbook:", se)
		return exitFailed
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "runbook: interrupted")
		return exitSignal
	}
	fmt.Fprintln(w, "runbook:", err)
	return exitEnv
}

func newFlags(name string, io Streams) *flag.FlagSet {
	fs := flag.NewFlagSet("runbook "+name, flag.ContinueOnError)
	fs.SetOutput(io.Err)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	return nil
}

// loadRunbook reads -f FILE or the embedded runbook, and places it on the
// day of the window.
func (c *common) loadRunbook() (*runbooks.Runbook, error) {
	if !c.profiled {
		c.profiled = true
		if err := c.applyProfiles(c.flags); err != nil {
			return nil, err
		}
	}
	reg := actions.Registry()
	var rb *runbooks.Runbook
	var err error
	if c.file != "" {
		rb, err = loadFile(c.file, c.guides, reg)
	} else {
		rb, err = runbooks.LoadEmbedded(c.name, runbooks.LoadOptions{Actions: reg})
	}
	if err != nil {
		return nil, err
	}
	date := c.date
	if date == "today" {
		date = time.Now().In(rb.Schedule.Location).Format("2006-01-02")
	}
	if date == "" {
		// A run keeps the day it started on, even when resumed later.
		// Its first record says which: nothing more is read.
		first, ok, err := steps.ReadFirstEvent(steps.JournalPath(c.stateDir, rb.ID))
		if err == nil && ok && first.Kind == steps.EvRunStarted {
			date = first.Date
		}
	}
	if date == "" && c.todayByDefault {
		date = time.Now().In(rb.Schedule.Location).Format("2006-01-02")
	}
	if date == "" || date == rb.Schedule.Date {
		return rb, nil
	}
	moved, err := rb.OnDate(date)
	if err != nil {
		return nil, usagef("--date: %v", err)
	}
	return moved, nil
}

func loadFile(path, guides string, reg runbooks.ActionTypes) (*runbooks.Runbook, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, usagef("runbook file %s: %v", path, errors.Unwrap(err))
	}
	opt := runbooks.LoadOptions{Actions: reg}
	if guides != "" {
		if fi, err := os.Stat(guides); err != nil || !fi.IsDir() {
			return nil, usagef("--guides %s: not a directory", guides)
		}
		opt.Guides = os.DirFS(guides)
	}
	rb, err := runbooks.Load(os.DirFS(filepath.Dir(abs)), filepath.Base(abs), opt)
	if errs, ok := err.(runbooks.Errors); ok {
		// Positions name the file as the operator wrote it.
		for _, e := range errs {
			e.Pos.File = path
		}
		return nil, errs
	}
	return rb, err
}

// openSession takes the lock and the journal for a run of rb, with its
// checkpoint repository, and the run lock on its database target. warn
// receives what the operator should know but need not stop for.
func (c *common) openSession(rb *runbooks.Runbook, out func(step, line string), rehearsal bool, warn func(string)) (*steps.Session, error) {
	red := steps.NewRedactor()
	targets, _, err := steps.ResolveTargets(rb, c.targetValues(rb), c.getenv, red)
	if err != nil {
		return nil, usagef("%v", err)
	}
	ws, err := filepath.Abs(c.workspace)
	if err != nil {
		return nil, err
	}
	cp, err := c.checkpointer(rb, ws, red)
	if err != nil {
		return nil, err
	}
	opt := steps.Options{
		Runbook: rb, StateDir: c.stateDir, Workspace: ws, Operator: c.operator,
		TakeOver: c.takeOver, Targets: targets, Redactor: red, Output: out, Rehearsal: rehearsal,
		Checkpointer: cp, ConfirmManualUndo: c.confirmManualUndo,
	}
	if err := crashHooks(c.getenv, &opt); err != nil {
		return nil, err
	}
	// The engine takes, keeps and releases the run lock on the database.
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s on %s (pid %d) since %s", c.operator, host, os.Getpid(), time.Now().UTC().Format("2006-01-02 15:04Z"))
	if l := pg.NewRunLock(rb, targets, c.getenv, holder); l != nil {
		opt.DBLock = l
	}
	opt.AllowNoDBLock = c.noDBLock
	if c.debug {
		// The engine's debug events: action start and end, journal
		// appends, lock changes.
		dir := steps.RunDir(c.stateDir, rb.ID)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, "debug.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open debug log: %w", err)
		}
		opt.Log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sess, err := steps.Open(opt)
	if err != nil {
		return nil, err
	}
	for _, w := range sess.Recovered.Warnings {
		if warn != nil {
			warn(w)
		}
	}
	return sess, nil
}

// checkpointer is the workspace repository when the workspace was named,
// else a repository of runbook's own in the state directory.
func (c *common) checkpointer(rb *runbooks.Runbook, ws string, red *steps.Redactor) (steps.Checkpointer, error) {
	opts := []gitcp.Option{gitcp.WithRunbook(rb.ID), gitcp.WithStateDir(c.stateDir), gitcp.WithRedactor(red)}
	opts = append(opts, crashCheckpoint(c.getenv)...)
	if c.workspaceSet {
		repo, err := gitcp.Open(ws, opts...)
		if err != nil {
			return nil, err
		}
		return repo, nil
	}
	repo, err := gitcp.InitPrivate(filepath.Join(steps.RunDir(c.stateDir, rb.ID), "checkpoints"), opts...)
	if err != nil {
		return nil, fmt.Errorf("checkpoint repository in the state directory: %w", err)
	}
	return repo, nil
}
