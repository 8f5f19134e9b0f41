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
