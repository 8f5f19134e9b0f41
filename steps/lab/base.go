package lab

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
)

// overlayFiles are the files laid over the debootstrapped root filesystem
// (no services started by package scripts, no documentation, no apt cache).
func overlayFiles() ([]ctxFile, error) { return recipeFiles("base/rootfs") }

// baseImportHint says how to make the base image without debootstrap.
const baseImportHint = "or import any Debian " + Suite + " root filesystem yourself: `docker import ROOTFS.tar " + BaseImage + "`"

// findDebootstrap looks on PATH, then in the sbin directories a non-root
// PATH often lacks.
func findDebootstrap() (string, error) {
	if p, err := exec.LookPath("debootstrap"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/debootstrap", "/sbin/debootstrap"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("the base image %s is missing and debootstrap is not installed (looked on PATH, /usr/sbin, /sbin): install it (apt-get install debootstrap), %s", BaseImage, baseImportHint)
}

// buildBase makes the base image: debootstrap a minimal Debian root
// filesystem, lay the overlay over it, and stream it as a tar into the
// Engine API's image import.
func (l *Lab) buildBase(ctx context.Context, recipe string) error {
	deb, err := findDebootstrap()
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the base image %s is missing and debootstrap needs root: run `sudo runbook lab up` once (the image is reused afterwards), %s", BaseImage, baseImportHint)
	}
	tmp, err := os.MkdirTemp("", "runbook-lab-rootfs-")
	if err != nil {
		return fmt.Errorf("base image: temporary directory for the root filesystem: %w", err)
	}
	defer func() {
		// debootstrap mounts /proc and /sys inside the target while it
		// works; should one be left behind, removing the tree would reach
		// into it. Leave the directory instead.
		if m := mountsUnder(tmp); len(m) > 0 {
			l.say("left %s in place: %s still mounted there", tmp, strings.Join(m, ", "))
			return
		}
		_ = os.RemoveAll(tmp)
	}()
	rootfs := filepath.Join(tmp, "rootfs")
	args := []string{"--variant=minbase", Suite, rootfs, l.opt.Mirror}
	cmd := exec.CommandContext(ctx, deb, args...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin", "LC_ALL=C")
	out := newTail(12)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("debootstrap %s: %w", strings.Join(args, " "), ctx.Err())
		}
		return fmt.Errorf("debootstrap %s: %w\nlast lines:\n%s\ncheck that the mirror answers (choose another with --mirror), %s", strings.Join(args, " "), err, out, baseImportHint)
	}
	if err := prepareRootfs(rootfs); err != nil {
		return fmt.Errorf("base image: prepare %s: %w", rootfs, err)
	}

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeRootfs(pw, rootfs)
		pw.CloseWithError(err)
		done <- err
	}()
	res, err := l.api.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, BaseImage, client.ImageImportOptions{
		Message: "debootstrap --variant=minbase " + Suite,
		Changes: []string{"ENV LANG=C.UTF-8", `CMD ["/bin/bash"]`, "LABEL " + RecipeLabel + "=" + recipe},
	})
	if err == nil {
		err = readStream(res, func(string) {})
		res.Close()
	}
	// Unblock the writer if the engine stopped reading early.
	pr.CloseWithError(errors.New("import ended"))
	werr := <-done
	if err != nil {
		return l.engineErr(err, "import the base root filesystem as %s", BaseImage)
	}
	if werr != nil && !strings.Contains(werr.Error(), "import ended") {
		return fmt.Errorf("base image: pack %s: %w", rootfs, werr)
	}
	return nil
}

// prepareRootfs lays the overlay over a fresh root filesystem and drops
// what an image should not carry: downloaded packages and package lists.
func prepareRootfs(rootfs string) error {
	files, err := overlayFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(rootfs, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, fs.FileMode(f.mode)); err != nil {
			return err
		}
		if err := os.Chmod(p, fs.FileMode(f.mode)); err != nil {
			return err
		}
	}
	for _, dir := range []string{"var/lib/apt/lists", "var/cache/apt/archives"} {
		entries, err := os.ReadDir(filepath.Join(rootfs, dir))
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.IsDir() {
				if err := os.Remove(filepath.Join(rootfs, dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// emptied says whether a top-level directory's contents stay out of an
// image: the engine provides them at run time.
func emptied(dir string) bool {
	switch dir {
	case "dev", "proc", "sys", "run", "tmp":
		return true
	}
	return false
}

// writeRootfs writes the tree at root as a tar stream with numeric
// owners, hard links kept as links, and the contents of dev, proc, sys,
// run and tmp left out (the directories themselves stay).
func writeRootfs(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	seen := map[[2]uint64]string{} // (device, inode) → first name, for hard links
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if emptied(path.Dir(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch mode := fi.Mode(); {
		case mode&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case mode.IsDir(), mode.IsRegular():
		default:
			return nil // sockets, pipes and devices are made at run time
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		// Owners by number only: the host's user names mean nothing in
		// the image.
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = hdr.ModTime, hdr.ModTime
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := seen[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				seen[key] = rel
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// mountsUnder lists the mount points below dir (from /proc/self/mountinfo).
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
