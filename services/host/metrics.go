package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry"
)

// meterName is the instrumentation scope of the host's own instruments.
const meterName = "github.com/fidelis-loyalty/fidelis/services/host"

// instrument adds the process's database metrics: the pool's use (the
// go_sql_* series of client_golang's collector, db_name "fidelis") and
// whether the readiness watch reaches the database (fidelis_database_up).
func instrument(tel *telemetry.Providers, m metric.Meter, db *sqldb.DB, ready *readiness) error {
	if err := tel.Register(collectors.NewDBStatsCollector(db.DB, "fidelis")); err != nil {
		return fmt.Errorf("database pool metrics: %w", err)
	}
	_, err := m.Int64ObservableGauge("fidelis.database.up",
		metric.WithDescription("1 while the database answers the readiness ping, 0 while it does not"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(ready.up())
			return nil
		}))
	if err != nil {
		return fmt.Errorf("database metrics: %w", err)
	}
	return nil
}

// profiles serves net/http/pprof's handlers under /debug/pprof/.
func profiles(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also the named profiles: heap, goroutine, allocs, block, mutex, threadcreate
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// jobMetrics counts the runs of the background jobs (jobs.Recorder); the
// label task names the job ("job" is Prometheus's own label).
type jobMetrics struct {
	runs, failures metric.Int64Counter
	duration       metric.Float64Histogram
	// held counts the leases this replica holds, by lease (0 or 1 each).
	held metric.Int64UpDownCounter
}

func newJobMetrics(m metric.Meter) (*jobMetrics, error) {
	var jm jobMetrics
	var errs [4]error
	jm.runs, errs[0] = m.Int64Counter("fidelis.job.runs", metric.WithUnit("{run}"),
		metric.WithDescription("Runs of background jobs, by task"))
	jm.failures, errs[1] = m.Int64Counter("fidelis.job.failures", metric.WithUnit("{run}"),
		metric.WithDescription("Failed runs of background jobs, by task"))
	jm.duration, errs[2] = m.Float64Histogram("fidelis.job.duration", metric.WithUnit("s"),
		metric.WithDescription("Time of a background job's run, by task"),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 3600))
	jm.held, errs[3] = m.Int64UpDownCounter("fidelis.lease.held", metric.WithUnit("{lease}"),
		metric.WithDescription("1 while this replica holds the lease of a job run once per cluster"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("job metrics: %w", err)
	}
	return &jm, nil
}

func (jm *jobMetrics) Ran(name string, took time.Duration, err error) {
	ctx := context.Background()
	task := metric.WithAttributes(attribute.String("task", name))
	jm.runs.Add(ctx, 1, task)
	jm.duration.Record(ctx, took.Seconds(), task)
	if err != nil {
		jm.failures.Add(ctx, 1, task)
	}
}

// Held is lease.Runner's Held.
func (jm *jobMetrics) Held(name string, held bool) {
	n := int64(-1)
	if held {
		n = 1
	}
	jm.held.Add(context.Background(), n, metric.WithAttributes(attribute.String("lease", name)))
}

// countingAuditor counts, besides auditing them, the calls the guard
// refuses: failed authentications by reason, and denials (PermissionDenied)
// by method. The client's address and the principal stay in the audit log.
type countingAuditor struct {
	authz.Auditor
	denied, unauthenticated metric.Int64Counter
}

func newCountingAuditor(m metric.Meter, a authz.Auditor) (*countingAuditor, error) {
	denied, err1 := m.Int64Counter("fidelis.authz.denied", metric.WithUnit("{call}"),
		metric.WithDescription("Calls refused PermissionDenied by the access rules, by method"))
	unauth, err2 := m.Int64Counter("fidelis.authn.failures", metric.WithUnit("{call}"),
		metric.WithDescription("Calls whose credentials were refused, by reason"))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("access metrics: %w", err)
	}
	return &countingAuditor{Auditor: a, denied: denied, unauthenticated: unauth}, nil
}

func (a *countingAuditor) Audit(r audit.Record) {
	if r.Decision == audit.Denied {
		a.denied.Add(context.Background(), 1, metric.WithAttributes(attribute.String("rpc_method", strings.TrimPrefix(r.Method, "/"))))
	}
	a.Auditor.Audit(r)
}

func (a *countingAuditor) FailedAuthentication(source, reason string) {
	a.unauthenticated.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reason)))
	a.Auditor.FailedAuthentication(source, reason)
}
