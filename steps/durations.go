package steps

import (
	"fmt"
	"strings"
	"time"
)

// One duration format per purpose, for every front end and report:
//
//	FormatClock   a clock or timer: 4:05, 1:02:03 (whole seconds)
//	FormatBudget  a plan figure: 45m, 1h05m, -10m (whole minutes)
//	FormatElapsed work time as people say it: 45s, 4m12s, 5m, 1h30m
//	FormatSeconds a figure in a table, to the second: 45s, 4m05s, 1h02m03s
//	FormatCompact a figure in a narrow column: 45s, 12m, 1h05, 2h, 3d04h

// FormatClock writes d as a timer, m:ss or h:mm:ss, rounded to the second;
// a negative d gets a leading "-".
func FormatClock(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	if h > 0 {
		return fmt.Sprintf("%s%d:%02d:%02d", sign, h, m, s)
	}
	return fmt.Sprintf("%s%d:%02d", sign, m, s)
}

// FormatBudget writes d as a plan figure in whole minutes: 45m, 1h05m,
// 2h00m; a negative d gets a leading "-".
func FormatBudget(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if h == 0 {
		return fmt.Sprintf("%s%dm", sign, m)
	}
	return fmt.Sprintf("%s%dh%02dm", sign, h, m)
}

// FormatElapsed writes work time the way people say it, in whole seconds:
// 45s, 4m12s, 5m, 1h, 1h30m. Zero or less is "0s".
func FormatElapsed(d time.Duration) string {
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

// FormatSeconds writes d to the second with fixed two-digit fields after
// the first, so a column of them reads evenly: 45s, 4m05s, 1h02m03s; a
// negative d gets a leading "-".
func FormatSeconds(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%s%ds", sign, int(d.Seconds()))
	}
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%s%dh%02dm%02ds", sign, h, m, s)
	}
	return fmt.Sprintf("%s%dm%02ds", sign, m, s)
}

// FormatCompact writes d in at most two units, truncated, for a narrow
// column: 45s, 12m, 1h05, 2h, 3d04h; a negative d gets a leading "-".
func FormatCompact(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d >= 24*time.Hour:
		s = fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	default:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			s = fmt.Sprintf("%dh", h)
		} else {
			s = fmt.Sprintf("%dh%02d", h, m)
		}
	}
	if neg {
		return "-" + s
	}
	return s
}
