package pg

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Operators of a value check. `contains` treats the found value as a
// comma-separated list (shared_preload_libraries, pgaudit.log) and looks
// for one item; `matches` is a Go regular expression; the order operators
// compare numbers.
var operators = []string{"=", "!=", "<", "<=", ">", ">=", "contains", "!contains", "matches"}

func validOp(op string) bool {
	for _, o := range operators {
		if o == op {
			return true
		}
	}
	return false
}

// check is one expectation on a text value.
type check struct {
	Op   string
	Want string
	re   *regexp.Regexp
}

func newCheck(op, want string) (check, error) {
	if op == "" {
		op = "="
	}
	if op == "<>" {
		op = "!="
	}
	if !validOp(op) {
		return check{}, fmt.Errorf("unknown operator %q (expected one of: %s)", op, strings.Join(operators, ", "))
	}
	c := check{Op: op, Want: want}
	switch op {
	case "matches":
		re, err := regexp.Compile(want)
		if err != nil {
			return check{}, fmt.Errorf("matches: %v", err)
		}
		c.re = re
	case "<", "<=", ">", ">=":
		if _, err := strconv.ParseFloat(want, 64); err != nil {
			return check{}, fmt.Errorf("%s needs a number, got %q", op, want)
		}
	}
	return c, nil
}

func (c check) String() string {
	if c.Op == "matches" {
		return "matches /" + c.Want + "/"
	}
	return c.Op + " " + quoteShow(c.Want)
}

// quoteShow renders a value in messages: quoted, so an empty value or
// trailing space is visible.
func quoteShow(s string) string { return "'" + s + "'" }

// eval reports whether got satisfies the check; got is nil for NULL or a
// missing setting, which satisfies only `!=`-style checks.
func (c check) eval(got *string) bool {
	if got == nil {
		return c.Op == "!=" || c.Op == "!contains"
	}
	g := *got
	switch c.Op {
	case "=":
		return sameValue(g, c.Want)
	case "!=":
		return !sameValue(g, c.Want)
	case "contains":
		return listHas(g, c.Want)
	case "!contains":
		return !listHas(g, c.Want)
	case "matches":
		return c.re.MatchString(g)
	}
	gf, err1 := strconv.ParseFloat(strings.TrimSpace(g), 64)
	wf, err2 := strconv.ParseFloat(c.Want, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	switch c.Op {
	case "<":
		return gf < wf
	case "<=":
		return gf <= wf
	case ">":
		return gf > wf
	case ">=":
		return gf >= wf
	}
	return false
}

// sameValue compares a found text value with an expected one: exactly,
// or as booleans when both are PostgreSQL boolean words (on/true/t/yes),
// or as numbers when both are numbers (1.50 = 1.5).
func sameValue(got, want string) bool {
	if got == want {
		return true
	}
	if gb, ok := pgBool(got); ok {
		if wb, ok := pgBool(want); ok {
			return gb == wb
		}
	}
	gf, err1 := strconv.ParseFloat(got, 64)
	wf, err2 := strconv.ParseFloat(want, 64)
	return err1 == nil && err2 == nil && gf == wf
}

// pgBool reads the boolean words PostgreSQL prints and accepts. Not 1/0:
// those are numbers and compare as numbers.
func pgBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on", "true", "t", "yes":
		return true, true
	case "off", "false", "f", "no":
		return false, true
	}
	return false, false
}

// listHas reports whether a comma-separated list holds item (spaces and
// double quotes around items ignored, as PostgreSQL writes list settings).
func listHas(list, item string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.Trim(strings.TrimSpace(x), `"`) == item {
			return true
		}
	}
	return false
}

// settingExprRE reads `NAME OP VALUE`.
var settingExprRE = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*(!contains|contains|matches|<>|!=|<=|>=|=|<|>)\s*(.*?)\s*$`)

// settingCheck is one parsed `NAME OP VALUE` expectation.
type settingCheck struct {
	Name string
	check
}

// parseSettingExpr reads an expectation such as
// `shared_preload_libraries contains pgaudit` or `pgaudit.log = 'ddl,write'`.
// The value may be single-quoted (” for a quote) to keep spaces or to be
// empty.
func parseSettingExpr(s string) (settingCheck, error) {
	m := settingExprRE.FindStringSubmatch(s)
	if m == nil {
		return settingCheck{}, fmt.Errorf("%q is not NAME OP VALUE (e.g. \"shared_preload_libraries contains pgaudit\", \"pgaudit.log = 'ddl,write'\"; operators: %s)", s, strings.Join(operators, ", "))
	}
	name, op, val := m[1], m[2], m[3]
	if (op == "contains" || op == "!contains" || op == "matches") && !strings.Contains(s, " "+op) {
		return settingCheck{}, fmt.Errorf("%q: put spaces around %s", s, op)
	}
	if len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'' {
		inner := val[1 : len(val)-1]
		if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			return settingCheck{}, fmt.Errorf("%q: a quote inside a quoted value is written ''", s)
		}
		val = strings.ReplaceAll(inner, "''", "'")
	} else if val == "" {
		return settingCheck{}, fmt.Errorf("%q has no value: write '' for an empty one", s)
	}
	c, err := newCheck(op, val)
	if err != nil {
		return settingCheck{}, fmt.Errorf("%q: %v", s, err)
	}
	return settingCheck{Name: name, check: c}, nil
}
