package ui

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/runbook-dev/runbook/runbooks"
	"github.com/runbook-dev/runbook/steps/actions"
)

// generated builds a runbook of n steps in phases of 25, every step with a
// guide section, a checklist and shell actions, for size and speed tests.
func generated(t testing.TB, n int) *runbooks.Runbook {
	t.Helper()
	var y, g strings.Builder
	y.WriteString("id: big\ntitle: Generated window\nschedule: {date: \"2025-10-24\", timezone: UTC, start: \"00:00\"}\nphases:\n")
	g.WriteString("# Steps\n\n")
	for i := range n {
		if i%25 == 0 {
			p := i / 25
			fmt.Fprintf(&y, "  - id: p%d\n    title: Phase %d of the generated window\n    slot: \"%02d:00-%02d:00\"\n    checkpoint: false\n    steps:\n", p, p, p%23, p%23+1)
		}
		fmt.Fprintf(&y, "      - id: s.%d\n        title: Step number %d of the window\n        budget: 2m\n        guide: g.md#step-%d\n", i, i, i)
		fmt.Fprintf(&y, "        checklist: [first check, second check]\n")
		fmt.Fprintf(&y, "        do:\n          - shell: {argv: [sh, -c, \"echo step %d\"]}\n        verify:\n          - shell: {argv: [\"true\"]}\n", i)
		fmt.Fprintf(&y, "        undo:\n          - shell: {argv: [\"true\"]}\n")
		fmt.Fprintf(&g, "## Step %d\n\nDo the **%d**th thing, then check it:\n\n```sh\necho %d\n```\n\n- one\n- two\n\n", i, i, i)
	}
	fsys := fstest.MapFS{"rb.yaml": {Data: []byte(y.String())}, "g.md": {Data: []byte(g.String())}}
	rb, err := runbooks.Load(fsys, "rb.yaml", runbooks.LoadOptions{Actions: actions.Registry()})
	if err != nil {
		t.Fatalf("generated runbook: %v", err)
	}
	return rb
}
