package host

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/metric"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry"
)

// meterName is the instrumentation scope of the host's own instruments.
const meterName = "github.com/fidelis-loyalty/fidelis/services/host"

// instrument adds the process's database metrics: the pool's use (the
// go_sql_* series of client_golang's collector, db_name "fidelis") and
// whether the readiness watch reaches the database (fidelis_database_up).
func instrument(tel *telemetry.Providers, db *sqldb.DB, ready *readiness) error {
	if err := tel.Register(collectors.NewDBStatsCollector(db.DB, "fidelis")); err != nil {
		return fmt.Errorf("database pool metrics: %w", err)
	}
	_, err := tel.Meter.Meter(meterName).Int64ObservableGauge("fidelis.database.up",
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
