package common

import (
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/ui/styles"
)

func TestDur(t *testing.T) {
	cases := map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 5 * time.Minute: "5m", 59*time.Minute + 59*time.Second: "59m",
		time.Hour: "1h", time.Hour + 5*time.Minute: "1h05", 23 * time.Hour: "23h", 26 * time.Hour: "1d02h",
		400*24*time.Hour + 5*time.Hour: "400d05h", -90 * time.Second: "-1m",
	}
	for d, want := range cases {
		if got := Dur(d); got != want {
			t.Errorf("Dur(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestBar(t *testing.T) {
	st := styles.New(styles.Theme{NoColor: true})
	cases := []struct {
		used, budget time.Duration
		want         string
	}{
		{0, 10 * time.Minute, "░░░░"},
		{time.Second, 10 * time.Minute, "▏░░░"},     // any work shows, as a sliver
		{3 * time.Minute, 10 * time.Minute, "█▏░░"}, // 9.6 of 32 eighths
		{5 * time.Minute, 10 * time.Minute, "██░░"},
		{9*time.Minute + 50*time.Second, 10 * time.Minute, "███▉"},
		{10 * time.Minute, 10 * time.Minute, "████"},
		{11 * time.Minute, 10 * time.Minute, "████"},
		{time.Minute, 0, "░░░░"},
	}
	for _, c := range cases {
		if got := ansi.Strip(Bar(st, c.used, c.budget, 4)); got != c.want {
			t.Errorf("Bar(%s of %s) = %q, want %q", c.used, c.budget, got, c.want)
		}
	}
	// Over budget is drawn in another colour than inside it.
	dark := styles.New(styles.Theme{Dark: true})
	if Bar(dark, 11*time.Minute, 10*time.Minute, 4) == Bar(dark, 10*time.Minute, 10*time.Minute, 4) {
		t.Error("over-budget bar looks like a full one")
	}
}
