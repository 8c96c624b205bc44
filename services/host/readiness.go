package host

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

// LivenessService is the health service name of liveness: SERVING while the
// process is sound, whatever its dependencies do, so that an outage of the
// database does not restart every pod. The empty name and each service's
// name are readiness: NOT_SERVING while the database cannot be reached.
const LivenessService = "liveness"

// readiness watches the database and says whether this process can serve.
type readiness struct {
	db     *sqldb.DB
	health *health.Server
	// names are the health service names of readiness.
	names []string
	log   *slog.Logger
	// every is how often the database is pinged; logEvery how often an
	// outage that lasts is logged again.
	every, logEvery time.Duration
	// down is set while the database does not answer.
	down atomic.Bool
}

// up is 1 while the database answers, 0 while it does not.
func (r *readiness) up() int64 {
	if r.down.Load() {
		return 0
	}
	return 1
}

// run pings a database server every interval until ctx ends. On the first
// failure the process turns NOT_SERVING and logs the outage once; while it
// lasts, it logs again every logEvery with the number of transactions
// refused meanwhile (they are UNAVAILABLE to their callers, who retry, and
// are not logged one by one); when the database answers again, SERVING,
// with the outage's length. Connections are re-established by the pool on
// the next call: recovery needs nothing from here.
func (r *readiness) run(ctx context.Context) {
	if r.db.Dialect == sqldb.SQLite {
		// An embedded file has no outage to watch for, and its one
		// connection, busy with a long write, would read as one.
		return
	}
	t := time.NewTicker(r.every)
	defer t.Stop()
	var down time.Time // zero while the database answers
	var lastLog time.Time
	var refused int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(r.every, time.Second))
		err := r.db.PingContext(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		refused += r.db.Refused()
		switch {
		case err != nil && down.IsZero():
			down, lastLog = now, now
			r.set(healthpb.HealthCheckResponse_NOT_SERVING)
			r.log.ErrorContext(ctx, "database unreachable: not ready until it answers", slog.Any("error", err),
				slog.Int64("refused", refused))
			refused = 0
		case err != nil && now.Sub(lastLog) >= r.logEvery:
			lastLog = now
			r.log.ErrorContext(ctx, "database still unreachable", slog.Duration("for", now.Sub(down).Round(time.Second)),
				slog.Int64("refused", refused), slog.Any("error", err))
			refused = 0
		case err == nil && !down.IsZero():
			r.set(healthpb.HealthCheckResponse_SERVING)
			r.log.InfoContext(ctx, "database reachable again: ready", slog.Duration("outage", now.Sub(down).Round(time.Millisecond)),
				slog.Int64("refused", refused))
			down, refused = time.Time{}, 0
		case err == nil && refused > 0 && now.Sub(lastLog) >= r.logEvery:
			// Transactions refused while pings pass: a flapping link.
			lastLog = now
			r.log.WarnContext(ctx, "database connections failing", slog.Int64("refused", refused))
			refused = 0
		}
	}
}

func (r *readiness) set(s healthpb.HealthCheckResponse_ServingStatus) {
	r.down.Store(s != healthpb.HealthCheckResponse_SERVING)
	for _, name := range r.names {
		r.health.SetServingStatus(name, s)
	}
}
