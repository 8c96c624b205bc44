package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's layout, the same as the Dockerfile's final stage.
const (
	binPath = "usr/local/bin/fidelis"
	caPath  = "etc/ssl/certs/ca-certificates.crt"
	// dataDir is the working directory and the only directory the user
	// owns: a SQLite database (the default --db, sqlite:fidelis.db) lands
	// there, and a volume mounted on it starts with that ownership.
	dataDir = "data"
	// uid and gid of the user the image runs as (distroless's "nonroot"),
	// which the Kubernetes manifests set too (runAsUser: 65532).
	uid = 65532

	imageUser  = "65532:65532"
	entrypoint = "/usr/local/bin/fidelis"
	envPath    = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	sourceURL  = "https://github.com/fidelis-loyalty/fidelis"

	labelTitle    = "org.opencontainers.image.title"
	labelDesc     = "org.opencontainers.image.description"
	labelSource   = "org.opencontainers.image.source"
	labelVersion  = "org.opencontainers.image.version"
	labelRevision = "org.opencontainers.image.revision"
)

// ports the image exposes: gRPC, HTTP (web page and JSON API), operations
// (health).
func ports() []string { return []string{"8443/tcp", "8080/tcp", "8081/tcp"} }

// spec is what an image is made of.
type spec struct {
	Binary   []byte // the static fidelis binary for linux/Arch
	CABundle []byte // PEM certificates, Debian's ca-certificates bundle
	Version  string
	Commit   string
	Arch     string    // GOARCH: amd64 or arm64
	Created  time.Time // every timestamp in the image (reproducible builds)
}

// entry is one file or directory of the layer.
type entry struct {
	name     string
	mode     int64
	uid, gid int
	body     []byte // nil for a directory
}

func layout(s spec) []entry {
	dir := func(name string) entry { return entry{name: name + "/", mode: 0o755} }
	return []entry{
		dir("data"), // replaced below: owned by the user
		dir("etc"), dir("etc/ssl"), dir("etc/ssl/certs"),
		{name: caPath, mode: 0o644, body: s.CABundle},
		dir("usr"), dir("usr/local"), dir("usr/local/bin"),
		{name: binPath, mode: 0o755, body: s.Binary},
	}
}

// rootfs is the image's only layer, as an uncompressed tar: root owns
// everything but /data, and every timestamp is s.Created, so the same
// inputs give the same bytes.
func rootfs(s spec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range layout(s) {
		if e.name == dataDir+"/" {
			e.uid, e.gid = uid, uid
		}
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			ModTime: s.Created, Format: tar.FormatPAX,
			Typeflag: tar.TypeDir,
		}
		if e.body != nil {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// buildImage makes the image from nothing (no base image to pull): one
// layer with the binary, the CA bundle and /data, and a config that runs
// fidelis serve as 65532:65532.
func buildImage(s spec) (v1.Image, error) {
	if len(s.Binary) == 0 || len(s.CABundle) == 0 {
		return nil, fmt.Errorf("the binary and the CA bundle must not be empty")
	}
	s.Created = s.Created.UTC().Truncate(time.Second)
	fs, err := rootfs(s)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(fs)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: s.Created},
			CreatedBy: "go run ./deploy/image: /usr/local/bin/fidelis, /etc/ssl/certs/ca-certificates.crt, /data",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", s.Arch
	cf.Created = v1.Time{Time: s.Created}
	cf.Config.User = imageUser
	cf.Config.Entrypoint = []string{entrypoint}
	cf.Config.Cmd = []string{"serve"}
	cf.Config.Env = []string{envPath}
	cf.Config.WorkingDir = "/" + dataDir
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range ports() {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	cf.Config.Labels = labels(s.Version, s.Commit)
	return mutate.ConfigFile(img, cf)
}

// labels are the image's OCI annotations, the same as the Dockerfile's.
func labels(version, commit string) map[string]string {
	return map[string]string{
		labelTitle:    "fidelis",
		labelDesc:     "Fidelis loyalty-points ledger (gRPC)",
		labelSource:   sourceURL,
		labelVersion:  version,
		labelRevision: commit,
	}
}
