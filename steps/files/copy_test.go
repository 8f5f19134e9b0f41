package files_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/files"
)

// snapshot is every file under dir: content and mode, by relative path.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		if d.IsDir() {
			out[rel+"/"] = fi.Mode().Perm().String()
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = fi.Mode().Perm().String() + " " + string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeFile(t *testing.T, dir, rel, content string, mode fs.FileMode) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s is %q, want %q", what, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s exists, and did not before", what, k)
		}
	}
}

func TestCopyAndMoveUndoRestoreExactly(t *testing.T) {
	const secret = "Rotated-Secret-0f3a9c21"
	cases := []struct {
		name   string
		before func(ws string)
		do     []action
		undo   []action
		after  map[string]string // files after the do (content with mode)
	}{
		{
			name:   "copy to a new file in a new directory",
			before: func(ws string) { writeFile(t, ws, "conf/a.conf", "alpha\n", 0o644) },
			do:     []action{&files.Copy{From: "conf/a.conf", To: "new/dir/b.conf"}},
			undo:   []action{&files.Copy{From: "conf/a.conf", To: "new/dir/b.conf", Restore: true}},
			after:  map[string]string{"new/dir/b.conf": "-rw-r--r-- alpha\n"},
		},
		{
			name: "copy over an existing file, new mode",
			before: func(ws string) {
				writeFile(t, ws, "a", "new content", 0o644)
				writeFile(t, ws, "b", "old content", 0o640)
			},
			do:    []action{&files.Copy{From: "a", To: "b", Mode: modeP(0o600)}},
			undo:  []action{&files.Copy{From: "a", To: "b", Restore: true}},
			after: map[string]string{"b": "-rw------- new content", "a": "-rw-r--r-- new content"},
		},
		{
			name: "move over nothing",
			before: func(ws string) {
				writeFile(t, ws, "secrets/db_password", secret, 0o600)
			},
			do:    []action{&files.Move{From: "secrets/db_password", To: "secrets/db_password.old"}},
			undo:  []action{&files.Move{From: "secrets/db_password", To: "secrets/db_password.old", Restore: true}},
			after: map[string]string{"secrets/db_password.old": "-rw------- " + secret},
		},
		{
			name: "rotation: keep the old, copy the next in",
			before: func(ws string) {
				writeFile(t, ws, "secrets/db_password", secret, 0o600)
				writeFile(t, ws, "secrets/db_password.next", "Next-Secret-77aa01bc", 0o600)
				writeFile(t, ws, "secrets/db_password.old", "Older-Secret-1234abcd", 0o600)
			},
			do: []action{
				&files.Move{From: "secrets/db_password", To: "secrets/db_password.old"},
				&files.Copy{From: "secrets/db_password.next", To: "secrets/db_password"},
			},
			undo: []action{
				&files.Copy{From: "secrets/db_password.next", To: "secrets/db_password", Restore: true},
				&files.Move{From: "secrets/db_password", To: "secrets/db_password.old", Restore: true},
			},
			after: map[string]string{
				"secrets/db_password":      "-rw------- Next-Secret-77aa01bc",
				"secrets/db_password.old":  "-rw------- " + secret,
				"secrets/db_password.next": "-rw------- Next-Secret-77aa01bc",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, out := newEnv(t, nil)
			tc.before(env.Workspace)
			before := snapshot(t, env.Workspace)
			for _, a := range tc.do {
				mustRun(t, a, env)
			}
			got := snapshot(t, env.Workspace)
			for k, v := range tc.after {
				if got[k] != v {
					t.Errorf("after do: %s is %q, want %q", k, got[k], v)
				}
			}
			// Run again (a retried step): nothing changes.
			for _, a := range tc.do {
				mustRun(t, a, env)
			}
			sameTree(t, "after a second do", snapshot(t, env.Workspace), got)
			for _, a := range tc.undo {
				mustRun(t, a, env)
			}
			sameTree(t, "after the undo", snapshot(t, env.Workspace), before)
			// An undo twice is harmless.
			for _, a := range tc.undo {
				mustRun(t, a, env)
			}
			sameTree(t, "after a second undo", snapshot(t, env.Workspace), before)
			if strings.Contains(out.String(), secret) || strings.Contains(out.String(), "Next-Secret") {
				t.Errorf("a secret shows in the output:\n%s", out.String())
			}
		})
	}
}

func TestCopyMoveSecretsNotCheckpointed(t *testing.T) {
	env, _ := newEnv(t, nil)
	writeFile(t, env.Workspace, "secrets/pw", "Secret-Value-8899aabb", 0o600)
	writeFile(t, env.Workspace, "conf/app.conf", "x=1\n", 0o644)
	mustRun(t, &files.Copy{From: "secrets/pw", To: "secrets/pw.bak"}, env)
	mustRun(t, &files.Move{From: "conf/app.conf", To: "conf/app.conf.bak"}, env)
	if got := env.Touched.List(); !slices.Equal(got, []string{"conf/app.conf", "conf/app.conf.bak"}) {
		t.Errorf("touched %v: secrets must never be reported for a checkpoint", got)
	}
	if env.Redact.String("v=Secret-Value-8899aabb") != "v="+steps.Mask {
		t.Error("a copied owner-only file's content is not masked")
	}
	if got := (&files.Copy{From: "secrets/pw", To: "x"}).KnownSecrets(env); !slices.Contains(got, "Secret-Value-8899aabb") {
		t.Errorf("KnownSecrets %v", got)
	}
}

func TestCopyMoveErrors(t *testing.T) {
	env, _ := newEnv(t, nil)
	for _, tc := range []struct {
		a    action
		want string
	}{
		{&files.Copy{From: "missing", To: "b"}, "copy missing to b: missing does not exist"},
		{&files.Move{From: "missing", To: "b"}, "move missing to b: missing does not exist"},
	} {
		err := run(t, tc.a, env)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%T: %v, want %q", tc.a, err, tc.want)
		}
	}
	for _, a := range []action{
		&files.Copy{From: "a", To: "a"},
		&files.Copy{From: "../a", To: "b"},
		&files.Move{From: "a", To: ""},
		&files.Copy{From: "a", To: "b", Restore: true, Mode: modeP(0o600)},
	} {
		if err := a.Validate(); err == nil {
			t.Errorf("%#v validates", a)
		}
	}
	if d := (&files.Move{From: "a", To: "b"}).Describe(env); d != "move a to b, saving both for the undo (content never shown)" {
		t.Errorf("describe: %s", d)
	}
}

func modeP(m files.Mode) *files.Mode { return &m }
