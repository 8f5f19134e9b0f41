// Package runbooks holds the runbook model, its strict YAML loader and the
// runbooks shipped inside the binary. It knows nothing about how actions run:
// the loader asks an ActionTypes registry (supplied by the caller) for a typed
// parameter struct per action and decodes into it strictly.
package runbooks

import (
	"io/fs"
	"time"
)

// Runbook is the plan for one change window.
type Runbook struct {
	ID       string
	Title    string
	Schedule Schedule
	Targets  []Target
	Phases   []Phase
	// Score, when the runbook defines one, rates the state of what the
	// window changes (e.g. a security score); steps raise its areas.
	Score *ScoreModel
	// Checkpoints says where the workspace's checkpoints are pushed.
	Checkpoints Checkpoints
	// Notify lists the webhooks that hear of the run's notable moments
	// (`notify:`; see Webhook).
	Notify []Webhook

	// Source is the file the runbook was read from (for messages).
	Source string
	// Guides is where guide references resolve. Never nil after Load.
	Guides fs.FS
	// Digest is a hash of the runbook source, journaled so a run can tell
	// when the runbook changed under it.
	Digest string

	// guidesDir is the directory of fsys that Guides is (set when Guides
	// came from the runbook's own file system), for the load cache.
	guidesDir string
}

// Schedule places the window in time.
type Schedule struct {
	Date     string // YYYY-MM-DD as written
	Location *time.Location
	// Start is the planned start of the first phase, in Location.
	Start time.Time
}

// TargetKind says what a target points at.
type TargetKind string

// Target kinds known to the format.
const (
	TargetDocker   TargetKind = "docker"
	TargetPostgres TargetKind = "postgres"
	TargetURL      TargetKind = "url"
	TargetDir      TargetKind = "dir"
	// TargetValue is a plain value an action uses (a compose project
	// name, a host name): set like any target, checked by nothing.
	TargetValue TargetKind = "value"
)

// Target is a named endpoint, resolved at run time. Value order: command-line
// flag (--target-NAME or a profile), then the environment variable Env, then
// Default.
type Target struct {
	Name        string
	Kind        TargetKind
	Env         string
	Default     string
	Secret      bool // the value holds a credential: never shown
	Description string
	Pos         Pos
}

// Phase is a named part of a runbook with a time slot.
type Phase struct {
	ID    string
	Title string
	// SlotStart and SlotEnd are absolute times (schedule date + HH:MM).
	SlotStart time.Time
	SlotEnd   time.Time
	// Checkpoint says whether steps of this phase end in a git checkpoint.
	Checkpoint bool
	// OverrunAllowed (`overrun: allowed`) says the steps may be planned
	// past the slot's end; without it, validation refuses such a plan.
	OverrunAllowed bool
	Steps          []Step
	Pos            Pos
}

// Slot is the planned length of the phase.
func (p Phase) Slot() time.Duration { return p.SlotEnd.Sub(p.SlotStart) }

// Budget is the sum of the phase's step budgets.
func (p Phase) Budget() time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		d += s.Budget
	}
	return d
}

// Step is one unit of work.
type Step struct {
	ID        string
	Title     string
	Budget    time.Duration
	Guide     GuideRef
	Checklist []string
	Do        []Action
	Verify    []Action
	Undo      []Action
	// Retries is how many times a failing do is retried automatically.
	Retries int
	// Timeout bounds each action of the step (0: the action's own default).
	Timeout time.Duration
	// Raises maps score areas to the value they reach once this step has
	// succeeded (and is not undone).
	Raises map[string]int
	// UndoBudget is the time the undo is expected to take (default: a third
	// of the budget, at least a minute when the step has undo actions).
	UndoBudget time.Duration
	// Approval, when set, holds the step until others approve it.
	Approval *Approval
	Pos      Pos
}

// Manual reports whether the step needs an operator to confirm it: it has no
// automated do actions, or one of them is a manual action.
func (s Step) Manual() bool {
	if len(s.Do) == 0 {
		return true
	}
	for _, a := range s.Do {
		if a.Type == "manual" {
			return true
		}
	}
	return false
}

// GuideRef points at a heading of a markdown file.
type GuideRef struct {
	File   string
	Anchor string
	Pos    Pos
}

func (g GuideRef) String() string {
	if g.Anchor == "" {
		return g.File
	}
	return g.File + "#" + g.Anchor
}

// Action is one typed operation of a step. Params is the pointer the
// ActionTypes registry returned for Type, filled strictly from the YAML.
type Action struct {
	Type   string
	Name   string
	Params any
	Pos    Pos
}

// ActionTypes is the registry the loader asks for typed parameters.
type ActionTypes interface {
	// NewParams returns a fresh pointer to the parameter struct of an action
	// type, or false when the type is unknown.
	NewParams(typ string) (any, bool)
	// Types lists the known types, for error messages.
	Types() []string
}

// Validator is implemented by parameter structs that check themselves after
// decoding (required fields, ranges).
type Validator interface {
	Validate() error
}

// TargetUse is one target an action acts on.
type TargetUse struct {
	// Key is the parameter that names the target, dotted for nested ones
	// ("target", "baseline.target"); "" when the action names none and
	// uses its family's default.
	Key  string
	Name string
	// Kinds are the target kinds the action works with; none: any.
	Kinds []TargetKind
	// Optional (for a default only) says the action works when the
	// runbook defines no such target: the family falls back to its
	// documented default (DOCKER_HOST, the PG* variables).
	Optional bool
}

// TargetUser is implemented by action parameters that act on targets; the
// loader checks that each exists and is of a kind the action accepts.
type TargetUser interface {
	TargetUses() []TargetUse
}

// StepUse is a step an action names (an undo that restores another step's
// files).
type StepUse struct {
	Key string // the parameter naming it
	ID  string
}

// StepUser is implemented by action parameters that name steps.
type StepUser interface {
	StepUses() []StepUse
}

// Expander is implemented by action parameters that replace ${target.NAME}
// in some of their values. ExpandedKeys lists those parameters' keys,
// dotted for nested ones ("baseline.url"); a key covers every value below
// it ("env" covers each variable's value, "patch" the whole patch). A
// placeholder anywhere else is refused by the loader: it would reach a
// command, a query or a file as written.
type Expander interface {
	ExpandedKeys() []string
}

// StepRef finds a step by id.
func (r *Runbook) StepRef(id string) (phase, step int, ok bool) {
	for i, p := range r.Phases {
		for j, s := range p.Steps {
			if s.ID == id {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// Step finds a step and its phase by id.
func (r *Runbook) Step(id string) (Phase, Step, bool) {
	pi, si, ok := r.StepRef(id)
	if !ok {
		return Phase{}, Step{}, false
	}
	return r.Phases[pi], r.Phases[pi].Steps[si], true
}

// Steps lists every step in order.
func (r *Runbook) Steps() []Step {
	var out []Step
	for _, p := range r.Phases {
		out = append(out, p.Steps...)
	}
	return out
}

// Target finds a target by name.
func (r *Runbook) Target(name string) (Target, bool) {
	for _, t := range r.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// ScoreModel is a weighted score over areas, each starting at a baseline.
type ScoreModel struct {
	Title  string
	Areas  []ScoreArea
	Target int
	Pos    Pos
}

// ScoreArea is one rated area.
type ScoreArea struct {
	ID       string
	Title    string
	Weight   int
	Baseline int
}
