package timeline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/ui/common"
	"github.com/runbook-dev/runbook/ui/styles"
)

func TestSpent(t *testing.T) {
	cases := []struct {
		t    steps.StepTiming
		want string
	}{
		{steps.StepTiming{Status: steps.Pending, Budget: 5 * time.Minute}, "5m"},
		{steps.StepTiming{Status: steps.Running, Budget: 5 * time.Minute, Elapsed: 3 * time.Minute}, "3m/5m"},
		{steps.StepTiming{Status: steps.Succeeded, Budget: 5 * time.Minute}, "0s/5m"},
		{steps.StepTiming{Status: steps.Skipped, Budget: 5 * time.Minute}, "skipped"},
	}
	for _, c := range cases {
		if got := Spent(c.t); got != c.want {
			t.Errorf("Spent(%+v) = %q, want %q", c.t, got, c.want)
		}
	}
}

func TestIconsAreDistinct(t *testing.T) {
	seen := map[string]steps.Status{}
	for _, s := range steps.Statuses() {
		i := common.Icon(s)
		if prev, dup := seen[i]; dup {
			t.Errorf("%s and %s share the icon %q", prev, s, i)
		}
		if ansi.StringWidth(i) != 1 {
			t.Errorf("icon of %s is %d cells", s, ansi.StringWidth(i))
		}
		seen[i] = s
	}
}

func bigRunbook(phases, per int) *runbooks.Runbook {
	rb := &runbooks.Runbook{}
	for p := range phases {
		ph := runbooks.Phase{ID: fmt.Sprintf("p%d", p), Title: fmt.Sprintf("Phase %d", p)}
		for s := range per {
			ph.Steps = append(ph.Steps, runbooks.Step{ID: fmt.Sprintf("p%d.s%d", p, s), Title: fmt.Sprintf("Step %d.%d", p, s), Budget: time.Minute})
		}
		rb.Phases = append(rb.Phases, ph)
	}
	return rb
}

func TestSelectionScrollsIntoView(t *testing.T) {
	rb := bigRunbook(10, 10)
	m := New(rb)
	m.SetSize(40, 8)
	props := Props{Runbook: rb, Timing: steps.ComputeTiming(rb, steps.NewRun(), time.Time{}), Styles: styles.New(styles.Theme{NoColor: true})}
	if m.Steps() != 100 || m.Selected() != "p0.s0" {
		t.Fatalf("%d steps, selected %q", m.Steps(), m.Selected())
	}
	m.Move(35)
	if m.Selected() != "p3.s5" || m.SelectedIndex() != 35 {
		t.Fatalf("selected %q", m.Selected())
	}
	v := strings.Split(ansi.Strip(m.View(props)), "\n")
	if len(v) != 8 {
		t.Fatalf("%d rows", len(v))
	}
	if !strings.Contains(strings.Join(v, "\n"), "Step 3.5") {
		t.Errorf("selected row not in view:\n%s", strings.Join(v, "\n"))
	}
	// Scrolling up onto the first step of a phase shows its heading too.
	m.Move(20)
	m.Move(-25) // p3.s0, the first of its phase, now at the top
	v = strings.Split(ansi.Strip(m.View(props)), "\n")
	if !strings.HasPrefix(v[0], "Phase 3") || !strings.Contains(v[1], "Step 3.0") {
		t.Errorf("phase heading not revealed: %q", v[:2])
	}
	m.Move(1000)
	if m.Selected() != "p9.s9" {
		t.Errorf("clamp at the end: %q", m.Selected())
	}
	v = strings.Split(ansi.Strip(m.View(props)), "\n")
	if !strings.Contains(v[7], "Step 9.9") {
		t.Errorf("last row: %q", v[7])
	}
	if !m.Select("p1.s1") || m.Select("nope") || m.Selected() != "p1.s1" {
		t.Error("Select")
	}
	for i, l := range v {
		if ansi.StringWidth(l) > 40 {
			t.Errorf("row %d is %d wide", i, ansi.StringWidth(l))
		}
	}
}
