package gitcp

import (
	"fmt"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
)

func subject(msg string) string {
	s, _, _ := strings.Cut(msg, "\n")
	return s
}

// message is the checkpoint commit message: a subject naming step, title,
// outcome and time against budget; a body; trailers.
func (r *Repo) message(req steps.CheckpointRequest, id string, now time.Time) string {
	st := req.State
	elapsed := st.Elapsed(now)
	var b strings.Builder
	title := strings.TrimSpace(req.Step.ID + " " + req.Step.Title)
	switch {
	case req.Undo:
		fmt.Fprintf(&b, "runbook: undo %s — undone", title)
	case st.Status == steps.Skipped:
		fmt.Fprintf(&b, "runbook: %s — skipped", title)
		if st.Reason != "" {
			b.WriteString(": " + oneLine(st.Reason))
		}
	case st.Status == steps.Succeeded && st.MarkedDone:
		fmt.Fprintf(&b, "runbook: %s — marked done", title)
		if st.Reason != "" {
			b.WriteString(": " + oneLine(st.Reason))
		}
	default:
		fmt.Fprintf(&b, "runbook: %s — %s in %s of %s", title, st.Status, FormatDuration(elapsed), FormatDuration(req.Step.Budget))
	}
	b.WriteString("\n\n")
	if req.Phase.ID != "" {
		fmt.Fprintf(&b, "Phase: %s", req.Phase.ID)
		if req.Phase.Title != "" {
			fmt.Fprintf(&b, " — %s", req.Phase.Title)
		}
		b.WriteString("\n")
	}
	if st.Attempts > 0 {
		fmt.Fprintf(&b, "Attempts: %d\n", st.Attempts)
	}
	if req.Step.Budget > 0 {
		fmt.Fprintf(&b, "Work time: %s of a %s budget", FormatDuration(elapsed), FormatDuration(req.Step.Budget))
		if over := elapsed - req.Step.Budget; over >= time.Second {
			fmt.Fprintf(&b, " (over by %s)", FormatDuration(over))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	if id != "" {
		fmt.Fprintf(&b, "%s: %s\n", TrailerRunbook, id)
	}
	fmt.Fprintf(&b, "%s: %s\n", TrailerStep, req.Step.ID)
	outcome := st.Status.String()
	switch {
	case req.Undo:
		outcome = "undone"
	case st.Status == steps.Succeeded && st.MarkedDone:
		outcome = "marked done"
	}
	fmt.Fprintf(&b, "%s: %s\n", TrailerOutcome, outcome)
	if req.Undo {
		fmt.Fprintf(&b, "%s: true\n", TrailerUndo)
	}
	// Titles, reasons and phase names come from the runbook and the
	// operator: a commit message never carries their escape sequences.
	return termsafe.Text(r.cfg.redact.String(b.String()))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// FormatDuration writes a duration the way people say it: 4m12s, 5m, 1h,
// 1h30m, 45s (whole seconds).
func FormatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// trailers parses the trailer block of a commit message.
func trailers(msg string) map[string]string {
	msg = strings.TrimRight(msg, "\n")
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 {
		return nil
	}
	out := map[string]string{}
	for _, l := range strings.Split(msg[i+2:], "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if ok && !strings.ContainsAny(k, " \t") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}
