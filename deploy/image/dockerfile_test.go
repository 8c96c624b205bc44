package main

import (
	"os"
	"strings"
	"testing"
)

// TestDockerfileInStep keeps the Dockerfile, which nobody can run here,
// in step with the image this command builds and checks: same user,
// entrypoint, command, working directory, PATH, ports, labels and layout.
func TestDockerfileInStep(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, so each instruction is one line.
	df := strings.ReplaceAll(string(b), "\\\n", " ")
	want := []string{
		"\nFROM scratch\n",
		"\nUSER " + imageUser + "\n",
		`ENTRYPOINT ["` + entrypoint + `"]`,
		`CMD ["serve"]`,
		"\nWORKDIR /" + dataDir + "\n",
		"\nENV " + envPath + "\n",
		"COPY --from=build --chown=65532:65532 /data /data",
		"/rootfs/" + binPath + " ",
		"/rootfs/" + caPath,
		"CGO_ENABLED=0",
		"-X main.version=${VERSION} -X main.commit=${COMMIT}",
		labelVersion + `="${VERSION}"`,
		labelRevision + `="${COMMIT}"`,
	}
	for k, v := range labels("", "") {
		if v != "" {
			want = append(want, k+`="`+v+`"`)
		}
	}
	var expose []string
	for _, p := range ports() {
		expose = append(expose, strings.TrimSuffix(p, "/tcp"))
	}
	want = append(want, "\nEXPOSE "+strings.Join(expose, " ")+"\n")
	for _, w := range want {
		if !strings.Contains(df, w) {
			t.Errorf("Dockerfile lacks %q (deploy/image builds it so)", w)
		}
	}
}
