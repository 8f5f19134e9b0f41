// Package header draws the three lines at the top of the screen: the wall
// clock, the current step against its budget, the phase slot, the
// projected finish, the buffer, ahead/behind, the point-of-no-return
// warning and the overall progress bar. It is a pure function of the
// timing the engine computes.
package header

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/termsafe"
	"github.com/runbook-dev/runbook/ui/common"
	"github.com/runbook-dev/runbook/ui/styles"
)

// Height is the number of lines View returns.
const Height = 3

// Props is what the header draws from.
type Props struct {
	Runbook   *runbooks.Runbook
	Run       *steps.Run
	Timing    steps.Timing
	Score     steps.Score // zero when the runbook has no score
	Operator  string
	Rehearsal bool
	Styles    styles.Styles
	Width     int
}

// View renders exactly Height lines of at most Width cells.
func View(p Props) string {
	st := p.Styles
	t := p.Timing
	loc := p.Runbook.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	w := p.Width

	// Line 1: title on the left, who and the wall clock on the right.
	// The date shows only when the day is not the schedule's: a window
	// resumed the next morning must not look like the same day.
	now := t.Now.In(loc)
	clock := now.Format("Mon 15:04:05 MST")
	if p.Runbook.Schedule.Date != "" && now.Format("2006-01-02") != p.Runbook.Schedule.Date {
		clock = now.Format("Mon 2 Jan 15:04:05 MST")
	}
	right := clock
	if p.Operator != "" {
		right = termsafe.Line(p.Operator) + "  " + clock
	}
	if p.Rehearsal {
		right = "REHEARSAL  " + right
	}
	// A shared run the store lags behind, or that another driver took
	// over: said before who drives, in warning colours.
	share, shareText := "", ""
	if p.Run != nil {
		if share = termsafe.Line(p.Run.Share.String()); share != "" {
			share = ansi.Truncate(share, max(w-ansi.StringWidth(right)-6, 1), "…")
			style := st.Warn
			if p.Run.Share.Stopped != "" {
				style = st.Bad
			}
			shareText = style.Render(share) + "  "
			share += "  "
		}
	}
	title := ansi.Truncate(termsafe.Line(p.Runbook.Title), max(w-ansi.StringWidth(share+right)-2, 1), "…")
	l1 := st.Title.Render(title) + pad(w, title, share+right) + shareText + st.Accent.Render(right)

	// Line 2: the clocks. Long labels when they fit, short ones when not;
	// on a very narrow screen the least important go first.
	// A window on another day: its clock figures would count days (slot
	// over by 402d). Say which day the window is on instead.
	far := t.Now.Sub(t.PlannedEnd) >= 24*time.Hour || t.PlannedStart.Sub(t.Now) >= 24*time.Hour
	var segs []segment
	if cur, ph, ok := current(p); ok && far {
		stt := t.Phases[ph.i].Steps[cur.i]
		timer := fmt.Sprintf("%d/%d %s/%s", cur.n, t.Total, clockDur(stt.Elapsed), clockDur(stt.Budget))
		segs = append(segs, segment{prio: 0, long: st.Running.Render("Step " + timer), short: st.Running.Render(timer)})
	}
	if far {
		day := t.PlannedStart.In(loc).Format("Mon 2 Jan 2006")
		when := "was"
		if t.Now.Before(t.PlannedStart) {
			when = "is"
		}
		segs = append(segs, segment{prio: 1,
			long:  st.Warn.Render("the window's day " + when + " " + day + ", not today: times against the plan are not shown"),
			short: st.Warn.Render("window day " + day + ", not today")})
	} else if cur, ph, ok := current(p); ok {
		stt := t.Phases[ph.i].Steps[cur.i]
		timer := fmt.Sprintf("%d/%d %s/%s", cur.n, t.Total, clockDur(stt.Elapsed), clockDur(stt.Budget))
		style := st.Running
		if stt.Over {
			style = st.Bad
			timer += " over"
		}
		segs = append(segs, segment{prio: 0,
			long:  style.Render("Step "+timer) + " " + common.Bar(st, stt.Elapsed, stt.Budget, 10),
			short: style.Render(timer) + " " + common.Bar(st, stt.Elapsed, stt.Budget, 6)})
		left := ph.t.SlotLeft
		if opens := ph.t.SlotStart.Sub(t.Now); opens > 0 {
			// Before its slot, the time left in it would count the wait.
			segs = append(segs, segment{prio: 3, long: st.Muted.Render("slot opens in " + common.Dur(opens)), short: st.Muted.Render("opens " + common.Dur(opens))})
		} else if left < 0 {
			segs = append(segs, segment{prio: 3, long: st.Bad.Render("slot over by " + common.Dur(-left)), short: st.Bad.Render("slot -" + common.Dur(-left))})
		} else {
			segs = append(segs, segment{prio: 3, long: st.Muted.Render("slot " + common.Dur(left) + " left"), short: st.Muted.Render("slot " + common.Dur(left))})
		}
	} else if t.Total > 0 {
		segs = append(segs, segment{prio: 0, long: st.OK.Render("All steps done"), short: st.OK.Render("All done")})
	}
	if !far {
		segs = appendPace(segs, p)
	}
	l2 := fit(segs, st.Faint.Render(" │ "), w)

	// Line 3: progress, or the point-of-no-return warning which matters more.
	var l3 string
	if t.NoReturn && !far {
		left := t.PlannedEnd.Sub(t.Now)
		l3 = st.Bad.Render(ansi.Truncate(fmt.Sprintf("⚠ Point of no return: undoing what is done takes %s, the window has %s left",
			common.Dur(t.UndoNeeded), common.Dur(max(left, 0))), w, "…"))
	} else {
		pct := 0
		if t.Total > 0 {
			pct = t.Done * 100 / t.Total
		}
		label := fmt.Sprintf(" %d/%d steps %3d%%", t.Done, t.Total, pct)
		if sc := p.Score; len(sc.Areas) > 0 {
			// The score as it rises, from where the window began.
			style := st.Running
			if sc.Met() {
				style = st.OK
			}
			label += "  " + style.Render(fmt.Sprintf("score %.0f→%.0f/%d", sc.Baseline, sc.Total, sc.Target))
		}
		// The day the window is on, always: a window moved to today and
		// one kept on its planned day must not look alike.
		window := fmt.Sprintf("  window %s %s–%s", t.PlannedStart.In(loc).Format("Mon 2 Jan"), t.PlannedStart.In(loc).Format("15:04"), t.PlannedEnd.In(loc).Format("15:04"))
		barW := w - ansi.StringWidth(label) - ansi.StringWidth(window)
		if barW < 10 {
			window = fmt.Sprintf("  %s %s", t.PlannedStart.In(loc).Format("2 Jan"), t.PlannedStart.In(loc).Format("15:04"))
			barW = w - ansi.StringWidth(label) - ansi.StringWidth(window)
		}
		if barW < 10 {
			window = ""
			barW = w - ansi.StringWidth(label)
		}
		l3 = progress(st, t.Done, t.Total, max(barW, 0)) + label + st.Muted.Render(window)
	}
	return l1 + "\n" + l2 + "\n" + l3
}

