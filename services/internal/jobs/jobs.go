// Package jobs runs a service's background work: a function every
// interval until its context ends, its failures logged, never stopping the
// loop.
package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Every runs run every interval, the first time one interval from now,
// until ctx ends. A failure is logged as the named job's, and the next run
// comes at the next interval; a failure because ctx ended is not.
func Every(ctx context.Context, every time.Duration, log *slog.Logger, name string, run func(ctx context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// An outage of the database is logged once by the readiness
		// watch, not by every job at every interval.
		if err := run(ctx); err != nil && ctx.Err() == nil && fault.ReasonOf(err) != fault.DatabaseUnavailable {
			log.ErrorContext(ctx, "background job failed", slog.String("job", name), slog.Any("error", err))
		}
	}
}
