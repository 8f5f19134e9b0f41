package gitcp

import (
	"context"

	"errors"
	"github.com/runbook-dev/runbook/steps"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// team is a bare remote and the first machine's workspace, a clone of it.
func team(t *testing.T) (bare, ws string) {
	t.Helper()
	needGit(t)
	bare = filepath.Join(t.TempDir(), "team.git")
	git(t, filepath.Dir(bare), "init", "-q", "--bare", "-b", "main", bare)
	seed := newWorkspace(t, map[string]string{"app.conf": "v1\n"})
	git(t, seed, "push", "-q", bare, "main")
	return bare, cloneOf(t, bare)
}

func cloneOf(t *testing.T, bare string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ws")
	git(t, filepath.Dir(dir), "clone", "-q", bare, dir)
	return dir
}

// notes collects what a checkpoint journals.
type notes []string

func (n *notes) add(s string) { *n = append(*n, s) }

func (n *notes) text() string { return strings.Join(*n, "\n") }

func checkpointWith(t *testing.T, r *Repo, ws string, step int, content string, n *notes) string {
	t.Helper()
	write(t, ws, "app.conf", content)
	req := request(step, 0, "app.conf")
	req.Note = n.add
	res, err := r.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit == "" {
		t.Fatal("nothing committed")
	}
	return res.Commit
}

func TestPushEachCheckpoint(t *testing.T) {
	bare, ws := team(t)
	r, err := Open(ws, WithRunbook("rb"), WithPush("origin"))
	if err != nil {
		t.Fatal(err)
	}
	var n notes
	c1 := checkpointWith(t, r, ws, 0, "v2\n", &n)
	if got := strings.TrimSpace(git(t, bare, "rev-parse", "main")); got != c1 {
		t.Fatalf("remote main at %s after the first checkpoint, want %s", got, c1)
	}
	c2 := checkpointWith(t, r, ws, 1, "v3\n", &n) // ends the phase: tagged
	if got := strings.TrimSpace(git(t, bare, "rev-parse", "main")); got != c2 {
		t.Fatalf("remote main at %s, want %s", got, c2)
	}
	if got := strings.TrimSpace(git(t, bare, "rev-parse", "runbook/rb/item2^{commit}")); got != c2 {
		t.Fatalf("phase tag on the remote at %s, want %s", got, c2)
	}
	if got := strings.TrimSpace(git(t, ws, "rev-parse", "origin/main")); got != c2 {
		t.Fatalf("origin/main in the workspace at %s, want %s (git status would say ahead)", got, c2)
	}
	if len(n) != 0 {
		t.Fatalf("pushes that worked journaled notes: %q", n)
	}
	assertConsistent(t, ws)

	// Another machine pushed on: this one's push is refused, and says why.
	other := cloneOf(t, bare)
	write(t, other, "elsewhere", "x\n")
	git(t, other, "add", "elsewhere")
	git(t, other, "commit", "-q", "-m", "elsewhere")
	git(t, other, "push", "-q", "origin", "main")
	checkpointWith(t, r, ws, 0, "v4\n", &n)
	if len(n) != 1 || !strings.Contains(n[0], "non-fast-forward") || !strings.Contains(n[0], "did another machine go on with the run?") {
		t.Fatalf("a diverged remote: %q", n)
	}
}

func TestSecondMachineIsToldWhatToFetch(t *testing.T) {
	bare, ws := team(t)
	ws2 := cloneOf(t, bare) // the other machine, cloned before the run
	r, err := Open(ws, WithRunbook("rb"), WithPush("origin"))
	if err != nil {
		t.Fatal(err)
	}
	var n notes
	checkpointWith(t, r, ws, 0, "v2\n", &n)
	last := checkpointWith(t, r, ws, 1, "v3\n", &n)

	r2, err := Open(ws2, WithRunbook("rb"), WithPush("origin"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r2.CheckWorkspace(context.Background(), last, "item2-nginx")
	var we *WorkspaceError
	if !errors.As(err, &we) || !we.Missing {
		t.Fatalf("behind the remote: %v", err)
	}
	cmd := "git -C " + ws2 + " fetch origin && git -C " + ws2 + " merge --ff-only " + last
	if !strings.Contains(err.Error(), "workspace "+ws2+" is not at the run's last checkpoint "+last+" (step item2-nginx)") || !strings.Contains(err.Error(), "\n  "+cmd+"\n") {
		t.Fatalf("the message does not say what to fetch (want %q):\n%v", cmd, err)
	}
	if !strings.Contains(err.Error(), "push from the old machine first") || !strings.Contains(err.Error(), "--accept-workspace") {
		t.Fatalf("the message does not say what if the remote has not got it, nor how to go on anyway:\n%v", err)
	}
	// What it says works.
	for _, part := range strings.Split(cmd, " && ") {
		f := strings.Fields(part)
		git(t, ws2, f[3:]...)
	}
	if _, err := r2.CheckWorkspace(context.Background(), last, "item2-nginx"); err != nil {
		t.Fatalf("after the fetch it told: %v", err)
	}
	if got := read(t, ws2, "app.conf"); got != "v3\n" {
		t.Fatalf("workspace file %q after the fetch", got)
	}
}

func TestWorkspaceBehindOrElsewhere(t *testing.T) {
	bare, ws := team(t)
	r, _ := Open(ws, WithRunbook("rb"), WithPush("origin"))
	var n notes
	last := checkpointWith(t, r, ws, 0, "v2\n", &n)
	ctx := context.Background()

	behind := cloneOf(t, bare)
	git(t, behind, "reset", "-q", "--hard", "HEAD~1") // has the commit, not at it
	rb, _ := Open(behind, WithRunbook("rb"))
	_, err := rb.CheckWorkspace(ctx, last, "item2-certs")
	var we *WorkspaceError
	if !errors.As(err, &we) || !we.Behind || !strings.Contains(err.Error(), "\n  git -C "+behind+" merge --ff-only "+last+"\n") {
		t.Fatalf("behind: %v", err)
	}

	away := cloneOf(t, bare)
	git(t, away, "reset", "-q", "--hard", "HEAD~1")
	write(t, away, "other", "x\n")
	git(t, away, "add", "other")
	git(t, away, "commit", "-q", "-m", "elsewhere")
	ra, _ := Open(away, WithRunbook("rb"))
	_, err = ra.CheckWorkspace(ctx, last, "item2-certs")
	if !errors.As(err, &we) || we.Behind || we.Missing || !strings.Contains(err.Error(), "\n  git -C "+away+" checkout "+last+"\n") {
		t.Fatalf("elsewhere: %v", err)
	}
	acc, _ := Open(away, WithRunbook("rb"), WithAcceptWorkspace("ana"))
	note, err := acc.CheckWorkspace(ctx, last, "item2-certs")
	if err != nil || !strings.Contains(note, "workspace accepted as it is by ana") || !strings.Contains(note, last[:10]) {
		t.Fatalf("accepted: %q, %v", note, err)
	}

	ahead := cloneOf(t, bare) // the run's checkpoint and a commit by hand since
	write(t, ahead, "hand", "x\n")
	git(t, ahead, "add", "hand")
	git(t, ahead, "commit", "-q", "-m", "by hand")
	rh, _ := Open(ahead, WithRunbook("rb"))
	if _, err := rh.CheckWorkspace(ctx, last, "item2-certs"); err != nil {
		t.Fatalf("a workspace with commits on top of the run's: %v", err)
	}
	if _, err := rh.CheckWorkspace(ctx, "", ""); err != nil {
		t.Fatalf("a run with no checkpoint yet: %v", err)
	}
}

func TestPushFailureIsANoticeAndIsMadeLater(t *testing.T) {
	bare, ws := team(t)
	var told []string
	r, _ := Open(ws, WithRunbook("rb"), WithPush("origin"), WithNotice(func(s string) { told = append(told, s) }))
	var n notes
	checkpointWith(t, r, ws, 0, "v2\n", &n)
	if err := os.Rename(bare, bare+".away"); err != nil { // the remote is gone
		t.Fatal(err)
	}
	c2 := checkpointWith(t, r, ws, 1, "v3\n", &n)
	if got := strings.TrimSpace(git(t, ws, "rev-parse", "HEAD")); got != c2 {
		t.Fatalf("the checkpoint was lost: HEAD %s, want %s", got, c2)
	}
	t.Logf("journal note: %s", n[0])
	if len(n) != 1 || !strings.Contains(n[0], "checkpoint "+c2[:10]+" not pushed to origin") || !strings.Contains(n[0], "the push is owed") {
		t.Fatalf("journal notes: %q", n)
	}
	if len(told) != 1 || told[0] != n[0] {
		t.Fatalf("notice %q, journal %q", told, n)
	}
	if err := os.Rename(bare+".away", bare); err != nil {
		t.Fatal(err)
	}
	// The next checkpoint, even one that commits nothing, pays the push.
	req := request(1, 0, "app.conf")
	req.Note = n.add
	if res, err := r.Commit(context.Background(), req); err != nil || res.Commit != "" {
		t.Fatalf("an empty checkpoint: %+v, %v", res, err)
	}
	if got := strings.TrimSpace(git(t, bare, "rev-parse", "main")); got != c2 {
		t.Fatalf("remote main at %s after the owed push, want %s", got, c2)
	}
	if len(n) != 2 || !strings.Contains(n[1], "checkpoints owed to origin pushed (up to "+c2[:10]+")") {
		t.Fatalf("journal notes: %q", n)
	}

	// A session that died owing a push: the next one pays it at open.
	os.Rename(bare, bare+".away")
	c3 := checkpointWith(t, r, ws, 0, "v4\n", &n)
	os.Rename(bare+".away", bare)
	again, _ := Open(ws, WithRunbook("rb"), WithPush("origin"))
	note, failed := again.PushOwed(context.Background())
	if failed || !strings.Contains(note, "pushed (up to "+c3[:10]+")") {
		t.Fatalf("PushOwed: %q failed=%v", note, failed)
	}
	if got := strings.TrimSpace(git(t, bare, "rev-parse", "main")); got != c3 {
		t.Fatalf("remote main at %s, want %s", got, c3)
	}
	if note, failed := again.PushOwed(context.Background()); note != "" || failed {
		t.Fatalf("nothing owed, yet: %q %v", note, failed)
	}
}

func TestPushCredentialsNeverShown(t *testing.T) {
	bare, ws := team(t)
	gitBin, _ := exec.LookPath("git")
	const user, pass = "ana-token", "s3cret-Pa55"
	refuse := true
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"}, Env: []string{
		"GIT_PROJECT_ROOT=" + filepath.Dir(bare), "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=" + user,
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		u, p, ok := q.BasicAuth()
		if refuse || !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, q)
	}))
	defer srv.Close()
	remote := strings.Replace(srv.URL, "http://", "http://"+user+":"+pass+"@", 1) + "/" + filepath.Base(bare)
	var told []string
	r, err := Open(ws, WithRunbook("rb"), WithPush(remote), WithNotice(func(s string) { told = append(told, s) }))
	if err != nil {
		t.Fatal(err)
	}
	var n notes
	checkpointWith(t, r, ws, 0, "v2\n", &n) // refused: a notice
	refuse = false
	c2 := checkpointWith(t, r, ws, 1, "v3\n", &n) // pushed, with the owed one
	if got := strings.TrimSpace(git(t, bare, "rev-parse", "main")); got != c2 {
		t.Fatalf("remote main at %s, want %s; notes %q", got, c2, n)
	}
	t.Logf("journal notes: %q", n)
	if len(n) != 2 || !strings.Contains(n[0], "not pushed to http://***:***@127.0.0.1") || !strings.Contains(n[1], "pushed (up to") {
		t.Fatalf("notes: %q", n)
	}
	// A remote of the workspace whose configured URL holds them.
	git(t, ws, "remote", "add", "team", remote)
	refuse = true
	red := steps.NewRedactor()
	rt, err := Open(ws, WithRunbook("rb"), WithPush("team"), WithRedactor(red))
	if err != nil {
		t.Fatal(err)
	}
	checkpointWith(t, rt, ws, 0, "v4\n", &n)
	if len(n) != 3 || !strings.Contains(n[2], "not pushed to team: ") {
		t.Fatalf("notes: %q", n)
	}
	if got := red.String("x " + pass + " y"); strings.Contains(got, pass) {
		t.Fatalf("the session's redactor does not know the configured remote's password: %s", got)
	}
	ws2 := cloneOf(t, bare)
	git(t, ws2, "reset", "-q", "--hard", "HEAD~2")
	r2, _ := Open(ws2, WithRunbook("rb"), WithPush(remote))
	_, err = r2.CheckWorkspace(context.Background(), c2, "item2-nginx")
	all := n.text() + strings.Join(told, "\n") + SafeRemote(remote) + r.scrub("push "+remote+" failed") + errText(err)
	for _, s := range []string{pass, user} {
		if strings.Contains(all, s) {
			t.Fatalf("the credential %q is shown:\n%s", s, all)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSafeRemote(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@git.example.com/a.git": "https://***:***@git.example.com/a.git",
		"https://tok@git.example.com/a.git":     "https://***@git.example.com/a.git",
		"ssh://git:pw@git.example.com/a.git":    "ssh://git:***@git.example.com/a.git",
		"ssh://git@git.example.com/a.git":       "ssh://git@git.example.com/a.git",
		"git@git.example.com:a.git":             "git@git.example.com:a.git",
		"origin":                                "origin",
	} {
		if got := SafeRemote(in); got != want {
			t.Errorf("SafeRemote(%q) = %q, want %q", in, got, want)
		}
	}
}
