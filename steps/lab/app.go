package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/client"
)

// Module is the module path of the source tree the app image is built from.
const Module = "github.com/runbook-dev/runbook"

// appPackage is the stand-in application's import path: the go tool finds
// its directory in the module, wherever the tree lies.
const appPackage = Module + "/cmd/labapp"

// sourceRoot finds the runbook source tree: Options.Source, else the
// nearest directory upward from the working directory whose go.mod
// declares Module.
func (l *Lab) sourceRoot() (string, error) {
	if l.opt.Source != "" {
		abs, err := filepath.Abs(l.opt.Source)
		if err != nil {
			return "", err
		}
		if !isSourceRoot(abs) {
			return "", fmt.Errorf("--source %s: not the runbook source tree (want a go.mod declaring %s)", l.opt.Source, Module)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isSourceRoot(dir) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("the app image %s is built from the runbook source tree (`go build %s`), and none was found upward from %s: run `runbook lab up` inside a checkout of %s, or pass --source DIR", AppImage, appPackage, wd, Module)
}

func isSourceRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == Module
		}
	}
	return false
}

// appSourceFiles are what the app binary is built from, for its recipe
// hash: the package's Go files, tests left out. (The module's go.mod and
// go.sum change with every dependency of runbook itself; counting them
// would call the image stale far more often than the app changes.)
func appSourceFiles(root string) ([]ctxFile, error) {
	// The go tool says where the package is and which files it builds
	// from (build constraints applied): no path is assumed.
	cmd := exec.Command("go", "list", "-f", "{{.Dir}}{{range .GoFiles}}\n{{.}}{{end}}", appPackage)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s in %s: %w: %s", appPackage, root, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := lines[0]
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return nil, err
	}
	names := lines[1:]
	sort.Strings(names)
	files := make([]ctxFile, 0, len(names))
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		// Named from the module root, as before, so that the recipe hash
		// of an unchanged app stays the same.
		files = append(files, ctxFile{name: filepath.ToSlash(filepath.Join(rel, n)), mode: 0o644, data: data})
	}
	return files, nil
}

// buildApp compiles cmd/labapp as a static binary for the engine's
// architecture and builds the FROM scratch image around it.
func (l *Lab) buildApp(ctx context.Context, recipe string) error {
	root, err := l.sourceRoot()
	if err != nil {
		return err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the app image %s is built with `go build %s` and no go toolchain is on PATH: install Go (see go.mod for the version)", AppImage, appPackage)
	}
	ver, err := l.api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return l.engineErr(err, "ask the engine for its architecture")
	}
	goos, goarch := ver.Os, ver.Arch
	if goos == "" {
		goos = "linux"
	}
	if goarch == "" {
		goarch = "amd64"
	}
	tmp, err := os.MkdirTemp("", "runbook-labapp-")
	if err != nil {
		return fmt.Errorf("app image: temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "labapp")
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", bin, appPackage}
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	out := newTail(20)
	cmd.Stdout, cmd.Stderr = out, out
	l.say("  CGO_ENABLED=0 GOOS=%s GOARCH=%s go build %s (in %s)", goos, goarch, appPackage, root)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("app image: CGO_ENABLED=0 go %s in %s: %w\n%s", strings.Join(args, " "), root, err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("app image: read the built binary: %w", err)
	}
	files, err := recipeFiles("app")
	if err != nil {
		return err
	}
	files = append(files, ctxFile{name: "labapp", mode: 0o755, data: data})
	im, _ := imageByKey("app")
	return l.build(ctx, im, files, recipe)
}
