package ui

import (
	"bytes"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/runbook-dev/runbook/ui/components/dialog"
)

// stage is keys to send and the state to wait for after them.
type stage struct {
	keys  []tea.Msg
	until func(Model) bool
}

// goldenStages is golden with keys sent in stages, each waited for.
func goldenStages(t *testing.T, m Model, w, h int, profile colorprofile.Profile, ready func(Model) bool, stages ...stage) {
	t.Helper()
	tm := teatest.NewTestModel(t, m,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithFilter(probeFilter), tea.WithColorProfile(profile)))
	waitModel(t, tm, "first frame ready", ready)
	for i, s := range stages {
		for _, k := range s.keys {
			tm.Send(k)
		}
		waitModel(t, tm, "stage "+string(rune('1'+i)), s.until)
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

func keys(ks ...string) []tea.Msg {
	out := make([]tea.Msg, len(ks))
	for i, k := range ks {
		out[i] = pressKey(k)
	}
	return out
}

func typed(s string) []tea.Msg {
	var out []tea.Msg
	for _, r := range s {
		out = append(out, tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	return out
}

func dialogOpen(tag int) func(Model) bool {
	return func(m Model) bool { return m.dlg != nil && m.dlg.Tag == tag }
}

func TestGoldenHelp80x24(t *testing.T) {
	f := openLab(t, nil, "")
	golden(t, f.model(false), 80, 24, colorprofile.ANSI256, guideReady, func(m Model) bool { return m.over == ovHelp }, keyMsg("?"))
}

func TestGoldenHelp200x60(t *testing.T) {
	f := openLab(t, nil, "")
	golden(t, f.model(false), 200, 60, colorprofile.ANSI256, guideReady, func(m Model) bool { return m.over == ovHelp }, keyMsg("?"))
}

func TestGoldenFirstFrame200x60(t *testing.T) {
	f := openLab(t, nil, "")
	golden(t, f.model(false), 200, 60, colorprofile.ANSI256, guideReady, nil)
}

func TestGoldenSkipDialog120x40(t *testing.T) {
	f := openLab(t, nil, "")
	goldenStages(t, f.model(false), 120, 40, colorprofile.ANSI256, guideReady,
		stage{keys("s"), dialogOpen(tagSkip)},
		stage{typed("postponed to the next window"), func(m Model) bool { return m.dlg != nil && m.dlg.Value() == "postponed to the next window" }})
}

func TestGoldenSkipDialog80x24(t *testing.T) {
	f := openLab(t, nil, "")
	goldenStages(t, f.model(false), 80, 24, colorprofile.ANSI256, guideReady,
		stage{keys("s"), dialogOpen(tagSkip)},
		stage{keys("enter"), func(m Model) bool { return m.dlg != nil && m.dlg.Tag == tagSkip }})
}

func TestGoldenNoteDialog120x40(t *testing.T) {
	f := openLab(t, nil, "")
	goldenStages(t, f.model(false), 120, 40, colorprofile.ANSI256, guideReady, stage{keys("n"), dialogOpen(tagNote)})
}

func TestGoldenMarkDoneDialog120x40(t *testing.T) {
	f, lines := midRun(t)
	goldenStages(t, f.model(false), 120, 40, colorprofile.ANSI256, drained(lines), stage{keys("m"), dialogOpen(tagMarkDone)})
}

func TestGoldenUndoDialog120x40(t *testing.T) {
	f, lines := midRun(t)
	goldenStages(t, f.model(false), 120, 40, colorprofile.ANSI256, drained(lines),
		stage{keys("k"), func(m Model) bool { return m.timeline.Selected() == "tls.certs" && guideReady(m) }},
		stage{keys("u"), dialogOpen(tagUndo)})
}

func TestGoldenConfirmManualDialog120x40(t *testing.T) {
	f := openLab(t, nil, "")
	goldenStages(t, f.model(false), 120, 40, colorprofile.ANSI256, guideReady,
		stage{keys("enter"), func(m Model) bool {
			return m.busy == nil && m.run.Step("prep.read").Status.String() == "awaiting operator" && outputHas("prep.read", "▸ manual")(m)
		}},
		stage{keys("enter"), dialogOpen(tagConfirmManual)})
}

func TestGoldenDirtyChooser80x24(t *testing.T) {
	f := dirtyLab(t)
	goldenStages(t, f.model(false), 80, 24, colorprofile.ANSI256, guideReady, stage{keys("enter"), dialogOpen(tagDirty)})
}

// The quit and cancel questions open over a running step.
func TestGoldenQuitAndCancelDialogs120x40(t *testing.T) {
	for _, c := range []struct {
		name string
		key  string
		tag  int
	}{{"quit", "q", tagQuit}, {"cancel", "x", tagCancel}} {
		t.Run(c.name, func(t *testing.T) {
			f := openLab(t, slowRunbook(t), "")
			goldenStages(t, f.model(false), 120, 40, colorprofile.ANSI256, guideReady,
				stage{keys("enter"), outputHas("p.wait", "started")},
				stage{keys(c.key), dialogOpen(c.tag)})
			// Leave no step running behind the test.
			f.sess.Cancel("p.wait", "test")
		})
	}
}

// drained: the guide is ready and the output pane holds every line sent.
func drained(lines int) func(Model) bool {
	return func(m Model) bool { return guideReady(m) && m.out.Len() == lines }
}

func outputHas(step, text string) func(Model) bool {
	return func(m Model) bool {
		for _, l := range m.out.Lines(step) {
			if l.Text == text {
				return true
			}
		}
		return false
	}
}

// A step cancelled from the UI: its state, who cancelled, what is next.
func TestGoldenCancelledStep(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		t.Run(sizeName(size), func(t *testing.T) {
			f := openLab(t, slowRunbook(t), "")
			goldenStages(t, f.model(false), size[0], size[1], colorprofile.ANSI256, guideReady,
				stage{keys("enter"), outputHas("p.wait", "started")},
				stage{keys("x"), dialogOpen(tagCancel)},
				stage{keys("y"), func(m Model) bool { return m.busy == nil && m.run.Step("p.wait").CancelledBy == "ana" }})
		})
	}
}

func sizeName(s [2]int) string {
	return string(rune('0'+s[0]/100)) + string(rune('0'+s[0]/10%10)) + string(rune('0'+s[0]%10)) + "x" + string(rune('0'+s[1]/10)) + string(rune('0'+s[1]%10))
}

// The full-screen output of the failed step, searched.
func TestGoldenOutputSearch(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		t.Run(sizeName(size), func(t *testing.T) {
			f, lines := midRun(t)
			goldenStages(t, f.model(false), size[0], size[1], colorprofile.ANSI256, func(m Model) bool {
				return guideReady(m) && m.out.Len() == lines
			},
				stage{keys("o"), func(m Model) bool { return m.over == ovOutput }},
				stage{append(append(keys("/"), typed("test")...), pressKey("enter")), func(m Model) bool {
					q, n := m.outv.Query()
					return q == "test" && n > 0
				}})
		})
	}
}

// 80×24 mid-run with the output in the right column (tab), and the
// compact layout's guide.
func TestGoldenCompactOutput80x24(t *testing.T) {
	f, lines := midRun(t)
	goldenStages(t, f.model(false), 80, 24, colorprofile.ANSI256, func(m Model) bool {
		return guideReady(m) && m.out.Len() == lines
	}, stage{keys("tab", "tab"), func(m Model) bool { return m.focus == paneOutput }})
}

// The first question of a new run on a day that is not the planned one.
func TestGoldenDayQuestion(t *testing.T) {
	rb := loadLab(t)
	now := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for _, size := range [][2]int{{120, 40}, {80, 24}, {200, 60}} {
		t.Run(sizeName(size), func(t *testing.T) {
			var m tea.Model = NewDayQuestion(rb, now, false)
			m, _ = m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			var buf bytes.Buffer
			cw := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ANSI256}
			if _, err := cw.Write([]byte(m.View().Content)); err != nil {
				t.Fatal(err)
			}
			teatest.RequireEqualOutput(t, buf.Bytes())
		})
	}
}

var _ = dialog.Input
