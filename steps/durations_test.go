package steps

import (
	"testing"
	"time"
)

func TestDurationFormats(t *testing.T) {
	for _, tt := range []struct {
		d                                        time.Duration
		clock, budget, elapsed, seconds, compact string
	}{
		{0, "0:00", "0m", "0s", "0s", "0s"},
		{45*time.Second + 400*time.Millisecond, "0:45", "1m", "45s", "45s", "45s"},
		{59*time.Second + 600*time.Millisecond, "1:00", "1m", "1m", "1m00s", "59s"},
		{4*time.Minute + 12*time.Second, "4:12", "4m", "4m12s", "4m12s", "4m"},
		{5 * time.Minute, "5:00", "5m", "5m", "5m00s", "5m"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1:02:03", "1h02m", "1h2m3s", "1h02m03s", "1h02"},
		{90 * time.Minute, "1:30:00", "1h30m", "1h30m", "1h30m00s", "1h30"},
		{2 * time.Hour, "2:00:00", "2h00m", "2h", "2h00m00s", "2h"},
		{27*time.Hour + 5*time.Minute, "27:05:00", "27h05m", "27h5m", "27h05m00s", "1d03h"},
		{-10 * time.Minute, "-10:00", "-10m", "0s", "-10m00s", "-10m"},
	} {
		if got := FormatClock(tt.d); got != tt.clock {
			t.Errorf("FormatClock(%s) = %q, want %q", tt.d, got, tt.clock)
		}
		if got := FormatBudget(tt.d); got != tt.budget {
			t.Errorf("FormatBudget(%s) = %q, want %q", tt.d, got, tt.budget)
		}
		if got := FormatElapsed(tt.d); got != tt.elapsed {
			t.Errorf("FormatElapsed(%s) = %q, want %q", tt.d, got, tt.elapsed)
		}
		if got := FormatSeconds(tt.d); got != tt.seconds {
			t.Errorf("FormatSeconds(%s) = %q, want %q", tt.d, got, tt.seconds)
		}
		if got := FormatCompact(tt.d); got != tt.compact {
			t.Errorf("FormatCompact(%s) = %q, want %q", tt.d, got, tt.compact)
		}
	}
}
