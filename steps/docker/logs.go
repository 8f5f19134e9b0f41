package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/steps"
)

// Logs is the `docker.logs` action: it reads a container's logs (stdout
// and stderr) since the step began — or a given while back — and counts the
// lines matching a pattern, e.g. pgaudit's session lines after a DDL
// statement. The first few matches are shown, secrets masked.
//
//	verify:
//	  - docker.logs:
//	      container: lab-db-1
//	      match: 'AUDIT: SESSION,.*DDL'
//	      min_count: 1      # default 1
//	      max_count: 100    # optional upper bound (max_count: 0 proves absence)
//	      since: step       # step (default), all, or a duration such as 15m
type Logs struct {
	Selector `yaml:",inline"`
	Match    string `yaml:"match"`
	MinCount *int   `yaml:"min_count"`
	MaxCount *int   `yaml:"max_count"`
	Since    string `yaml:"since"`
	// Show is how many matching lines to print (default 5).
	Show *int `yaml:"show"`

	re    *regexp.Regexp
	since time.Duration
}

// Validate implements runbooks.Validator.
func (l *Logs) Validate() error {
	if err := l.Selector.validate(); err != nil {
		return err
	}
	if l.Match == "" {
		return errors.New("match is required: a regular expression for the log lines to count")
	}
	var err error
	if l.re, err = regexp.Compile(l.Match); err != nil {
		return fmt.Errorf("match: %v", err)
	}
	switch l.Since {
	case "", "step", "all":
	default:
		if l.since, err = parseTimeout("since", l.Since, 0); err != nil {
			return fmt.Errorf("since %q: expected step, all or a duration such as 15m", l.Since)
		}
	}
	if l.MinCount != nil && *l.MinCount < 0 || l.MaxCount != nil && *l.MaxCount < 0 {
		return errors.New("min_count and max_count must not be negative")
	}
	if l.MinCount != nil && l.MaxCount != nil && *l.MinCount > *l.MaxCount {
		return fmt.Errorf("min_count %d is above max_count %d", *l.MinCount, *l.MaxCount)
	}
	if l.Show != nil && *l.Show < 0 {
		return errors.New("show must not be negative")
	}
	return nil
}

func (l *Logs) bounds() (lo int, hi int) {
	lo, hi = 1, -1
	if l.MaxCount != nil {
		lo, hi = 0, *l.MaxCount
	}
	if l.MinCount != nil {
		lo = *l.MinCount
	}
	return lo, hi
}

func (l *Logs) describeBounds() string {
	lo, hi := l.bounds()
	switch {
	case hi < 0:
		return fmt.Sprintf("at least %d", lo)
	case lo == 0:
		return fmt.Sprintf("at most %d", hi)
	default:
		return fmt.Sprintf("%d to %d", lo, hi)
	}
}

// Describe implements steps.Action.
func (l *Logs) Describe(env *steps.Env) string {
	since := l.Since
	switch since {
	case "", "step":
		since = "since the step began"
	case "all":
		since = "all of them"
	default:
		since = "of the last " + since
	}
	return fmt.Sprintf("read logs of %s %s (GET /containers/{id}/logs), expect %s line(s) matching /%s/", l.describe(env), since, l.describeBounds(), l.Match)
}

// Run implements steps.Action.
func (l *Logs) Run(ctx context.Context, env *steps.Env) error {
	if err := l.Validate(); err != nil {
		return err
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}
	from := "the start"
	switch l.Since {
	case "", "step":
		if !env.StepStarted.IsZero() {
			opts.Since = unixTime(env.StepStarted)
			from = env.StepStarted.Format("15:04:05")
		}
	case "all":
	default:
		t := time.Now().Add(-l.since)
		if env.Clock != nil {
			t = env.Clock.Now().Add(-l.since)
		}
		opts.Since, from = unixTime(t), t.Format("15:04:05")
	}
	c, err := open(env, l.Target)
	if err != nil {
		return err
	}
	defer c.close()
	boxes, _, err := c.selection(ctx, env, &l.Selector, true)
	if err != nil {
		return err
	}
	show := 5
	if l.Show != nil {
		show = *l.Show
	}
	lo, hi := l.bounds()
	for _, b := range boxes {
		in, err := c.inspect(ctx, b)
		if err != nil {
			return err
		}
		rc, err := c.api.ContainerLogs(ctx, b.ID, opts)
		if err != nil {
			return c.wrap(err, "read logs of container %s", b)
		}
		n, shown := 0, 0
		tap := &steps.LineTap{Fn: func(line string) {
			if !l.re.MatchString(line) {
				return
			}
			n++
			if shown < show {
				shown++
				env.Printf("%s: %s", b.Name, env.Redact.String(line))
			}
		}}
		if in.Config != nil && in.Config.Tty {
			_, err = io.Copy(tap, rc)
		} else {
			_, err = stdcopy.StdCopy(tap, tap, rc)
		}
		tap.Flush()
		_ = rc.Close()
		if err != nil {
			return c.wrap(err, "read logs of container %s", b)
		}
		if n > shown {
			env.Printf("%s: ... %d more matching line(s)", b.Name, n-shown)
		}
		env.Printf("%s: %d line(s) since %s match /%s/", b, n, from, l.Match)
		if n < lo || hi >= 0 && n > hi {
			return fmt.Errorf("logs of container %s since %s: expected %s line(s) matching /%s/, found %d", b, from, l.describeBounds(), l.Match, n)
		}
	}
	return nil
}

// unixTime is the engine's "since" format: seconds.nanoseconds.
func unixTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}
