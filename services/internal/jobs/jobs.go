// Package jobs runs a service's background work: a function every
// interval until its context ends, its failures logged, never stopping the
// loop. Each run is reported to the Recorder of the context, if it has one
// (the process's metrics).
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
		if err := Run(ctx, name, run); err != nil && ctx.Err() == nil && fault.ReasonOf(err) != fault.DatabaseUnavailable {
			log.ErrorContext(ctx, "background job failed", slog.String("job", name), slog.Any("error", err))
		}
	}
}

// Recorder observes the runs of background jobs.
type Recorder interface {
	// Ran reports one run of the named job: how long it took and its
	// error (nil: it succeeded).
	Ran(name string, took time.Duration, err error)
}

type recorderKey struct{}

// WithRecorder returns a context whose jobs report their runs to r. The
// process sets it on the context its background jobs run under, so that
// services need not carry it.
func WithRecorder(ctx context.Context, r Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// Run runs one run of the named job and reports it to the context's
// Recorder; a run cut short because ctx ended is not reported.
func Run(ctx context.Context, name string, run func(ctx context.Context) error) error {
	start := time.Now()
	err := run(ctx)
	if r, ok := ctx.Value(recorderKey{}).(Recorder); ok && ctx.Err() == nil {
		r.Ran(name, time.Since(start), err)
	}
	return err
}
