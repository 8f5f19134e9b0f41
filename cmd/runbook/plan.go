package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/spf13/cobra"
)

type planJSON struct {
	Runbook       string    `json:"runbook"`
	Title         string    `json:"title"`
	Timezone      string    `json:"timezone"`
	PlannedStart  time.Time `json:"planned_start"`
	PlannedEnd    time.Time `json:"planned_end"`
	BudgetSeconds int64     `json:"budget_seconds"`
	// Day is the day the window is placed on, and why.
	Day     *day         `json:"day,omitempty"`
	Targets []targetJSON `json:"targets"`
	Phases  []phaseJSON  `json:"phases"`
	// Notify: the runbook's webhooks (by host or variable: a webhook's
	// URL is its secret).
	Notify []webhookJSON `json:"notify,omitempty"`
}

type targetJSON struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Env         string `json:"env,omitempty"`
	From        string `json:"from"`            // flag, $ENV, default or unset
	Value       string `json:"value,omitempty"` // masked when secret
	Description string `json:"description,omitempty"`
}

type phaseJSON struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	SlotStart      time.Time  `json:"slot_start"`
	SlotEnd        time.Time  `json:"slot_end"`
	SlotSeconds    int64      `json:"slot_seconds"`
	BudgetSeconds  int64      `json:"budget_seconds"`
	PlannedStart   time.Time  `json:"planned_start"`
	PlannedEnd     time.Time  `json:"planned_end"`
	OverrunSeconds int64      `json:"overrun_seconds,omitempty"`
	OverrunAllowed bool       `json:"overrun_allowed,omitempty"` // the runbook says `overrun: allowed`
	Steps          []stepJSON `json:"steps"`
}

type stepJSON struct {
	ID                string    `json:"id"`
	Title             string    `json:"title"`
	BudgetSeconds     int64     `json:"budget_seconds"`
	UndoBudgetSeconds int64     `json:"undo_budget_seconds,omitempty"`
	PlannedStart      time.Time `json:"planned_start"`
	PlannedEnd        time.Time `json:"planned_end"`
	Guide             string    `json:"guide"`
	Manual            bool      `json:"manual"`
	Checklist         []string  `json:"checklist,omitempty"`
	// From a journal (--from-journal): what the step took there and the
	// budget that proposes.
	ActualSeconds   *int64       `json:"actual_seconds,omitempty"`
	ProposedSeconds *int64       `json:"proposed_seconds,omitempty"`
	ProposalNote    string       `json:"proposal_note,omitempty"`
	Do              []actionJSON `json:"do,omitempty"`
	Verify          []actionJSON `json:"verify,omitempty"`
	Undo            []actionJSON `json:"undo,omitempty"`

	// Approval: what the step needs before it starts (approval:).
	Approval *approvalJSON `json:"approval,omitempty"`
}

type actionJSON struct {
	Type     string `json:"type"`
	Name     string `json:"name,omitempty"`
	Describe string `json:"describe"`
}

// planOptions are the flags of `runbook plan`.
type planOptions struct {
	*common
	io          Streams
	asJSON      bool
	fromJournal string
}

