package docker

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A verify right after a (re)start: the container's health check fails
// at first and passes later. docker.assert waits for it instead of
// failing on the first "starting"; at its limit it says what it saw last;
// cancelled, it stops at once.
func TestAssertWaitsForAStartingContainer(t *testing.T) {
	p := prefix(t)
	slow := runProbe(t, probeOpts{name: p + "-slow", healthyAfter: 3 * time.Second})
	never := runProbe(t, probeOpts{name: p + "-never", healthyAfter: time.Hour})
	env, out := testEnv(t)

	mustRun(t, env, &Assert{Selector: Selector{Container: slow.Name}, Health: "healthy", Running: ptr(true)})
	for _, want := range []string{
		"waiting (0s of 1m0s): container " + slow.String() + ": health: expected healthy, found starting",
		slow.String() + ": ok: running, health healthy",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	err := wantErr(t, env, &Assert{Selector: Selector{Container: never.Name}, Health: "healthy", Within: "2s"},
		"container "+never.String()+": health: expected healthy, found starting")
	if !strings.Contains(err.Error(), "(still so after waiting 2s)") {
		t.Errorf("the timeout does not say it waited: %v", err)
	}
	// What the check last printed is in the message (redacted, one line).
	if !strings.Contains(err.Error(), "last check exit 1: health: 503 Service Unavailable") {
		t.Errorf("the last health check is not shown: %v", err)
	}

	// A failure that a start does not explain is not waited for.
	began := time.Now()
	wantErr(t, env, &Assert{Selector: Selector{Container: slow.Name}, Image: "something-else:1"},
		"container "+slow.String()+": image: expected something-else:1, found "+probeImage)
	if time.Since(began) > 20*time.Second {
		t.Errorf("a settled failure took %s", time.Since(began))
	}

	// Cancelled while waiting (the operator quits): back at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	began = time.Now()
	a := &Assert{Selector: Selector{Container: never.Name}, Health: "healthy"}
	err = a.Run(ctx, env)
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("cancelled assert: %v", err)
	}
	w := &Wait{Selector: Selector{Container: never.Name}, Timeout: "10m"}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	err = w.Run(ctx, env)
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("cancelled wait: %v", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("cancelled waits took %s to return", d)
	}
}
