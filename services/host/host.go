// Package host runs the Fidelis services in one process: it opens the
// database, applies migrations, sets up telemetry, and registers every
// service on one gRPC server (plus a small HTTP server for health checks
// and web pages).
package host

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/telemetry"
	"github.com/fidelis-loyalty/fidelis/services/ledger"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
	"github.com/fidelis-loyalty/fidelis/services/ledger/grpcapi"
	"github.com/fidelis-loyalty/fidelis/services/ledger/store"
)

// Config says what to run and where.
type Config struct {
	// DB is the database DSN (see sqldb.Open); empty for the embedded default.
	DB string
	// ProgrammeConfig is the programme configuration file; empty for the
	// built-in one.
	ProgrammeConfig string
	// Migrate applies schema migrations at start.
	Migrate bool
	// OTLPEndpoint enables trace and metric export (see telemetry.Setup).
	OTLPEndpoint string
	OTLPInsecure bool
	// Shards is the ledger's concurrent write transactions (0: 1 on SQLite
	// and PostgreSQL, 8 on CockroachDB); MaxBatch bounds a group commit.
	Shards   int
	MaxBatch int
	// MaxConns sizes the database pool of a server engine.
	MaxConns int
	// JobsEvery is how often the time-driven jobs run (tier evaluation,
	// moments, RFM when due); 0 disables them in this process.
	JobsEvery time.Duration
	Version   string
}

// defaultShards is how many ledger write transactions run at once. SQLite
// serialises writers anyway. On PostgreSQL, SERIALIZABLE tracks reads by
// page, so concurrent batches touching different members still fail each
// other; one writer that group-commits whatever queued up measured fastest
// (see README, Performance). CockroachDB tracks conflicts by row.
func defaultShards(d sqldb.Dialect) int {
	if d == sqldb.Cockroach {
		return 8
	}
	return 1
}

// Host is the running services.
type Host struct {
	GRPC    *grpcserver.Server
	Ledger  *app.Service
	Dialect sqldb.Dialect
	close   func()
}

// Start opens everything the services need and registers them.
func Start(ctx context.Context, c Config, log *slog.Logger) (*Host, error) {
	cfg, err := LoadProgrammes(c.ProgrammeConfig)
	if err != nil {
		return nil, err
	}
	tel, err := telemetry.Setup(ctx, "fidelis", c.Version, c.OTLPEndpoint, c.OTLPInsecure)
	if err != nil {
		return nil, err
	}
	db, err := sqldb.Open(ctx, c.DB, sqldb.Options{MaxConns: c.MaxConns})
	if err != nil {
		return nil, err
	}
	if c.Migrate {
		if err := store.Migrate(ctx, db, log); err != nil {
			db.Close()
			return nil, err
		}
	}
	shards := c.Shards
	if shards <= 0 {
		shards = defaultShards(db.Dialect)
	}
	a := app.New(store.New(db), cfg, app.Options{Shards: shards, MaxBatch: c.MaxBatch, Logger: log})
	srv, err := grpcserver.New(grpcserver.Options{Logger: log, Telemetry: tel})
	if err != nil {
		a.Close()
		db.Close()
		return nil, err
	}
	grpcapi.Register(srv, a, log)
	grpcapi.RegisterStatus(srv, a, log)
	srv.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range []string{grpcapi.ServiceName, grpcapi.StatusServiceName} {
		srv.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var jobs sync.WaitGroup
	jobs.Go(func() { a.RunProjector(bg, 500*time.Millisecond) })
	if c.JobsEvery > 0 {
		jobs.Go(func() { a.RunScheduler(bg, c.JobsEvery) })
	}
	h := &Host{GRPC: srv, Ledger: a, Dialect: db.Dialect}
	h.close = func() {
		stop()
		jobs.Wait()
		a.Close() // after the gRPC server stopped: commits every acknowledged request
		db.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("telemetry shutdown", slog.Any("error", err))
		}
	}
	return h, nil
}

// Close releases what Start opened. Stop the gRPC server first.
func (h *Host) Close() { h.close() }

// HTTP serves /healthz (the gRPC health of the whole server).
func (h *Host) HTTP() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := h.GRPC.Health.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Stop stops the gRPC server gracefully, forcing it after timeout.
func (h *Host) Stop(timeout time.Duration) bool {
	h.GRPC.Health.Shutdown() // probes see NOT_SERVING while in-flight calls finish
	stopped := make(chan struct{})
	go func() { h.GRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
		return true
	case <-time.After(timeout):
		h.GRPC.Stop()
		return false
	}
}

// LoadProgrammes reads a programme configuration file, or the built-in one.
func LoadProgrammes(path string) (*domain.Config, error) {
	data := ledger.DefaultConfig
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read programme config: %w", err)
		}
	}
	return domain.ParseConfig(data)
}

// Migrate brings every service's schema up to date.
func Migrate(ctx context.Context, dsn string, log *slog.Logger) error {
	db, err := sqldb.Open(ctx, dsn, sqldb.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer db.Close()
	return store.Migrate(ctx, db, log)
}