func newPlanCmd(c *common, io Streams) *cobra.Command {
	opts := &planOptions{common: c, io: io}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "the schedule: phases, steps, budgets, actions and targets",
		Long: `plan prints the day: every phase with its slot, every step with its budget
and the concrete operations of its actions (secrets masked), the targets
and where each value comes from, and the day the window is placed on.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.cmd = cmd
			return planRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, "print the plan as JSON (durations in seconds)")
	cmd.Flags().StringVar(&opts.fromJournal, "from-journal", "", "propose budgets from the actual times in journal `FILE` (e.g. a rehearsal's); with a store, a FILE that does not exist or --run reads the run from the store")
	return cmd
}

func planRun(opts *planOptions) error {
	c, io := opts.common, opts.io
	rb, err := c.loadRunbook()
	if err != nil {
		return err
	}
	red := steps.NewRedactor()
	targets, sources, err := steps.ResolveTargets(rb, c.targetValues(rb), c.getenv, red)
	if err != nil {
		return usagef("%v", err)
	}
	env := &steps.Env{Targets: targets, Redact: red, Workspace: c.workspace}
	p := buildPlan(rb, env)
	d := c.day
	p.Day = &d
	for i, t := range rb.Targets {
		tj := targetJSON{Name: t.Name, Kind: string(t.Kind), Env: t.Env, From: sources[i].From, Description: t.Description}
		if v, ok := targets[t.Name]; ok {
			tj.Value = red.String(v)
			if t.Secret {
				tj.Value = steps.Mask
			}
		}
		p.Targets = append(p.Targets, tj)
	}
	if opts.fromJournal != "" {
		run, torn, err := opts.readFromJournal(rb)
		if err != nil {
			return err
		}
		if run.StartedAt.IsZero() {
			return usagef("--from-journal %s: no run in it", opts.fromJournal)
		}
		if run.Runbook != rb.ID {
			return usagef("--from-journal %s is a run of %q, not %q", opts.fromJournal, termsafe.Line(run.Runbook), rb.ID)
		}
		if torn != nil {
			fmt.Fprintln(io.Err, "runbook: note:", torn)
		}
		propose(&p, steps.ProposeBudgets(rb, run))
	}
	if opts.asJSON {
		return writeJSON(io.Out, p)
	}
	printPlan(io.Out, p)
	return nil
}

func buildPlan(rb *runbooks.Runbook, env *steps.Env) planJSON {
	p := planJSON{Runbook: rb.ID, Title: rb.Title, Timezone: rb.Schedule.Location.String(),
		PlannedStart: rb.Schedule.Start, PlannedEnd: rb.PlannedEnd(), BudgetSeconds: secs(rb.TotalBudget())}
	for _, pp := range rb.Plan() {
		ph := phaseJSON{ID: pp.Phase.ID, Title: pp.Phase.Title, SlotStart: pp.Phase.SlotStart, SlotEnd: pp.Phase.SlotEnd,
			SlotSeconds: secs(pp.Phase.Slot()), BudgetSeconds: secs(pp.Phase.Budget()),
			PlannedStart: pp.Start, PlannedEnd: pp.End, OverrunSeconds: secs(pp.Overrun), OverrunAllowed: pp.Phase.OverrunAllowed}
		for _, ps := range pp.Steps {
			s := ps.Step
			env.Step = s.ID
			ph.Steps = append(ph.Steps, stepJSON{ID: s.ID, Title: s.Title, BudgetSeconds: secs(s.Budget),
				UndoBudgetSeconds: secs(s.UndoBudget), PlannedStart: ps.Start, PlannedEnd: ps.End,
				Guide: s.Guide.String(), Manual: s.Manual(), Checklist: s.Checklist,
				Do: describe(s.Do, env), Verify: describe(s.Verify, env), Undo: describe(s.Undo, env),
				Approval: planApproval(s.Approval)})
		}
		p.Phases = append(p.Phases, ph)
	}
	p.Notify = planWebhooks(rb.Notify)
	return p
}

// propose puts the engine's budget proposals into the plan.
func propose(p *planJSON, props []steps.Proposal) {
	by := make(map[string]steps.Proposal, len(props))
	for _, pr := range props {
		by[pr.Step] = pr
	}
	for i := range p.Phases {
		for j := range p.Phases[i].Steps {
			s := &p.Phases[i].Steps[j]
			pr, ok := by[s.ID]
			if !ok {
				continue
			}
			b := secs(pr.Budget)
			s.ProposedSeconds, s.ProposalNote = &b, pr.Kept
			if pr.HasActual {
				a := secs(pr.Actual)
				s.ActualSeconds = &a
			}
		}
	}
}

func describe(as []runbooks.Action, env *steps.Env) []actionJSON {
	var out []actionJSON
	for _, a := range as {
		out = append(out, actionJSON{Type: a.Type, Name: a.Name, Describe: steps.DescribeAction(a, env)})
	}
	return out
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

func printPlan(w io.Writer, p planJSON) {
	loc := p.PlannedStart.Location()
	fmt.Fprintf(w, "%s — %s\n", termsafe.Line(p.Title), p.Runbook)
	fmt.Fprintf(w, "%s, %s–%s %s; step budgets add up to %s\n", p.PlannedStart.Format("Mon 2 Jan 2006"),
		p.PlannedStart.Format("15:04"), p.PlannedEnd.In(loc).Format("15:04"), p.Timezone, steps.FormatBudget(time.Duration(p.BudgetSeconds)*time.Second))
	if p.Day != nil {
		fmt.Fprintf(w, "Day: %s\n", p.Day)
	}
	if len(p.Targets) > 0 {
		fmt.Fprintf(w, "\nTargets (set with --target NAME=VALUE, a profile, or the variable):\n")
		for _, t := range p.Targets {
			v := termsafe.Line(t.Value)
			if v == "" {
				v = "(unset)"
			}
			env := ""
			if t.Env != "" {
				env = " $" + t.Env
			}
			fmt.Fprintf(w, "  %-12s %-8s %s  [from %s%s]\n", t.Name, t.Kind, v, t.From, map[bool]string{true: "; can be set by" + env, false: ""}[env != "" && t.From != "$"+t.Env])
		}
	}
	printWebhooks(w, p.Notify)
	for _, ph := range p.Phases {
		slot := time.Duration(ph.SlotSeconds) * time.Second
		budget := time.Duration(ph.BudgetSeconds) * time.Second
		overrun := ""
		if ph.OverrunAllowed {
			overrun = " (overrun: allowed)"
		}
		fmt.Fprintf(w, "\n%s  %s–%s  slot %s, budget %s, buffer %s%s\n", termsafe.Line(ph.Title),
			ph.SlotStart.Format("15:04"), ph.SlotEnd.Format("15:04"), steps.FormatBudget(slot), steps.FormatBudget(budget), steps.FormatBudget(slot-budget), overrun)
		for _, s := range ph.Steps {
			kind := ""
			if s.Manual {
				kind = " (manual)"
			}
			fmt.Fprintf(w, "  %s–%s  %-6s %s — %s%s\n", s.PlannedStart.Format("15:04"), s.PlannedEnd.Format("15:04"),
				steps.FormatBudget(time.Duration(s.BudgetSeconds)*time.Second), s.ID, termsafe.Line(s.Title), kind)
			if s.Approval != nil {
				fmt.Fprintf(w, "                %s\n", s.Approval)
			}
			if s.ProposedSeconds != nil {
				actual := "—"
				if s.ActualSeconds != nil {
					actual = steps.FormatSeconds(time.Duration(*s.ActualSeconds) * time.Second)
				}
				note := ""
				if s.ProposalNote != "" {
					note = " (" + s.ProposalNote + ")"
				}
				fmt.Fprintf(w, "                budget %s, took %s → propose %s%s\n", steps.FormatBudget(time.Duration(s.BudgetSeconds)*time.Second),
					actual, steps.FormatBudget(time.Duration(*s.ProposedSeconds)*time.Second), note)
			}
			for _, group := range []struct {
				name string
				acts []actionJSON
			}{{"do", s.Do}, {"verify", s.Verify}, {"undo", s.Undo}} {
				for _, a := range group.acts {
					fmt.Fprintf(w, "                %-6s %s\n", group.name, termsafe.Line(firstLine(a.Describe)))
				}
			}
		}
		if ph.OverrunSeconds > 0 {
			fmt.Fprintf(w, "  ! the steps run %s past the slot's end%s\n", steps.FormatBudget(time.Duration(ph.OverrunSeconds)*time.Second), overrun)
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
