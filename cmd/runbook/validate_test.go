package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestValidateEncodedFixtures runs the real binary on the fixtures saved as
// UTF-16 or UTF-32: each is named for what it is, at 1:1, with exit 1.
func TestValidateEncodedFixtures(t *testing.T) {
	files, err := filepath.Glob("../../testdata/runbooks/encoded/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("fixtures: %v (%d found)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := "the file is UTF-16"
			switch {
			case len(src) >= 4 && src[2] == 0 && src[3] == 0:
				want = "the file is UTF-32"
			case src[1] == 0:
				want = "the file looks like UTF-16"
			}
			// The header says the same, in the file's own encoding.
			if strings.HasPrefix(filepath.Base(f), "utf16") && !strings.Contains(decodeUTF16(src), "# want: 1:1: "+want) {
				t.Fatalf("fixture header does not want %q", want)
			}
			r := runbook(t, nil, "validate", f)
			if r.code != exitFailed || !strings.Contains(r.err, f+":1:1: "+want) {
				t.Fatalf("exit %d, want 1 and %s:1:1: %s\n%s", r.code, f, want, r.err)
			}
		})
	}
}

func decodeUTF16(src []byte) string {
	start := 2
	if src[1] == 0 {
		start = 0 // no byte order mark
	}
	u := make([]uint16, 0, len(src)/2)
	for i := start; i+1 < len(src); i += 2 {
		if src[0] == 0xFE {
			u = append(u, uint16(src[i])<<8|uint16(src[i+1]))
		} else {
			u = append(u, uint16(src[i+1])<<8|uint16(src[i]))
		}
	}
	return string(utf16.Decode(u))
}

// TestValidateRefusesOversizeFile: a file over the limit is refused with a
// position and the limit, without being parsed.
func TestValidateRefusesOversizeFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "big.yaml")
	src := "id: big\ntitle: Big\n" + strings.Repeat("# padding to pass the limit\n", 20000)
	if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runbook(t, nil, "validate", f)
	if r.code != exitFailed || !strings.Contains(r.err, f+":1:1: the runbook is") || !strings.Contains(r.err, "the limit is 512 KiB") {
		t.Fatalf("exit %d\n%s", r.code, r.err)
	}
}

// TestPlanShowsOverrunAllowed: a phase that may run past its slot passes
// validate, and plan says it overruns and that the runbook allows it.
func TestPlanShowsOverrunAllowed(t *testing.T) {
	const fixture = "../../testdata/cli/overrun.yaml"
	if r := runbook(t, nil, "validate", fixture); r.code != 0 {
		t.Fatalf("validate: exit %d\n%s", r.code, r.err)
	}
	r := runbook(t, nil, "plan", "-f", fixture)
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.err)
	}
	for _, want := range []string{"slot 1h00m, budget 1h20m, buffer -20m (overrun: allowed)", "! the steps run 20m past the slot's end (overrun: allowed)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.out)
		}
	}
	r = runbook(t, nil, "plan", "-f", fixture, "--json")
	var p planJSON
	if err := json.Unmarshal([]byte(r.out), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Phases) != 2 || !p.Phases[0].OverrunAllowed || p.Phases[0].OverrunSeconds != 20*60 || p.Phases[1].OverrunAllowed {
		t.Fatalf("phases %+v", p.Phases)
	}
}
