package main

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolveBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name            string
		version, commit string
		info            *debug.BuildInfo
		want            buildInfo
	}{
		{"ldflags win over the VCS stamp", "v1.2.3", "fedcba", vcs,
			buildInfo{Version: "v1.2.3", Commit: "fedcba", Go: "go1.26.8"}},
		{"VCS stamp when no ldflags", "dev", "", vcs,
			buildInfo{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, Go: "go1.26.8"}},
		{"nothing known", "", "", &debug.BuildInfo{GoVersion: "go1.26.8"},
			buildInfo{Version: "dev", Commit: "unknown", Go: "go1.26.8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveBuildInfo(tc.version, tc.commit, tc.info); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{"fidelis " + version + "\n", "\ncommit  ", "\ngo      go1."} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}
