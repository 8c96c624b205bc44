// Package app holds the rewards service's use cases. It talks to the
// ledger only through the ledger's gRPC clients.
package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
)

// Options tune a Service.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	// HoldTTL is how long the ledger holds a redemption's points while it
	// completes (default 5m); unfinished redemptions older than twice this
	// are recovered.
	HoldTTL time.Duration
}

// Service is the rewards use cases.
type Service struct {
	store   Store
	ledger  ledgerv1.LedgerServiceClient
	status  ledgerv1.StatusServiceClient
	now     func() time.Time
	newID   func() string
	log     *slog.Logger
	holdTTL time.Duration
	// rewardLocks serialise, within this process, the stock allocations
	// of one reward: the database guards against oversell, the lock keeps
	// a popular reward's concurrent redemptions from failing each other's
	// transactions.
	rewardLocks keyedMutex
}

// New builds a Service.
func New(store Store, ledger ledgerv1.LedgerServiceClient, st ledgerv1.StatusServiceClient, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HoldTTL <= 0 {
		o.HoldTTL = 5 * time.Minute
	}
	return &Service{
		store: store, ledger: ledger, status: st, now: o.Now, log: o.Logger, holdTTL: o.HoldTTL,
		newID: func() string { return uuid.Must(uuid.NewV7()).String() },
	}
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

// idempotent runs a request that lives in one database transaction: the
// same key and request replay the stored reply; a different request under
// the key is refused.
func idempotent[R any](ctx context.Context, s *Service, method string, k idem.Key, req any,
	run func(ctx context.Context, tx Tx) (R, error)) (R, error) {
	var zero R
	hash, err := idem.Hash(method, req)
	if err != nil {
		return zero, err
	}
	var out R
	var outErr error
	for attempt := 1; ; attempt++ {
		err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			rec, err := tx.Idem(ctx, k)
			if err != nil {
				return err
			}
			if rec != nil {
				if outErr = rec.Matches(method, hash); outErr == nil {
					out, outErr = idem.DecodeReply[R](rec.Response)
				}
				return nil
			}
			out, outErr = run(ctx, tx)
			if _, rule := fault.As(outErr); outErr != nil && !rule {
				return outErr
			}
			if outErr != nil {
				return errRefused // roll back what run wrote
			}
			resp, err := idem.EncodeReply(out, nil)
			if err != nil {
				return err
			}
			return tx.PutIdem(ctx, idem.Record{Key: k, Method: method, Hash: hash, Response: resp, CreatedAt: s.clock()})
		})
		// A row changed or the key was taken concurrently: read again.
		if !errors.Is(err, ErrConflict) || attempt == 5 {
			break
		}
	}
	if errors.Is(err, errRefused) {
		// A refused request writes nothing; its refusal is not stored, so a
		// retry after the cause is fixed (more points, new stock) may pass.
		return zero, outErr
	}
	if err != nil {
		return zero, err
	}
	return out, outErr
}

var errRefused = errors.New("refused")
