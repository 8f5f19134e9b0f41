package steps

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseProfile(t *testing.T) {
	p, err := ParseProfile(strings.NewReader("# lab\n\nworkspace=/w\nstore=postgres://s/db\ntarget.db=postgres://u:p@h/db?x=1\ntarget.app=http://a\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Profile{Workspace: "/w", Store: "postgres://s/db", Targets: []ProfileTarget{{"db", "postgres://u:p@h/db?x=1"}, {"app", "http://a"}}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("ParseProfile = %+v, want %+v", p, want)
	}
	for text, line := range map[string]int{"workspace=/w\nno equals sign\n": 2, "# c\nport=5\n": 2} {
		_, err := ParseProfile(strings.NewReader(text))
		var pe *ProfileError
		if !errors.As(err, &pe) || pe.Line != line {
			t.Errorf("ParseProfile(%q) = %v, want a fault on line %d", text, err, line)
		}
	}
}
