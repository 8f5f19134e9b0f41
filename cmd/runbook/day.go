package main

import (
	"time"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
)

// day is the day a command places the window on, and why.
type day struct {
	Date string `json:"date"` // YYYY-MM-DD
	// From says where the day comes from: "--date", "the run" (a run keeps
	// the day it started on), "today (rehearsal)" or "planned" (the
	// runbook's own date).
	From string `json:"from"`
	// Planned is the runbook's own date.
	Planned string `json:"planned"`
	// Undecided: no run yet, no --date, and the planned day is not today.
	// A new run must not start on it unasked: headless refuses, the UI asks.
	Undecided bool `json:"undecided,omitempty"`
	// Today is today's date in the runbook's time zone.
	Today string `json:"today"`
}

const dayLayout = "2006-01-02"

// placeOnDay moves rb to the day of the window: --date, else the day the
// run started on, else today for a rehearsal, else the planned day (which
// is Undecided when it is not today).
func (c *common) placeOnDay(rb *runbooks.Runbook) (*runbooks.Runbook, error) {
	loc := rb.Schedule.Location
	today := time.Now().In(loc).Format(dayLayout)
	c.day = day{Planned: rb.Schedule.Date, Today: today}
	var runDate string
	// A run keeps the day it started on; its first record says which, and
	// nothing more of the journal is read.
	first, ok, err := steps.ReadFirstEvent(steps.JournalPath(c.stateDir, rb.ID))
	if err == nil && ok && first.Kind == steps.EvRunStarted {
		runDate = first.Date
	}
	switch {
	case c.date != "":
		d := c.date
		if d == "today" {
			d = today
		}
		if _, err := time.ParseInLocation(dayLayout, d, loc); err != nil {
			return nil, usagef("--date %q: want YYYY-MM-DD or today", c.date)
		}
		if runDate != "" && runDate != d {
			// A run keeps its day: moving it would shift every figure of
			// the steps already done.
			return nil, usagef("--date %s: the run in %s started on %s and keeps that day (leave --date out, or use another --state for a new run)",
				d, c.stateDir, runDate)
		}
		c.day.Date, c.day.From = d, "--date"
	case runDate != "":
		c.day.Date, c.day.From = runDate, "the run"
	case c.todayByDefault:
		c.day.Date, c.day.From = today, "today (rehearsal)"
	default:
		c.day.Date, c.day.From = rb.Schedule.Date, "planned"
		c.day.Undecided = rb.Schedule.Date != today
	}
	if c.day.Date == rb.Schedule.Date {
		return rb, nil
	}
	moved, err := rb.OnDate(c.day.Date)
	if err != nil {
		return nil, usagef("--date: %v", err)
	}
	return moved, nil
}

// String says which day is used, for plan and status.
func (d day) String() string {
	t, err := time.Parse(dayLayout, d.Date)
	if err != nil {
		return d.Date
	}
	s := t.Format("Mon 2 Jan 2006")
	switch d.From {
	case "--date":
		s += " (from --date)"
	case "the run":
		s += " (the day the run started on)"
	case "today (rehearsal)":
		s += " (today: a rehearsal runs now)"
	default:
		s += " (the runbook's planned day)"
	}
	if d.Undecided {
		s += "; today is " + d.Today + ": a new run asks which day (headless: --date today or --date " + d.Planned + ")"
	}
	return s
}

// refuseUndecided is headless's answer to an undecided day: a run must not
// start on a day nobody chose.
func (d day) refuseUndecided() error {
	if !d.Undecided {
		return nil
	}
	planned, _ := time.Parse(dayLayout, d.Planned)
	return usagef("no run yet, and the runbook is planned for %s, not today (%s): pass --date today to hold the window today, or --date %s to keep the planned day",
		planned.Format("Mon 2 Jan 2006"), d.Today, d.Planned)
}
