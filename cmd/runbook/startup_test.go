package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Every package linked into runbook runs its init before the first frame
// (and before `status` prints a line). These packages do heavy work there
// for features runbook has no use for on that path, and are kept out:
//   - a JSON-schema library compiles every meta-schema in init (it came
//     with compose-go's loader; compose files are checked with the compose
//     CLI instead).
//
// The syntax highlighter's registries (chroma, every lexer and style
// parsed in init) come with glamour and cannot be left out; the start-up
// benchmark's floor program pays them too.
func TestNoHeavyInitOnTheStartPath(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, banned := range []string{"github.com/santhosh-tekuri/jsonschema", "github.com/compose-spec/compose-go/v2/loader"} {
		for _, pkg := range strings.Fields(string(out)) {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("runbook links %s, whose package init is heavy", pkg)
			}
		}
	}
}
