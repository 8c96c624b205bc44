package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A port already taken stops serve at once with the address in the error,
// whichever of its listeners it is, and releases what it had opened.
func TestServePortTaken(t *testing.T) {
	for _, flag := range []string{"--listen", "--http-listen", "--ops-listen"} {
		t.Run(flag, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			addrs := map[string]string{"--listen": "127.0.0.1:0", "--http-listen": "127.0.0.1:0", "--ops-listen": "127.0.0.1:0"}
			addrs[flag] = taken.Addr().String()
			args := []string{"serve", "--db", "sqlite:" + filepath.Join(t.TempDir(), "f.db")}
			for f, a := range addrs {
				args = append(args, f, a)
			}
			var logs syncBuffer
			done := make(chan error, 1)
			go func() { done <- run(context.Background(), args, &logs, &logs) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
					t.Fatalf("serve with %s taken: %v, want an error naming the address", flag, err)
				}
				if testing.Verbose() {
					t.Log(err)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("serve with %s taken did not return\n%s", flag, logs.String())
			}
		})
	}
}

// A second server on one SQLite file is refused at once, saying why;
// commands that open the file for a moment keep working beside the first.
func TestSecondServerOnSQLiteRefused(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "f.db")
	serveForTest(t, "--db", db)
	var logs syncBuffer
	err := run(context.Background(), []string{"serve", "--db", db, "--listen", "127.0.0.1:0", "--http-listen", "", "--ops-listen", ""}, &logs, &logs)
	if err == nil || !strings.Contains(err.Error(), "in use by another server") {
		t.Fatalf("second serve on %s: %v, want it refused as in use", db, err)
	}
	if out := keysCommand(t, db, "list"); !strings.Contains(out, "admin") {
		t.Errorf("keys list beside a server: %q", out)
	}
}
