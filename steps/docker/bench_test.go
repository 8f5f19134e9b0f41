package docker

import (
	"os/exec"
	"slices"
	"testing"
	"time"
)

// BenchmarkAssertAction: a docker action end to end, as a step runs it —
// Validate, a fresh client dialled from the target, the API version
// negotiated, the container found and inspected, its state checked, the
// client closed — against `docker inspect` of the same container, the
// two in alternating order in every round. Goal: no slower than the CLI.
//
//	go test ./steps/docker -run '^$' -bench AssertAction -benchtime 100x
func BenchmarkAssertAction(b *testing.B) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		b.Skip("no docker CLI on PATH to compare with")
	}
	bx := runProbe(b, probeOpts{name: prefix(b), noHealth: true})
	env, _ := testEnv(b)
	running := true
	var ours, theirs []time.Duration
	i := 0
	for b.Loop() {
		for k := range 2 {
			t0 := time.Now()
			if (i+k)%2 == 0 {
				a := &Assert{Selector: Selector{Container: bx.Name}, Running: &running}
				if err := a.Validate(); err != nil {
					b.Fatal(err)
				}
				if err := a.Run(b.Context(), env); err != nil {
					b.Fatal(err)
				}
				ours = append(ours, time.Since(t0))
			} else {
				out, err := exec.Command(docker, "inspect", bx.Name).Output()
				if err != nil || len(out) == 0 {
					b.Fatal(err)
				}
				theirs = append(theirs, time.Since(t0))
			}
		}
		i++
	}
	slices.Sort(ours)
	slices.Sort(theirs)
	o, t := ours[len(ours)/2], theirs[len(theirs)/2]
	r := float64(o) / float64(t)
	b.ReportMetric(float64(o.Microseconds())/1000, "action-ms")
	b.ReportMetric(float64(t.Microseconds())/1000, "cli-ms")
	b.ReportMetric(r, "ratio")
	verdict := "meets"
	if r > 1 {
		verdict = "MISSES"
	}
	b.Logf("docker.assert end to end (dial and version negotiation included): %.2f× `docker inspect` (goal ≤ 1.0×, %s): median %.2f ms against %.2f ms over %d interleaved rounds",
		r, verdict, float64(o.Microseconds())/1000, float64(t.Microseconds())/1000, i)
}
