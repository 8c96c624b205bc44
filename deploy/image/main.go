// Command image builds Fidelis's container image without a Docker daemon,
// a registry or a base image to pull, as a tarball that `docker load`,
// `podman load`, `kind load image-archive` and crane read, and checks one.
// It makes the same image as the Dockerfile at the repository's root
// (which needs Docker): the static binary at /usr/local/bin/fidelis, the
// CA bundle at /etc/ssl/certs/ca-certificates.crt, /data owned by the
// user 65532:65532 the image runs as; nothing else.
//
//	go run ./deploy/image -o fidelis.tar          build ./cmd/fidelis (CGO_ENABLED=0) and the image
//	go run ./deploy/image -binary bin -o fidelis.tar   the image of a binary built already
//	go run ./deploy/image -check fidelis.tar      check an image tarball
//
// The version label and -X main.version default to `git describe --tags
// --always --dirty`, the revision to `git rev-parse HEAD`. Every timestamp
// is SOURCE_DATE_EPOCH (default 0), so the same inputs give the same
// digest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "image:", err)
		}
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the image tarball to this file")
	check := fs.String("check", "", "check this image tarball, build nothing")
	binary := fs.String("binary", "", "the fidelis binary to put in the image (default: build ./cmd/fidelis)")
	ca := fs.String("ca", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle (Debian's ca-certificates)")
	version := fs.String("version", "", "version label and -X main.version (default: git describe --tags --always --dirty)")
	commit := fs.String("commit", "", "revision label and -X main.commit (default: git rev-parse HEAD)")
	arch := fs.String("arch", "amd64", "GOARCH of the image: amd64 or arm64")
	tag := fs.String("tag", "fidelis:latest", "the tag the tarball loads as")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*out == "") == (*check == "") {
		fmt.Fprintln(stderr, "usage: image -o FILE [flags] | image -check FILE")
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	if *check != "" {
		return checkFile(ctx, *check, stdout)
	}

	if *arch != "amd64" && *arch != "arm64" {
		return fmt.Errorf("-arch %q: want amd64 or arm64", *arch)
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("-tag: %w", err)
	}
	created, err := sourceDate()
	if err != nil {
		return err
	}
	if *version == "" {
		if *version, err = git(ctx, "describe", "--tags", "--always", "--dirty"); err != nil {
			return fmt.Errorf("no -version and %w", err)
		}
	}
	if *commit == "" {
		if *commit, err = git(ctx, "rev-parse", "HEAD"); err != nil {
			return fmt.Errorf("no -commit and %w", err)
		}
	}
	for _, v := range []string{*version, *commit} {
		if v == "" || strings.ContainsAny(v, " \t\n'\"") {
			return fmt.Errorf("version and commit must be single words, got %q", v)
		}
	}
	caBundle, err := os.ReadFile(*ca)
	if err != nil {
		return fmt.Errorf("CA bundle (apt-get install ca-certificates): %w", err)
	}
	if *binary == "" {
		dir, err := os.MkdirTemp("", "fidelis-image")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*binary = filepath.Join(dir, "fidelis")
		if err := buildBinary(ctx, *binary, *arch, *version, *commit, stderr); err != nil {
			return err
		}
	}
	bin, err := os.ReadFile(*binary)
	if err != nil {
		return err
	}
	img, err := buildImage(spec{Binary: bin, CABundle: caBundle, Version: *version, Commit: *commit, Arch: *arch, Created: created})
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(*out, ref, img); err != nil {
		return err
	}
	return describe(stdout, *out, ref.String(), img)
}

// buildBinary builds ./cmd/fidelis as the Dockerfile does.
func buildBinary(ctx context.Context, out, arch, version, commit string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s", version, commit),
		"-o", out, "./cmd/fidelis")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/fidelis (run from the repository's root): %w", err)
	}
	return nil
}

func git(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// sourceDate is SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/), else 0.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
	}
	return time.Unix(n, 0).UTC(), nil
}

func checkFile(ctx context.Context, path string, stdout io.Writer) error {
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		return err
	}
	report, err := checkImage(ctx, img)
	for _, line := range report {
		fmt.Fprintln(stdout, "ok:", line)
	}
	if err != nil {
		return fmt.Errorf("%s:\n%w", path, err)
	}
	return describe(stdout, path, "", img)
}

// describe prints the image's identity and size.
func describe(w io.Writer, path, ref string, img v1.Image) error {
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var compressed int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return err
		}
		compressed += n
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if ref != "" {
		fmt.Fprintf(w, "wrote %s (%s)\n", path, ref)
	}
	fmt.Fprintf(w, "manifest digest %s\nimage id        %s\nsize            %d bytes compressed (%.1f MiB), tarball %d bytes\n",
		digest, id, compressed, float64(compressed)/(1<<20), st.Size())
	return nil
}
