//go:build linux

package runbooks_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/goccy/go-yaml/lexer"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/actions"
)

// childEnv names the file a child process validates once (see TestMain):
// the benchmark reads the child's peak RSS from the kernel, which counts
// everything validation touched, not only the Go heap.
const childEnv = "RUNBOOK_BENCH_VALIDATE_FILE"

func TestMain(m *testing.M) {
	if f := os.Getenv(childEnv); f != "" {
		os.Exit(validateOnce(f))
	}
	os.Exit(m.Run())
}

// validateOnce loads one file as `runbook validate` does and prints how
// long it took and the process's peak resident set (VmHWM, in KiB): 0 when
// the runbook is valid, 1 when it was refused.
func validateOnce(path string) int {
	start := time.Now()
	_, err := runbooks.Load(os.DirFS(filepath.Dir(path)), filepath.Base(path), runbooks.LoadOptions{Actions: actions.Registry(), Guides: benchGuides})
	took := time.Since(start)
	status, serr := os.ReadFile("/proc/self/status")
	if serr != nil {
		fmt.Fprintln(os.Stderr, serr)
		return 2
	}
	hwm := ""
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			hwm = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		}
	}
	fmt.Println(took.Nanoseconds(), hwm)
	if err != nil {
		fmt.Fprintln(os.Stderr, firstLines(err.Error(), 3))
		return 1
	}
	return 0
}

var benchGuides = fstest.MapFS{"g.md": {Data: []byte("# G\n\n## Part\n")}}

const benchHead = `id: largest
title: The largest runbook the loader accepts
schedule: {date: "2025-10-24", timezone: UTC, start: "08:00"}
targets:
  db: {kind: postgres, default: "postgres://app@127.0.0.1:5432/app"}
  web: {kind: url, default: "http://127.0.0.1:8001"}
phases:
  - id: all
    title: Everything
    slot: "08:00-20:00"
    steps:
`

// benchDense is the largest runbook by tokens: as many ordinary steps as
// MaxTokens allows (each with a guide, a checklist and three actions).
func benchDense(tb testing.TB) []byte {
	step := func(i int) string {
		return fmt.Sprintf(`      - id: s%05d
        title: Step %d of the generated window
        budget: 10s
        guide: g.md#part
        checklist: [one, two]
        do:
          - shell: {argv: [echo, "${target.web}", hello], expect_output: hello}
        verify:
          - pg.query: {target: db, sql: "SELECT 1", value: 1}
        undo:
          - manual: {prompt: Undo it by hand.}
`, i, i)
	}
	per := len(lexer.Tokenize(step(0)))
	head := len(lexer.Tokenize(benchHead))
	var b strings.Builder
	b.WriteString(benchHead)
	for i := 0; head+(i+1)*per < runbooks.MaxTokens-per && b.Len()+len(step(i)) < runbooks.MaxSize; i++ {
		b.WriteString(step(i))
	}
	return []byte(b.String())
}

// benchText is the largest runbook by size: few tokens, long text (SQL
// scripts in literal blocks) up to MaxSize.
func benchText(tb testing.TB) []byte {
	line := "                UPDATE accounts SET note = 'a line of a long generated script' WHERE id = 1;\n"
	var b strings.Builder
	b.WriteString(benchHead)
	for i := 0; ; i++ {
		s := fmt.Sprintf("      - id: t%d\n        title: Script %d\n        budget: 10m\n        guide: g.md#part\n        do:\n          - pg.exec:\n              sql: |\n", i, i)
		b.WriteString(s)
		for j := 0; j < 1000 && b.Len()+len(line) < runbooks.MaxSize-400; j++ {
			b.WriteString(line)
		}
		if b.Len()+len(line) >= runbooks.MaxSize-400 {
			return []byte(b.String())
		}
	}
}

// benchDeep nests action parameters as deep as MaxDepth allows (the
// runbook, its phases and steps take 8 levels), in block style.
func benchDeep(levels int) []byte {
	var b strings.Builder
	b.WriteString(benchHead + "      - id: deep\n        title: Deep\n        budget: 10m\n        guide: g.md#part\n        do:\n          - compose.edit:\n              file: c.yml\n              patch:\n")
	indent := "                "
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&b, "%sx-%d:\n", indent, i)
		indent += "  "
	}
	b.WriteString(indent + "v: 1\n")
	return []byte(b.String())
}

// BenchmarkValidate validates the largest runbooks the loader accepts (by
// tokens, by size, by nesting) and two it refuses (10,000 deep, 10 MiB).
// ns/op is in this process; peak-RSS-MB is the whole child process that
// validated the file once, as the kernel counts it (runtime included).
// The budget: at most 1 s and 64 MB for any accepted file.
func BenchmarkValidate(b *testing.B) {
	cases := []struct {
		name  string
		src   []byte
		valid bool
	}{
		{"largest-by-tokens", benchDense(b), true},
		{"largest-by-size", benchText(b), true},
		{"deepest-nesting", benchDeep(runbooks.MaxDepth - 9), true},
		{"refused-10000-deep", []byte(benchHead + "      - id: s\n        title: S\n        budget: 5m\n        guide: g.md#part\n        do:\n          - shell: {argv: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}\n"), false},
		{"refused-10MiB", bytes.Repeat([]byte("# a comment line to make the file large\n"), 10<<20/40), false},
	}
	reg := actions.Registry()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "rb.yaml")
			if err := os.WriteFile(path, c.src, 0o600); err != nil {
				b.Fatal(err)
			}
			rss, childNs := childPeakRSS(b, path, c.valid)
			fsys := os.DirFS(dir)
			for b.Loop() {
				_, err := runbooks.Load(fsys, "rb.yaml", runbooks.LoadOptions{Actions: reg, Guides: benchGuides})
				if (err == nil) != c.valid {
					b.Fatalf("valid %v, error: %v", c.valid, firstLines(fmt.Sprint(err), 3))
				}
			}
			b.ReportMetric(float64(len(c.src))/1024, "file-KiB")
			b.ReportMetric(rss, "peak-RSS-MB")
			b.ReportMetric(float64(childNs)/1e6, "child-ms")
		})
	}
}

// childPeakRSS validates path once in a child process (this test binary,
// see TestMain) and returns its peak resident set in MB and the time the
// child measured for validation.
func childPeakRSS(b *testing.B, path string, valid bool) (float64, int64) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if (err == nil) != valid {
		b.Fatalf("child: valid %v, got %v: %s", valid, err, errb.String())
	}
	// The child's own VmHWM, not its rusage: a child's ru_maxrss also
	// counts the parent's pages it shared until exec.
	var ns, hwm int64
	if _, perr := fmt.Sscan(out.String(), &ns, &hwm); perr != nil {
		b.Fatalf("child printed %q: %v", out.String(), perr)
	}
	return float64(hwm) / 1024, ns
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}
