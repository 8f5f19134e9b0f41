package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/runbook-dev/runbook/assets"
)

// RecipeLabel is the image label holding a hash of the recipe an image was
// built from, so that `lab up` can tell when a reused image is out of date.
const RecipeLabel = "dev.runbook.lab.recipe"

// labImage is one of the lab's images and how it is made.
type labImage struct {
	key  string // short name, for --rebuild and messages
	ref  string
	what string // "postgres image", for progress lines
}

// images are the lab's images, in build order: the derived images need
// the base.
func images() []labImage {
	return []labImage{
		{"base", BaseImage, "base image (debootstrap " + Suite + ")"},
		{"postgres", PostgresImage, "postgres image"},
		{"nginx", NginxImage, "nginx image"},
		{"app", AppImage, "app image"},
	}
}

func imageByKey(key string) (labImage, bool) {
	for _, im := range images() {
		if im.key == key {
			return im, true
		}
	}
	return labImage{}, false
}

func imageKeys() string {
	var keys []string
	for _, im := range images() {
		keys = append(keys, im.key)
	}
	return strings.Join(keys, ", ")
}

func (l *Lab) wantRebuild(key string) bool {
	for _, r := range l.opt.Rebuild {
		if r == key || r == "all" {
			return true
		}
	}
	return false
}

// ImageState is what the engine has of one lab image.
type ImageState struct {
	Key     string    `json:"key"`
	Ref     string    `json:"ref"`
	Present bool      `json:"present"`
	ID      string    `json:"id,omitempty"`
	Created time.Time `json:"created,omitzero"`
	Size    int64     `json:"size,omitempty"`
	Recipe  string    `json:"recipe,omitempty"` // the RecipeLabel value
}

func (l *Lab) inspectImage(ctx context.Context, im labImage) (ImageState, error) {
	st := ImageState{Key: im.key, Ref: im.ref}
	res, err := l.api.ImageInspect(ctx, im.ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return st, nil
		}
		return st, l.engineErr(err, "inspect image %s", im.ref)
	}
	st.Present, st.ID, st.Size = true, res.ID, res.Size
	st.Created, _ = time.Parse(time.RFC3339Nano, res.Created)
	if res.Config != nil {
		st.Recipe = res.Config.Labels[RecipeLabel]
	}
	return st, nil
}

// ensureImages builds every lab image that is missing (or asked to be
// rebuilt) and returns the keys of those built.
func (l *Lab) ensureImages(ctx context.Context) ([]string, error) {
	var built []string
	for _, im := range images() {
		st, err := l.inspectImage(ctx, im)
		if err != nil {
			return built, err
		}
		recipe, err := l.recipe(im)
		if err != nil {
			return built, err
		}
		if st.Present && !l.wantRebuild(im.key) {
			if recipe != "" && st.Recipe != recipe {
				l.say("%s: reused, but it was built from another recipe; `runbook lab up --rebuild=%s` builds it again", im.ref, im.key)
			} else {
				l.say("%s: present, reused", im.ref)
			}
			continue
		}
		err = l.timed("building "+im.what, 10*time.Second, func() error {
			switch im.key {
			case "base":
				return l.buildBase(ctx, recipe)
			case "app":
				return l.buildApp(ctx, recipe)
			default:
				files, err := recipeFiles(im.key)
				if err != nil {
					return err
				}
				return l.build(ctx, im, files, recipe)
			}
		})
		if err != nil {
			return built, err
		}
		built = append(built, im.key)
	}
	return built, nil
}

// recipe is the hash of what an image is made from ("" when that cannot
// be known without building: the app image when no source tree is found).
func (l *Lab) recipe(im labImage) (string, error) {
	switch im.key {
	case "base":
		files, err := overlayFiles()
		if err != nil {
			return "", err
		}
		return hashFiles(append(files, ctxFile{name: "debootstrap", data: []byte("--variant=minbase " + Suite)})), nil
	case "app":
		src, err := l.sourceRoot()
		if err != nil {
			return "", nil // reported when a build needs it
		}
		if _, err := exec.LookPath("go"); err != nil {
			return "", nil // likewise: the build says to install Go
		}
		files, err := appSourceFiles(src)
		if err != nil {
			return "", err
		}
		return hashFiles(files), nil
	default:
		files, err := recipeFiles(im.key)
		if err != nil {
			return "", err
		}
		return hashFiles(files), nil
	}
}

