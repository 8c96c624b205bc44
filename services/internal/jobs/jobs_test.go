package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/jobs"
)

// Every runs the job again after a failure, logs the failure with the
// job's name, and returns when the context ends.
func TestEveryKeepsRunningAndLogsFailures(t *testing.T) {
	var mu sync.Mutex
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logged, mu: &mu}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		jobs.Every(ctx, time.Millisecond, log, "purge", func(context.Context) error {
			if runs++; runs == 3 {
				cancel()
			}
			return errors.New("database down")
		})
	}()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if runs != 3 {
		t.Fatalf("ran %d times, want 3 (failures do not stop the loop, the context does)", runs)
	}
	if n := strings.Count(logged.String(), "job=purge"); n != 2 {
		t.Fatalf("logged %d failures, want 2 (not the one after the context ended):\n%s", n, logged.String())
	}
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
