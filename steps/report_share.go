package steps

import (
	"fmt"
	"strings"
	"time"
)

// Decisions counts what people decided in a run, beyond starting steps:
// approvals given, skips, steps marked done.
type Decisions struct {
	Approvals  int
	Skipped    int
	MarkedDone int
}

// Total is every decision counted.
func (d Decisions) Total() int { return d.Approvals + d.Skipped + d.MarkedDone }

// CountDecisions counts a run's decisions from its fold.
func CountDecisions(run *Run) Decisions {
	var d Decisions
	for _, st := range run.Steps {
		d.Approvals += len(st.Approvals)
		switch {
		case st.Status == Skipped:
			d.Skipped++
		case st.Status == Succeeded && st.MarkedDone:
			d.MarkedDone++
		}
	}
	return d
}

func decisionsText(d Decisions) string {
	if d.Total() == 0 {
		return "none"
	}
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(d.Approvals, "approval", "approvals")
	add(d.Skipped, "skip", "skips")
	add(d.MarkedDone, "step marked done", "steps marked done")
	return fmt.Sprintf("%d (%s)", d.Total(), strings.Join(parts, ", "))
}

// ViaText says where an approval was given, in words.
func ViaText(via string) string {
	switch via {
	case ViaStore:
		return "through the store"
	case ViaDriver:
		return "on the driver's machine"
	case ViaRehearsal:
		return "by the rehearsal itself"
	}
	return via
}

func approvalLine(step string, a Approval, loc *time.Location, red *Redactor) string {
	line := fmt.Sprintf("- **%s** approved by %s on %s at %s, %s", step, md(red.String(a.By)), md(red.String(a.Host)), a.At.In(loc).Format("15:04:05"), ViaText(a.Via))
	if a.Reason != "" {
		line += ": " + md(red.String(a.Reason))
	}
	return line
}
