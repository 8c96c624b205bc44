// Package ledger wires the ledger service: its three parts (posting,
// status, analytics) over one database, their gRPC services and the
// scheduled jobs.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/fidelis-loyalty/fidelis/services/internal/jobs"
	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/consent"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/members"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/operations"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
	"github.com/fidelis-loyalty/fidelis/services/ledger/grpcapi"
	"github.com/fidelis-loyalty/fidelis/services/ledger/store"
)

// Options tune New.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Shards and MaxBatch tune the write path (see posting.Options).
	Shards, MaxBatch int
	Logger           *slog.Logger
	// OperationHeartbeat and OperationStaleAfter tune the long-running
	// operations (see operations.Options).
	OperationHeartbeat, OperationStaleAfter time.Duration
	// Tracer traces the write path's transactions (see posting.Options).
	Tracer trace.TracerProvider
	// Meter receives the ledger's metrics (see metrics.go); nil: none.
	Meter metric.MeterProvider
	// Keys are the master keys and the lookup key of the members'
	// personal data (see app/members); required.
	Keys *pii.Keyring
}

// Ledger is the ledger's three parts over one database: the write path,
// the status projections derived from it, and the analytics over both.
type Ledger struct {
	Posting   *posting.Service
	Status    *status.Service
	Analytics *analytics.Service
	// Operations runs the long-running operations of the administration
	// service.
	Operations *operations.Service
	// Consent keeps consents and the contact pressure.
	Consent *consent.Service
	// Members keeps the members' personal data.
	Members *members.Service
	cfg     *domain.Config
	now     func() time.Time
	log     *slog.Logger
}

// New starts the ledger on db; Close stops it.
func New(db *sqldb.DB, cfg *domain.Config, o Options) (*Ledger, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Meter == nil {
		o.Meter = noop.NewMeterProvider()
	}
	if o.Keys == nil {
		return nil, errors.New("ledger: the members' personal data needs master keys")
	}
	meter := o.Meter.Meter(meterName)
	pm, err := newPostingMetrics(meter)
	if err != nil {
		return nil, err
	}
	p := posting.New(store.NewPosting(db), cfg, posting.Options{Now: o.Now, Shards: o.Shards, MaxBatch: o.MaxBatch, Logger: o.Logger, Metrics: pm, Tracer: o.Tracer})
	s := status.New(store.NewStatus(db), p, cfg, status.Options{Now: o.Now, Logger: o.Logger})
	a := analytics.New(store.NewAnalytics(db), p, s, cfg, analytics.Options{Now: o.Now, Logger: o.Logger})
	ops := operations.New(store.NewOperations(db), operations.Options{Heartbeat: o.OperationHeartbeat, StaleAfter: o.OperationStaleAfter, Logger: o.Logger})
	cs := consent.New(store.NewConsent(db), cfg, consent.Options{Now: o.Now, Logger: o.Logger})
	v, err := members.New(o.Keys, store.NewVault(db), p, members.Options{Now: o.Now, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	l := &Ledger{Posting: p, Status: s, Analytics: a, Operations: ops, Consent: cs, Members: v, cfg: cfg, now: o.Now, log: o.Logger}
	if err := observe(meter, p, s); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// ServiceNames are the gRPC services Register adds.
func ServiceNames() []string {
	return []string{grpcapi.ServiceName, grpcapi.StatusServiceName, grpcapi.KpiServiceName, grpcapi.AdminServiceName, grpcapi.OperationsServiceName,
		grpcapi.ConsentServiceName, grpcapi.MembersServiceName}
}

// Register adds the ledger's gRPC services to srv.
func (l *Ledger) Register(srv grpc.ServiceRegistrar) {
	grpcapi.Register(srv, l.Posting, l.Analytics, l.Members)
	grpcapi.RegisterMembers(srv, l.Members)
	grpcapi.RegisterStatus(srv, l.Status)
	grpcapi.RegisterKpi(srv, l.Analytics)
	grpcapi.RegisterConsent(srv, l.Consent)
	grpcapi.RegisterAdmin(srv, grpcapi.Admin{Posting: l.Posting, Status: l.Status, Analytics: l.Analytics, Operations: l.Operations,
		Config: l.cfg, Now: l.now, Logger: l.log})
}

// MigratePlaintext moves the personal data earlier versions kept in clear
// in the ledger to the vault (see members.Service.MigratePlaintext): at
// start, then every hour (for the rows replicas of an earlier version
// write during a rolling upgrade), until ctx ends; after a failure, again
// in 10 seconds.
func (l *Ledger) MigratePlaintext(ctx context.Context) {
	for {
		wait := time.Hour
		if _, _, err := l.Members.MigratePlaintext(ctx); err != nil && ctx.Err() == nil {
			l.log.ErrorContext(ctx, "moving personal data to the vault failed; retrying", slog.Any("error", err))
			wait = 10 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Drain ends the event streams: the server is shutting down.
func (l *Ledger) Drain() { l.Status.Drain() }

// Close stops the operations running here (stored as failed, for their
// callers to start again elsewhere), then stops taking writes and waits
// for the queued ones to commit.
func (l *Ledger) Close() {
	l.Operations.Close()
	l.Posting.Close()
}

// RunScheduler runs the time-driven jobs every interval until ctx ends:
// expiry (of lots, holds and return windows, also of members nothing else
// touches), tier evaluation, the moments, and each programme's RFM run when
// its period has passed since the last one, followed by its KPIs.
func (l *Ledger) RunScheduler(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := jobs.Run(ctx, "ledger-scheduler", l.scheduled); err != nil && ctx.Err() == nil {
			l.log.ErrorContext(ctx, "scheduled jobs failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *Ledger) scheduled(ctx context.Context) error {
	// Expiry first: the jobs after it see the settled balances.
	if _, err := l.Posting.RunExpiry(ctx, time.Time{}, ""); err != nil {
		return fmt.Errorf("expiry: %w", err)
	}
	if _, _, err := l.Status.EvaluateTiers(ctx, time.Time{}); err != nil {
		return fmt.Errorf("tiers: %w", err)
	}
	if _, err := l.Status.RunMoments(ctx, "", time.Time{}); err != nil {
		return fmt.Errorf("moments: %w", err)
	}
	due, err := l.Status.SegmentsDue(ctx)
	if err != nil {
		return err
	}
	for _, id := range due {
		if _, err := l.Status.RecomputeSegments(ctx, id, time.Time{}); err != nil {
			return fmt.Errorf("segments of %s: %w", id, err)
		}
		// The KPIs follow the segments they report on.
		if _, err := l.Analytics.RefreshKPIs(ctx, id, time.Time{}); err != nil {
			return fmt.Errorf("KPIs of %s: %w", id, err)
		}
	}
	return nil
}
