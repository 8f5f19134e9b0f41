package ui

import (
	"bytes"
	"context"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// probeMsg asks the running program whether its model meets a condition.
// The filter answers it with the model as of every earlier message and
// drops it, so the model never sees it.
type probeMsg struct {
	cond  func(Model) bool
	reply chan bool
}

func probeFilter(m tea.Model, msg tea.Msg) tea.Msg {
	if p, ok := msg.(probeMsg); ok {
		mm, _ := m.(Model)
		p.reply <- p.cond(mm)
		return nil
	}
	return msg
}

// waitModel polls the program until cond holds (the program runs its
// commands on its own goroutines; there is nothing else to wait on).
func waitModel(t *testing.T, tm *teatest.TestModel, what string, cond func(Model) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		reply := make(chan bool, 1)
		tm.Send(probeMsg{cond: cond, reply: reply})
		select {
		case ok := <-reply:
			if ok {
				return
			}
		case <-time.After(time.Until(deadline)):
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the program never reached: %s", what)
}

// guideReady: the selected step's guide is rendered for the current theme
// and width, and its actions are described.
func guideReady(m Model) bool {
	s, ok := m.selectedStep()
	return ok && m.width > 0 && m.guide.Cached(m.guide.KeyFor(s.Guide, m.theme.Glamour())) && m.described[s.ID] != nil
}

// golden runs the model in a teatest program at a fixed size, waits until
// ready, sends keys and waits until after holds, quits, and compares the final screen, downsampled to a
// fixed colour profile, with testdata/<test name>.golden (-update rewrites).
func golden(t *testing.T, m Model, w, h int, profile colorprofile.Profile, ready, after func(Model) bool, keys ...tea.Msg) {
	t.Helper()
	tm := teatest.NewTestModel(t, m,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithFilter(probeFilter), tea.WithColorProfile(profile)))
	waitModel(t, tm, "first frame ready", ready)
	if len(keys) > 0 {
		for _, k := range keys {
			tm.Send(k)
		}
		waitModel(t, tm, "ready after keys", after)
	}
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	final, ok := tm.FinalModel(t, teatest.WithFinalTimeout(15*time.Second)).(Model)
	if !ok {
		t.Fatal("final model is not a Model")
	}
	var buf bytes.Buffer
	cw := &colorprofile.Writer{Forward: &buf, Profile: profile}
	if _, err := cw.Write([]byte(final.View().Content)); err != nil {
		t.Fatal(err)
	}
	teatest.RequireEqualOutput(t, buf.Bytes())
}

func TestGoldenFirstFrame120x40(t *testing.T) {
	f := openLab(t, nil, "")
	golden(t, f.model(false), 120, 40, colorprofile.ANSI256, guideReady, nil)
}

func TestGoldenFirstFrame80x24(t *testing.T) {
	f := openLab(t, nil, "")
	golden(t, f.model(false), 80, 24, colorprofile.ANSI256, guideReady, nil)
}

// midRun works through the lab by the session, as an operator would have:
// a confirmed manual step, two shell steps, a failed one.
func midRun(t *testing.T) (*fixture, int) {
	t.Helper()
	f := openLab(t, nil, "")
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.sess.Start(ctx, "prep.read"))
	f.clock.Advance(9 * time.Minute)
	must(f.sess.Tick("prep.read", 0, true))
	must(f.sess.Tick("prep.read", 1, true))
	must(f.sess.Confirm(ctx, "prep.read", "ana", ""))
	must(f.sess.Start(ctx, "prep.env"))
	f.clock.Advance(6 * time.Minute)
	must(f.sess.Start(ctx, "tls.certs"))
	f.clock.Advance(4*time.Minute + 30*time.Second)
	must(f.sess.Note("tls.certs", "subject checked by hand"))
	if err := f.sess.Start(ctx, "tls.nginx"); err == nil {
		t.Fatal("tls.nginx must fail")
	}
	f.clock.Advance(90 * time.Second)
	return f, len(f.out.ch)
}

func TestGoldenMidRun120x40(t *testing.T) {
	f, lines := midRun(t)
	golden(t, f.model(false), 120, 40, colorprofile.ANSI256, func(m Model) bool {
		return guideReady(m) && m.out.Len() == lines
	}, nil)
}

func TestGoldenDirtyChooser120x40(t *testing.T) {
	f := dirtyLab(t)
	golden(t, f.model(false), 120, 40, colorprofile.ANSI256, guideReady, func(m Model) bool {
		return m.dlg != nil && m.dlg.Tag == tagDirty
	}, keyMsg("enter"))
}

func TestGoldenHelp120x40(t *testing.T) {
	f := openLab(t, nil, "")
	golden(t, f.model(false), 120, 40, colorprofile.ANSI256, guideReady, func(m Model) bool { return m.over == ovHelp }, keyMsg("?"))
}

// A late run without colour: behind plan, close to the end of the window,
// with more to undo than time left — the point-of-no-return warning.
func TestGoldenLateNoColor120x40(t *testing.T) {
	f, _ := midRun(t)
	f.clock.Set(time.Date(2025, 10, 24, 9, 59, 0, 0, time.UTC))
	golden(t, f.model(true), 120, 40, colorprofile.ASCII, func(m Model) bool {
		return guideReady(m) && m.out.Len() > 0
	}, nil)
}