// ctxFile is one file of a build context.
type ctxFile struct {
	name string
	mode int64
	data []byte
}

// recipeFiles reads an image's build context from the embedded recipes.
func recipeFiles(dir string) ([]ctxFile, error) {
	return readTree(assets.Lab(), dir)
}

// readTree reads every file under dir of fsys. go:embed keeps no file
// modes: a file that starts with "#!" is a script and gets 0755.
func readTree(fsys fs.FS, dir string) ([]ctxFile, error) {
	var files []ctxFile
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if bytes.HasPrefix(data, []byte("#!")) {
			mode = 0o755
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		files = append(files, ctxFile{name: rel, mode: mode, data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read lab recipe %s: %w", dir, err)
	}
	return files, nil
}

// hashFiles is a stable digest of names, modes and contents.
func hashFiles(files []ctxFile) string {
	sorted := append([]ctxFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	h := sha256.New()
	for _, f := range sorted {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", f.name, f.mode, len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// contextTar is a build context: the files in a tar stream, with fixed
// times so that the same recipe gives the same bytes.
func contextTar(files []ctxFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.name); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names) // parents before children
	epoch := time.Unix(0, 0)
	for _, d := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// build runs the Engine API's image build on a tar context (the classic
// builder: it resolves FROM runbook-lab/base locally, never pulling).
func (l *Lab) build(ctx context.Context, im labImage, files []ctxFile, recipe string) error {
	tarball, err := contextTar(files)
	if err != nil {
		return fmt.Errorf("build %s: pack the build context: %w", im.ref, err)
	}
	opts := client.ImageBuildOptions{
		Tags:        []string{im.ref},
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		Dockerfile:  "Dockerfile",
		Labels:      map[string]string{RecipeLabel: recipe},
	}
	res, err := l.api.ImageBuild(ctx, bytes.NewReader(tarball), opts)
	if err != nil {
		return l.engineErr(err, "build %s", im.ref)
	}
	defer res.Body.Close()
	tail := newTail(15)
	err = readStream(res.Body, func(line string) {
		tail.add(line)
		if strings.HasPrefix(line, "Step ") {
			l.say("  %s", clip(line, 110))
		}
	})
	if err != nil {
		msg := fmt.Sprintf("build %s via %s: %v", im.ref, l.host, err)
		if t := tail.String(); t != "" {
			msg += "\nlast lines of the build:\n" + t
		}
		if strings.Contains(err.Error(), "apt") || strings.Contains(tail.String(), "Temporary failure resolving") {
			msg += "\nthe build installs Debian packages: the engine's containers must reach the Debian mirror"
		}
		return errors.New(msg)
	}
	return nil
}

// readStream reads an Engine API JSON message stream (build, import),
// passing each line of output to line; the stream's error, if any, is
// returned.
func readStream(r io.Reader, line func(string)) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read the engine's progress stream: %w", err)
		}
		if m.Error != nil {
			return m.Error
		}
		for _, s := range []string{m.Stream, m.Status} {
			for _, ln := range strings.Split(s, "\n") {
				if ln = strings.TrimRight(ln, "\r "); ln != "" {
					line(ln)
				}
			}
		}
	}
}

// tail keeps the last n lines of a command's output, for error messages.
type tail struct {
	n     int
	lines []string
	part  []byte
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) add(line string) {
	t.lines = append(t.lines, line)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

// Write makes a tail an io.Writer for a command's output.
func (t *tail) Write(p []byte) (int, error) {
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		if ln := strings.TrimRight(string(t.part[:i]), "\r"); strings.TrimSpace(ln) != "" {
			t.add(ln)
		}
		t.part = t.part[i+1:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	lines := t.lines
	if len(t.part) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(t.part))
	}
	return strings.Join(lines, "\n")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
