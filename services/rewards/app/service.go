// Package app holds the rewards service's use cases. It reaches the ledger
// through its Ledger port.
package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
)

// Options tune a Service.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	// HoldTTL is how long the ledger holds a redemption's points while it
	// completes (default 5m); redemptions unfinished for longer than twice
	// this are recovered (while younger than idem.RecoveryWindow), so it
	// must be well under half of idem.RecoveryWindow.
	HoldTTL time.Duration
}

// Service is the rewards use cases.
type Service struct {
	store   Store
	ledger  Ledger
	now     func() time.Time
	newID   func() string
	log     *slog.Logger
	holdTTL time.Duration
	// rewardLocks serialise, within this process, the stock allocations
	// of one reward: the database guards against oversell, the lock keeps
	// a popular reward's concurrent redemptions from failing each other's
	// transactions.
	rewardLocks keyedMutex
	flow        idem.Flow[Tx]
}

// New builds a Service.
func New(store Store, ledger Ledger, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HoldTTL <= 0 {
		o.HoldTTL = 5 * time.Minute
	}
	if 2*o.HoldTTL >= idem.RecoveryWindow {
		o.Logger.Warn("the hold TTL leaves no time to recover unfinished redemptions: they will be left for review",
			slog.Duration("hold_ttl", o.HoldTTL), slog.Duration("recovery_window", idem.RecoveryWindow))
	}
	s := &Service{
		store: store, ledger: ledger, now: o.Now, log: o.Logger, holdTTL: o.HoldTTL,
		newID: func() string { return uuid.Must(uuid.NewV7()).String() },
	}
	s.flow = idem.Flow[Tx]{Store: store, Conflict: ErrConflict, Now: s.clock}
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// keyedMutex is a set of mutexes by key, each alive while in use.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// idempotent runs a request that lives in one database transaction, once
// per key (see idem.Run): check first, outside the transaction, while the
// key is free (nil: no check). A refused request writes nothing but its
// refusal, which, if a business refusal (not found, a failed precondition,
// denied), is replayed to every retry with the key, even once the cause is
// gone; a retry after a bad request (invalid argument) or a failure runs.
func idempotent[R any](ctx context.Context, s *Service, k idem.Key, req idem.Request,
	check func(ctx context.Context) error, run func(ctx context.Context, tx Tx) (R, error)) (R, error) {
	return idem.Run(ctx, s.flow, k, req, check, run)
}

// KeyRetention is how long the rewards service keeps its idempotency keys
// (idem.Retention of its hold TTL).
func (s *Service) KeyRetention() time.Duration { return idem.Retention(s.holdTTL) }

// PurgeKeys deletes the idempotency records older than KeyRetention and
// returns how many.
func (s *Service) PurgeKeys(ctx context.Context) (int, error) {
	return s.store.PurgeIdem(ctx, s.clock().Add(-s.KeyRetention()))
}

// RunKeyPurge purges old idempotency records every interval until ctx
// ends. Every replica may run it: the purge is safe to run concurrently.
func (s *Service) RunKeyPurge(ctx context.Context, every time.Duration) {
	idem.RunPurge(ctx, every, s.log, "rewards_idempotency", s.PurgeKeys)
}

var errRefused = errors.New("refused")
