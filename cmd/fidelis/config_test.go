package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	ctx := context.Background()
	var out, errOut bytes.Buffer
	good := []string{"config", "check", "../../deploy/k8s/base/programme.yaml", "../../services/ledger/config/programme.yaml"}
	if err := run(ctx, good, &out, &errOut); err != nil {
		t.Fatalf("config check of the shipped programmes: %v\n%s", err, errOut.String())
	}
	if got := strings.Count(out.String(), ": ok"); got != 2 {
		t.Errorf("want two ok lines, got:\n%s", out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nprogrammes:\n  - id: p\n    currency: EUR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run(ctx, []string{"config", "check", good[2], bad}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "earning.rates") {
		t.Fatalf("config check of a programme without rates: err = %v, want earning.rates", err)
	}
	if !strings.Contains(out.String(), "programme.yaml: ok") {
		t.Errorf("the good file is still reported: %q", out.String())
	}
	if err := run(ctx, []string{"config", "check"}, &out, &errOut); err == nil {
		t.Error("config check without files: want an error")
	}
}
