package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	testVersion = "v1.2.3-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// fakeFidelis builds, with CGO_ENABLED=0, a small static program that
// answers `version` as fidelis does, standing in for the real binary
// (which takes a minute to build here; .ci/run builds the real image).
func fakeFidelis(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := `package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Print("fidelis ` + testVersion + `\ncommit  ` + testCommit + `\ngo      go\n")
	}
}
`
	for name, body := range map[string]string{"go.mod": "module fake\n\ngo 1.26\n", "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", "fidelis", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "fidelis"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func caBundle(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skipf("no CA bundle (apt-get install ca-certificates): %v", err)
	}
	return b
}

// writeTarball builds the image and writes it as `go run ./deploy/image
// -o` does, returning the file's path.
func writeTarball(t *testing.T, s spec) string {
	t.Helper()
	img, err := buildImage(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fidelis.tar")
	if err := tarball.WriteToFile(path, name.MustParseReference("fidelis:latest"), img); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImageBuildsChecksAndIsReproducible(t *testing.T) {
	s := spec{Binary: fakeFidelis(t), CABundle: caBundle(t), Version: testVersion, Commit: testCommit, Arch: "amd64", Created: time.Unix(0, 0)}

	first, second := writeTarball(t, s), writeTarball(t, s)
	a, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Error("two builds from the same inputs wrote different tarballs")
	}

	img, err := tarball.ImageFromPath(first, nil)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := tarball.ImageFromPath(second, nil)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := img2.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("same inputs, digests %s and %s", d1, d2)
	}

	report, err := checkImage(context.Background(), img)
	if err != nil {
		t.Fatalf("check: %v\nreport: %q", err, report)
	}
	joined := strings.Join(report, "\n")
	for _, want := range []string{"static ELF", "CA certificates", "fidelis version reports " + testVersion, "user 65532:65532"} {
		if !strings.Contains(joined, want) {
			t.Errorf("report lacks %q:\n%s", want, joined)
		}
	}

	// The CLI's -check mode reads the same file.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-check", first}, &out, &out); err != nil {
		t.Fatalf("-check: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "manifest digest "+d1.String()) {
		t.Errorf("-check printed no digest:\n%s", out.String())
	}

	// Another time gives another digest: the time is an input.
	s.Created = time.Unix(1700000000, 0)
	later, err := buildImage(s)
	if err != nil {
		t.Fatal(err)
	}
	if d3, err := later.Digest(); err != nil || d3 == d1 {
		t.Errorf("a different SOURCE_DATE_EPOCH gave digest %s (err %v), the same as %s", d3, err, d1)
	}
}

func TestCheckRefuses(t *testing.T) {
	ca := caBundle(t)
	static := fakeFidelis(t)
	good := spec{Binary: static, CABundle: ca, Version: testVersion, Commit: testCommit, Arch: "amd64", Created: time.Unix(0, 0)}

	mutateConfig := func(f func(*v1.ConfigFile)) func(*testing.T) v1.Image {
		return func(t *testing.T) v1.Image {
			img, err := buildImage(good)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			cf = cf.DeepCopy()
			f(cf)
			img, err = mutate.ConfigFile(img, cf)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	withSpec := func(f func(*spec)) func(*testing.T) v1.Image {
		return func(t *testing.T) v1.Image {
			s := good
			f(&s)
			img, err := buildImage(s)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	for _, tc := range []struct {
		name string
		img  func(*testing.T) v1.Image
		want string
	}{
		{"root user", mutateConfig(func(cf *v1.ConfigFile) { cf.Config.User = "" }), "user"},
		{"shell entrypoint", mutateConfig(func(cf *v1.ConfigFile) { cf.Config.Entrypoint = []string{"/bin/sh"} }), "entrypoint"},
		{"no PATH", mutateConfig(func(cf *v1.ConfigFile) { cf.Config.Env = nil }), "PATH"},
		{"no revision", mutateConfig(func(cf *v1.ConfigFile) { delete(cf.Config.Labels, labelRevision) }), labelRevision},
		{"labels that are not the binary's", withSpec(func(s *spec) { s.Version = "v9" }), "fidelis version printed"},
		{"dynamic binary", withSpec(func(s *spec) {
			b, err := os.ReadFile("/bin/ls") // Debian's ls is dynamically linked
			if err != nil {
				t.Skip(err)
			}
			s.Binary = b
		}), "dynamically linked"},
		{"not a CA bundle", withSpec(func(s *spec) { s.CABundle = []byte("not PEM") }), "no certificates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkImage(context.Background(), tc.img(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check: %v, want an error about %q", err, tc.want)
			}
		})
	}
}
