package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// checkImage verifies what the Dockerfile and the Kubernetes manifests
// promise of the image: its config (user, entrypoint, PATH, labels), its
// exact layout and ownership, a static binary for its architecture, and
// a CA bundle that parses. When the binary can run here, it also runs
// `fidelis version` and compares it with the labels. It returns one line
// per fact checked.
func checkImage(ctx context.Context, img v1.Image) ([]string, error) {
	var report []string
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	ok := func(format string, a ...any) { report = append(report, fmt.Sprintf(format, a...)) }

	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	c := cf.Config
	if cf.OS != "linux" || (cf.Architecture != "amd64" && cf.Architecture != "arm64") {
		fail("platform %s/%s, want linux/amd64 or linux/arm64", cf.OS, cf.Architecture)
	}
	if c.User != imageUser {
		fail("user %q, want %q", c.User, imageUser)
	}
	if !slices.Equal(c.Entrypoint, []string{entrypoint}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		fail("entrypoint %q cmd %q, want [%s] [serve]", c.Entrypoint, c.Cmd, entrypoint)
	}
	if !slices.ContainsFunc(c.Env, func(e string) bool {
		p, ok := strings.CutPrefix(e, "PATH=")
		return ok && slices.Contains(filepath.SplitList(p), "/usr/local/bin")
	}) {
		fail("env %q: PATH lacks /usr/local/bin (the manifests run `fidelis`)", c.Env)
	}
	if c.WorkingDir != "/"+dataDir {
		fail("working dir %q, want /%s", c.WorkingDir, dataDir)
	}
	for k, v := range labels("", "") {
		if got := c.Labels[k]; v != "" && got != v {
			fail("label %s = %q, want %q", k, got, v)
		}
	}
	version, commit := c.Labels[labelVersion], c.Labels[labelRevision]
	if version == "" || commit == "" {
		fail("labels %s %q and %s %q must not be empty", labelVersion, version, labelRevision, commit)
	}
	ok("platform %s/%s, user %s, entrypoint %q, cmd %q, workdir %s", cf.OS, cf.Architecture, c.User, c.Entrypoint, c.Cmd, c.WorkingDir)
	ok("labels: version %s, revision %s", version, commit)

	files, err := readLayers(img)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, e := range layout(spec{}) {
		want[e.name] = true
	}
	for name, f := range files {
		if !want[name] {
			fail("unexpected %s in the image", name)
			continue
		}
		wantUID := 0
		if name == dataDir+"/" {
			wantUID = uid
		}
		if f.Uid != wantUID || f.Gid != wantUID {
			fail("%s owned by %d:%d, want %d:%d", name, f.Uid, f.Gid, wantUID, wantUID)
		}
		if f.Mode&^0o755 != 0 {
			fail("%s mode %o: only 0755 bits allowed (no setuid, no group or world write)", name, f.Mode)
		}
		if !f.ModTime.Equal(cf.Created.Time) {
			fail("%s time %s, want the image's %s (reproducible)", name, f.ModTime, cf.Created.Time)
		}
	}
	for name := range want {
		if _, there := files[name]; !there {
			fail("%s missing", name)
		}
	}
	if f := files[dataDir+"/"]; f != nil && f.Typeflag != tar.TypeDir {
		fail("/%s is not a directory", dataDir)
	}

	bin := files[binPath]
	if bin != nil {
		if bin.Typeflag != tar.TypeReg || bin.Mode != 0o755 {
			fail("%s: type %c mode %o, want a regular file 0755", binPath, bin.Typeflag, bin.Mode)
		}
		if err := checkStatic(bin.body, cf.Architecture); err != nil {
			fail("%s: %v", binPath, err)
		} else {
			ok("/%s: static ELF for %s (no interpreter, no dynamic section), %d bytes", binPath, cf.Architecture, len(bin.body))
		}
	}
	if ca := files[caPath]; ca != nil {
		if ca.Mode != 0o644 {
			fail("%s mode %o, want 0644", caPath, ca.Mode)
		}
		if n, err := countCerts(ca.body); err != nil {
			fail("%s: %v", caPath, err)
		} else {
			ok("/%s: %d CA certificates", caPath, n)
		}
	}
	if len(errs) == 0 {
		ok("layout: %d entries owned by root but /%s (%d:%d), timestamps %s", len(files), dataDir, uid, uid, cf.Created.UTC().Format(time.RFC3339))
	}
	if bin != nil && len(errs) == 0 && runtime.GOOS == "linux" && runtime.GOARCH == cf.Architecture {
		if err := checkVersion(ctx, bin.body, version, commit); err != nil {
			fail("%v", err)
		} else {
			ok("fidelis version reports %s, commit %s", version, commit)
		}
	}
	return report, errors.Join(errs...)
}

// file is a layer's tar header and its content.
type file struct {
	*tar.Header
	body []byte
}

// readLayers reads every layer's files, the later layer winning.
func readLayers(img v1.Image) (map[string]*file, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	files := map[string]*file{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return nil, err
			}
			body, err := io.ReadAll(tr)
			if err != nil {
				rc.Close()
				return nil, err
			}
			name := strings.TrimPrefix(h.Name, "./")
			if h.Typeflag == tar.TypeDir && !strings.HasSuffix(name, "/") {
				name += "/"
			}
			files[name] = &file{Header: h, body: body}
		}
		if err := rc.Close(); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// checkStatic verifies that b is an executable ELF for goarch that needs
// no dynamic loader: no PT_INTERP, no PT_DYNAMIC, no .dynamic section (an
// image with no libc could not start anything else).
func checkStatic(b []byte, goarch string) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF file: %w", err)
	}
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
	if f.Machine != machine {
		return fmt.Errorf("ELF machine %s, want %s for %s", f.Machine, machine, goarch)
	}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			return errors.New("dynamically linked: it has an interpreter (PT_INTERP); build with CGO_ENABLED=0")
		case elf.PT_DYNAMIC:
			return errors.New("dynamically linked: it has a PT_DYNAMIC segment; build with CGO_ENABLED=0")
		}
	}
	if f.Section(".dynamic") != nil {
		return errors.New("dynamically linked: it has a .dynamic section; build with CGO_ENABLED=0")
	}
	if f.Type != elf.ET_EXEC {
		return fmt.Errorf("ELF type %s, want %s (a static executable)", f.Type, elf.ET_EXEC)
	}
	return nil
}

// countCerts parses a PEM bundle: every block a certificate, at least one.
func countCerts(b []byte) (int, error) {
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return 0, fmt.Errorf("a %q block in the bundle", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return 0, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("no certificates")
	}
	return n, nil
}

// checkVersion runs the binary's `version` command and compares it with
// the labels: the -X flags reached the binary the labels describe.
func checkVersion(ctx context.Context, bin []byte, version, commit string) error {
	dir, err := os.MkdirTemp("", "fidelis-image-check")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "fidelis")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "version").Output()
	if err != nil {
		return fmt.Errorf("fidelis version: %w", err)
	}
	want := fmt.Sprintf("fidelis %s\ncommit  %s\n", version, commit)
	if !strings.HasPrefix(string(out), want) {
		return fmt.Errorf("fidelis version printed %q, want it to start with %q (the labels)", out, want)
	}
	return nil
}
