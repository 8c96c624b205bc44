// Package posting is the ledger's write path: members, entries, lots,
// holds and expiry. It owns its Store interface, runs every mutation
// through a per-member shard that group-commits concurrent requests, and
// keeps idempotency per principal and key. Every use case takes the
// authenticated principal: a member of a programme the principal is not
// bound to is PermissionDenied, checked where the member is loaded, in the
// operation's own transaction.
package posting

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Options tune a Service.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Shards is the number of write transactions that may run at once
	// (default 1: see services/host for the per-engine choice).
	Shards int
	// MaxBatch bounds the requests committed in one transaction (default 64).
	MaxBatch int
	// TxTimeout bounds one write transaction (default 30s).
	TxTimeout time.Duration
	Logger    *slog.Logger
	// Tracer traces each batch's transaction and each request's wait for
	// it (see startBatch; default: none).
	Tracer trace.TracerProvider
	// Metrics observes the write path (default: nothing does).
	Metrics Metrics
}

// Service is the ledger's write path.
type Service struct {
	store     Store
	cfg       *domain.Config
	now       func() time.Time
	newID     func() string
	log       *slog.Logger
	tracer    trace.Tracer
	maxBatch  int
	txTimeout time.Duration
	metrics   Metrics

	mu     sync.RWMutex
	closed bool
	shards []chan *op
	wg     sync.WaitGroup

	// committed signals a ledger commit (to the projector).
	committed chan struct{}
}

// New starts a Service; Close stops it.
func New(store Store, cfg *domain.Config, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.TxTimeout <= 0 {
		o.TxTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Tracer == nil {
		o.Tracer = noop.NewTracerProvider()
	}
	if o.Metrics == nil {
		o.Metrics = unobserved{}
	}
	s := &Service{
		store: store, cfg: cfg, now: o.Now, log: o.Logger, tracer: o.Tracer.Tracer("github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"), maxBatch: o.MaxBatch, txTimeout: o.TxTimeout,
		metrics:   o.Metrics,
		newID:     func() string { return uuid.Must(uuid.NewV7()).String() },
		committed: make(chan struct{}, 1),
	}
	for i := range o.Shards {
		ch := make(chan *op, 4*o.MaxBatch)
		s.shards = append(s.shards, ch)
		s.wg.Add(1)
		go s.worker(i, ch)
	}
	return s
}

// Close stops taking requests and waits for the queued ones to commit.
func (s *Service) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, ch := range s.shards {
			close(ch)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Committed receives after write transactions commit (at most one
// pending signal: a reader that was busy sees one for many commits).
func (s *Service) Committed() <-chan struct{} { return s.committed }

// Programme returns a programme's configuration.
func (s *Service) Programme(id string) (*domain.Programme, error) { return s.cfg.Find(id) }

// clock is the service's time, to the microsecond the stores keep.
func (s *Service) clock() time.Time { return domain.Micro(s.now()) }

// KeyRetention is how long the ledger keeps its idempotency keys:
// idem.Retention of the longest hold any programme grants (a redemption
// recovered after twice its hold's life sends its keys again).
func (s *Service) KeyRetention() time.Duration {
	var longest time.Duration
	for _, p := range s.cfg.Programmes {
		longest = max(longest, p.Holds.MaxTTL)
	}
	return idem.Retention(longest)
}

// PurgeKeys deletes the idempotency records older than KeyRetention and
// returns how many.
func (s *Service) PurgeKeys(ctx context.Context) (int, error) {
	return s.store.PurgeReplies(ctx, s.clock().Add(-s.KeyRetention()))
}

// RunKeyPurge purges old idempotency records every interval until ctx
// ends. Every replica may run it: the purge is safe to run concurrently.
func (s *Service) RunKeyPurge(ctx context.Context, every time.Duration) {
	idem.RunPurge(ctx, every, s.log, "ledger_idempotency", s.PurgeKeys)
}
