// Package app holds the access service's use cases: principals and their
// API keys, authentication (with a cache that bounds how long a revoked
// key keeps working), bootstrap of the first operator key, and the audit
// log that every service writes through.
package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// Options tune a Service.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	// CacheTTL is how long a key or principal read from the database is
	// trusted (default 10s): a key revoked, or a principal changed, on
	// another replica takes effect here within it.
	CacheTTL time.Duration
	// AuditEvery is how often the audit log is written (default 100ms).
	AuditEvery time.Duration
}

// Service is the access use cases.
type Service struct {
	store    Store
	now      func() time.Time
	log      *slog.Logger
	cacheTTL time.Duration

	mu     sync.Mutex
	keys   map[string]keyEntry
	certs  map[string]certEntry
	static map[string]keyEntry
	loads  singleflight.Group

	audit *auditLog
	flow  idem.Flow[Tx]
}

// New builds a Service; run its audit log with RunAuditLog.
func New(store Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 10 * time.Second
	}
	if o.AuditEvery <= 0 {
		o.AuditEvery = 100 * time.Millisecond
	}
	newID := func() string { return uuid.Must(uuid.NewV7()).String() }
	s := &Service{
		store: store, now: o.Now, log: o.Logger, cacheTTL: o.CacheTTL,
		keys:   map[string]keyEntry{},
		certs:  map[string]certEntry{},
		static: map[string]keyEntry{},
		audit:  newAuditLog(store, newID, o.AuditEvery, o.Logger),
	}
	s.flow = idem.Flow[Tx]{Store: store, Conflict: ErrConflict, Now: s.clock}
	return s
}

// CacheTTL is how long a revoked key may keep working on another replica.
func (s *Service) CacheTTL() time.Duration { return s.cacheTTL }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// once runs a mutation idempotently under the caller's key (see idem.Run):
// its reply, or its refusal (not found, a failed precondition), is stored
// and replayed to every retry with the key.
func once[R any](ctx context.Context, s *Service, by principal.Principal, key string, req idem.Request,
	run func(ctx context.Context, tx Tx) (R, error)) (R, error) {
	return idem.Run(ctx, s.flow, idem.Key{Caller: by.ID, Key: key}, req, nil, run)
}

// KeyRetention is how long the idempotency keys of the access service are
// kept (idem.Retention: it grants no holds).
func KeyRetention() time.Duration { return idem.Retention(0) }

// PurgeKeys deletes the idempotency records older than KeyRetention and
// returns how many.
func (s *Service) PurgeKeys(ctx context.Context) (int, error) {
	return s.store.PurgeIdem(ctx, s.clock().Add(-KeyRetention()))
}

// RunKeyPurge purges old idempotency records every interval until ctx
// ends. Every replica may run it: the purge is safe to run concurrently.
func (s *Service) RunKeyPurge(ctx context.Context, every time.Duration) {
	idem.RunPurge(ctx, every, s.log, "access_idempotency", s.PurgeKeys)
}

// The resource types refusals name (google.rpc.ResourceInfo).
const (
	principalType = "fidelis.access.v1.Principal"
	keyType       = "fidelis.access.v1.ApiKey"
)
