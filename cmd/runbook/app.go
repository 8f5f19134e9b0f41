package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/actions"
	"github.com/runbook-dev/runbook/steps/gitcp"
	"github.com/runbook-dev/runbook/steps/pg"
	"github.com/spf13/cobra"
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

// common holds the flags every command shares (persistent flags of the
// root command, see flags.go) and what the command learns on the way.
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
	// cmd is the command being run: it says which flags were given.
	cmd *cobra.Command
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
	// day is the day the window is placed on, and why (set by loadRunbook).
	day day
	// store is the shared-run store's connection string (--store,
	// $RUNBOOK_STORE, or a profile's store= line); empty: not shared.
	store string
	// storeFrom says where store came from, for errors.
	storeFrom string
	// ws: pushed checkpoints and the workspace check (workspace.go).
	ws workspaceFlags
	// runID names one run in the store (--run); empty: the latest run of
	// the runbook (real or rehearsal, as --rehearsal says).
	runID string
	// share: the driver's settings for a shared run (share.go).
	share shareFlags
	// team: approvals, followers' notes and notifications (team.go).
	team teamFlags
}

// changed reports whether flag name was given on the command line.
func (c *common) changed(name string) bool {
	if c.cmd == nil {
		return false
	}
	f := c.cmd.Flags().Lookup(name)
	return f != nil && f.Changed
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

// report prints err and maps it to an exit code.
func report(err error, w io.Writer) int {
	if err == nil {
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
	case steps.IsShareFatal(err):
		// The store refused this driver (taken over, a conflict, a
		// missing grant): its own words, not the step's.
		err = shareError(err, 0)
		if errors.As(err, &ee) {
			fmt.Fprintln(w, "runbook:", ee.err)
			return ee.code
		}
		fmt.Fprintln(w, "runbook:", shareFatal(err))
		return exitEnv
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

// loadRunbook reads -f FILE or the embedded runbook, and places it on the
// day of the window.
func (c *common) loadRunbook() (*runbooks.Runbook, error) {
	if !c.profiled {
		c.profiled = true
		if err := c.applyProfiles(); err != nil {
			return nil, err
		}
	}
	rb, err := c.readRunbook()
	if err != nil {
		return nil, err
	}
	if err := c.checkTargets(rb); err != nil {
		return nil, err
	}
	return c.placeOnDay(rb)
}

// readRunbook reads the runbook the flags name: -f FILE, else the embedded
// one named by --runbook.
func (c *common) readRunbook() (*runbooks.Runbook, error) {
	reg := actions.Registry()
	var cache runbooks.Cache
	if lc := newLoadCache(c.stateDir); lc != nil {
		cache = lc
	}
	if c.file != "" {
		return loadFileCached(c.file, c.guides, reg, cache)
	}
	return runbooks.LoadEmbedded(c.name, runbooks.LoadOptions{Actions: reg, Cache: cache})
}

func loadFile(path, guides string, reg runbooks.ActionTypes) (*runbooks.Runbook, error) {
	return loadFileCached(path, guides, reg, nil)
}

// loadFileCached is loadFile through a load cache (nil: none).
func loadFileCached(path, guides string, reg runbooks.ActionTypes, cache runbooks.Cache) (*runbooks.Runbook, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, usagef("runbook file %s: %v", path, errors.Unwrap(err))
	}
	opt := runbooks.LoadOptions{Actions: reg, Cache: cache}
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
	opt.FoldCache, opt.FoldKey = foldCache(c.stateDir)
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
	if opt.Share, err = c.shareOptions(context.Background()); err != nil {
		return nil, err
	}
	if err := c.teamOptions(rb, &opt, warn); err != nil {
		closeShareStore(opt.Share)
		return nil, err
	}
	sess, err := steps.Open(opt)
	if err != nil {
		c.closeTeam()
		closeShareStore(opt.Share)
		return nil, shareError(err, c.share.leaseTimeout)
	}
	if src, ok := opt.Approvals.(*storeSource); ok {
		// Approvals and notes are the driver's own run's.
		src.setRun(sess.ShareStatus().Run)
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
	opts = append(opts, c.workspaceOptions(rb)...)
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
