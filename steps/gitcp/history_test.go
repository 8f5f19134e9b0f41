package gitcp

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestScanHistory(t *testing.T) {
	dir := newWorkspace(t, map[string]string{"README.md": "readme\n", "conf/app.ini": "debug = false\n"})
	git(t, dir, "tag", "-a", "-m", "v1", "v1")
	head := func() string { return strings.TrimSpace(git(t, dir, "rev-parse", "HEAD")) }

	write(t, dir, "deploy/.env", "DB_PASSWORD="+plantedPassword+"\n")
	write(t, dir, "conf/bundle.pem", plantedKey)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "oops: secrets")
	leaked := head()

	// Removed later, and many commits keep the history long: the finding
	// stays one finding, at the commit that brought it.
	if err := os.Remove(filepath.Join(dir, "deploy/.env")); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "commit", "-q", "-am", "remove the env file")
	for i := 0; i < 5; i++ {
		write(t, dir, "README.md", strings.Repeat("more\n", i+2))
		git(t, dir, "commit", "-q", "-am", "more")
	}
	// Same content moved to another path: a new finding (where, not what).
	git(t, dir, "mv", "conf/bundle.pem", "conf/tls.pem")
	git(t, dir, "commit", "-q", "-m", "rename")
	moved := head()
	// A branch that is not checked out is history too.
	git(t, dir, "checkout", "-q", "-b", "feature")
	write(t, dir, "feature/token.txt", "token: "+plantedPassword+"\n")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "feature")
	feature := head()
	git(t, dir, "checkout", "-q", "main")

	calls := 0
	findings, err := ScanHistory(dir, func(path string, content []byte) bool {
		calls++
		return bytes.Contains(content, []byte(plantedPassword)) || hasPrivateKey(content)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{Commit: leaked, Path: "conf/bundle.pem"},
		{Commit: leaked, Path: "deploy/.env"},
		{Commit: moved, Path: "conf/tls.pem"},
		{Commit: feature, Path: "feature/token.txt"},
	}
	if !slices.Equal(findings, want) {
		t.Errorf("findings:\n%v\nwant:\n%v", findings, want)
	}
	// Each (path, content) once: README has 6 versions, app.ini 1, the two
	// secrets 1 each, the moved key 1, the token 1.
	if calls != 11 {
		t.Errorf("match called %d times, want 11", calls)
	}

	if _, err := ScanHistory(t.TempDir(), func(string, []byte) bool { return true }); err == nil || !strings.Contains(err.Error(), "scan the history of") {
		t.Errorf("not a repository: %v", err)
	}
}
