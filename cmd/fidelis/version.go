package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// commit is set at build time with -ldflags "-X main.commit=..." (the
// Dockerfile and deploy/image do). When it is empty, the commit comes from
// the VCS stamp that go build records in the binary (vcs.revision,
// vcs.modified), so `go build` and `go install` in a clone report it too.
var commit = ""

// buildInfo is what `fidelis version` prints.
type buildInfo struct {
	Version  string // -X main.version, else "dev"
	Commit   string // -X main.commit, else vcs.revision, else "unknown"
	Modified bool   // vcs.modified: built from a tree with uncommitted changes
	Go       string // the Go release the binary was built with
}

// resolveBuildInfo combines the link-time values with the build info the
// binary carries (nil when it carries none).
func resolveBuildInfo(version, commit string, info *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version()}
	if b.Version == "" {
		b.Version = "dev"
	}
	if info != nil {
		if info.GoVersion != "" {
			b.Go = info.GoVersion
		}
		if b.Commit == "" {
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					b.Commit = s.Value
				case "vcs.modified":
					b.Modified = s.Value == "true"
				}
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func printVersion(stdout io.Writer) error {
	info, _ := debug.ReadBuildInfo()
	b := resolveBuildInfo(version, commit, info)
	modified := ""
	if b.Modified {
		modified = " (modified)"
	}
	_, err := fmt.Fprintf(stdout, "fidelis %s\ncommit  %s%s\ngo      %s %s/%s\n",
		b.Version, b.Commit, modified, b.Go, runtime.GOOS, runtime.GOARCH)
	return err
}