// appendPace adds the figures of a window under way: projected finish,
// buffer, ahead or behind.
func appendPace(segs []segment, p Props) []segment {
	st, t := p.Styles, p.Timing
	loc := p.Runbook.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	fin := t.ProjectedFinish.In(loc).Format("15:04")
	if y, m, d := t.ProjectedFinish.In(loc).Date(); !sameDay(t.Now.In(loc), y, m, d) {
		// A finish on another day (a rehearsal the day before) says which.
		fin = t.ProjectedFinish.In(loc).Format("Mon 15:04")
	}
	segs = append(segs, segment{prio: 2, long: "finish " + st.Accent.Render(fin), short: "fin " + st.Accent.Render(fin)})
	bstyle := st.OK
	if t.Buffer < 0 {
		bstyle = st.Bad
	}
	segs = append(segs, segment{prio: 2, long: bstyle.Render("buffer " + signed(t.Buffer)), short: bstyle.Render("buf " + signed(t.Buffer))})
	var pace segment
	switch {
	case t.Variance >= time.Minute:
		pace = segment{long: st.Bad.Render("behind " + common.Dur(t.Variance))}
	case t.Variance <= -time.Minute:
		pace = segment{long: st.OK.Render("ahead " + common.Dur(-t.Variance))}
	default:
		pace = segment{long: st.OK.Render("on plan")}
	}
	pace.prio, pace.short = 1, pace.long
	return append(segs, pace)
}

func sameDay(t time.Time, y int, m time.Month, d int) bool {
	ty, tm, td := t.Date()
	return ty == y && tm == m && td == d
}

type pos struct {
	i, n int
	t    steps.PhaseTiming
}

// current finds the current step: its index in its phase, its number in
// the run (1-based), and its phase.
func current(p Props) (stepPos, phasePos pos, ok bool) {
	t := p.Timing
	if t.Current == "" || t.CurrentPhase < 0 || t.CurrentPhase >= len(t.Phases) {
		return pos{}, pos{}, false
	}
	n := 0
	for pi, ph := range t.Phases {
		for si, s := range ph.Steps {
			n++
			if s.ID == t.Current {
				return pos{i: si, n: n}, pos{i: pi, t: ph}, true
			}
		}
	}
	return pos{}, pos{}, false
}

func pad(w int, left, right string) string {
	return strings.Repeat(" ", max(w-ansi.StringWidth(left)-ansi.StringWidth(right), 1))
}

// segment is one figure of the clocks line, in a long and a short form;
// prio 0 is the last to be left out.
type segment struct {
	long, short string
	prio        int
}

// fit joins the segments in their order: all long if they fit, else all
// short, leaving out the least important until the rest fit in w.
func fit(segs []segment, sep string, w int) string {
	join := func(short bool, maxPrio int) (string, int) {
		var b strings.Builder
		used := 0
		for _, s := range segs {
			if s.prio > maxPrio {
				continue
			}
			x := s.long
			if short {
				x = s.short
			}
			if used > 0 {
				b.WriteString(sep)
				used += ansi.StringWidth(sep)
			}
			b.WriteString(x)
			used += ansi.StringWidth(x)
		}
		return b.String(), used
	}
	if s, n := join(false, 99); n <= w {
		return s
	}
	for p := 99; p >= 0; p-- {
		if s, n := join(true, p); n <= w {
			return s
		}
	}
	s, _ := join(true, 0)
	return ansi.Truncate(s, w, "…")
}

func progress(st styles.Styles, done, total, w int) string {
	if w <= 0 {
		return ""
	}
	full := 0
	if total > 0 {
		full = w * done / total
	}
	return st.BarFull.Render(strings.Repeat("━", full)) + st.BarEmpty.Render(strings.Repeat("─", w-full))
}

// clockDur is a running timer: 4:05, 1:02:03, counting whole seconds
// and never below zero.
func clockDur(d time.Duration) string { return steps.FormatClock(max(d, 0).Truncate(time.Second)) }

func signed(d time.Duration) string {
	if d >= 0 {
		return "+" + common.Dur(d)
	}
	return common.Dur(d)
}
