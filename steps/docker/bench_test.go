package docker

import (
	"context"
	"os/exec"
	"testing"

	"github.com/moby/moby/client"
)

// Container inspection through the Engine API (one client, kept open, as
// an action run uses it) against a `docker inspect` process per call.
// Run both in one go:
//
//	go test ./steps/docker -run '^$' -bench 'Inspect' -benchtime 200x
func BenchmarkInspectAPI(b *testing.B) {
	bx := runProbe(b, probeOpts{name: prefix(b), noHealth: true})
	c, err := Dial("")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.ContainerInspect(ctx, bx.Name, client.ContainerInspectOptions{}); err != nil {
		b.Fatal(err) // also negotiates the API version, outside the timing
	}
	for b.Loop() {
		r, err := c.ContainerInspect(ctx, bx.Name, client.ContainerInspectOptions{})
		if err != nil || r.Container.State == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInspectCLI(b *testing.B) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		b.Skip("no docker CLI on PATH to compare with")
	}
	bx := runProbe(b, probeOpts{name: prefix(b), noHealth: true})
	for b.Loop() {
		out, err := exec.Command(docker, "inspect", bx.Name).Output()
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}
