// Package operations runs the ledger's long-running operations: batch work
// (expiry, tier evaluation, RFM runs, moments, projection rebuilds, KPI
// refreshes, churn model fits) started by a call that returns at once, and
// carried out in the background on the replica that accepted it, not under
// the caller's deadline.
//
// Operations are stored, so that any replica answers for them. The replica
// running one updates its heartbeat every Heartbeat; one whose heartbeat is
// older than StaleAfter while it runs was abandoned (its replica died) and
// is reported failed, so that the caller starts it again. A start is
// idempotent (services/internal/idem): a retry with the key returns the
// same operation and starts nothing. On shutdown (Close) the work running
// here is cancelled and its operations end failed, for the caller to start
// again elsewhere.
//
// The package knows nothing of gRPC: an operation's outcome is bytes the
// edge encodes (its response or its error) and decodes.
package operations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/progress"
)

// State is where an operation stands.
type State string

// The states.
const (
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// ErrCancelled is the cause of the context of work whose operation was
// cancelled (CancelOperation).
var ErrCancelled = errors.New("operation cancelled")

// Operation is a long-running operation as stored.
type Operation struct {
	ID          string
	Method      string
	Caller      string
	ProgrammeID string
	Runner      string
	State       State
	// Outcome is, once done, the encoded response (Succeeded) or error
	// (Failed); empty while it runs.
	Outcome     []byte
	CreatedAt   time.Time
	HeartbeatAt time.Time
	EndedAt     time.Time
	// CancelRequested: CancelOperation asked for it to stop.
	CancelRequested bool
	// Progress is the items (members) its work reported done, as of its
	// last heartbeat (see package progress); 0 for work that reports none.
	Progress int64
	// Abandoned is set on an operation read as Failed because its runner's
	// heartbeat is stale; its Outcome is then empty, for the edge to say so.
	Abandoned bool
}

// Done tells whether the operation has ended.
func (o *Operation) Done() bool { return o.State != Running }

// Outcome is how a piece of work ended, encoded by the edge: done, failed,
// or cancelled (its context's cause is ErrCancelled).
type Outcome struct {
	Failed, Cancelled bool
	Bytes             []byte
}

// Work is the work of an operation: it runs in the background, with a
// context that ends on shutdown, and returns its encoded outcome.
type Work func(ctx context.Context) Outcome

// ErrConflict is a key or an operation id taken by a concurrent
// transaction: the start runs again.
var ErrConflict = errors.New("operations: conflict")

// Tx is a transaction on the operations and the idempotency records.
type Tx interface {
	idem.Tx
	// PutOperation inserts an operation.
	PutOperation(ctx context.Context, o Operation) error
	// Operation reads one, nil when there is none.
	Operation(ctx context.Context, id string) (*Operation, error)
}

// Beat is a running operation's heartbeat: its id and progress.
type Beat struct {
	ID       string
	Progress int64
}

// Filter narrows a listing: every operation (All), or those Caller
// started and those of Programmes.
type Filter struct {
	All        bool
	Caller     string
	Programmes []string
}

// Store keeps the operations.
type Store interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	View(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Heartbeat marks running operations alive at at, with their
	// progress, and returns those of them whose cancellation was asked for.
	Heartbeat(ctx context.Context, beats []Beat, at time.Time) (cancel []string, err error)
	// RequestCancel asks a running operation to stop; false when it is not
	// running.
	RequestCancel(ctx context.Context, id string) (bool, error)
	// Finish ends a running operation with its outcome and last progress;
	// false when it is not running (any more).
	Finish(ctx context.Context, id string, state State, outcome []byte, progress int64, at time.Time) (bool, error)
	// List pages through the operations newest first, after the position
	// (created_at, id) of the last one of the previous page (zero: from the
	// newest), at most limit.
	List(ctx context.Context, f Filter, afterAt time.Time, afterID string, limit int) ([]Operation, error)
}

// Options tune New.
type Options struct {
	// Now is the clock of heartbeats (default time.Now): wall time, not
	// the ledger's business clock.
	Now func() time.Time
	// Heartbeat is how often a running operation's heartbeat is updated
	// (default 10 s); StaleAfter how old a heartbeat must be for its
	// operation to be abandoned (default 1 min).
	Heartbeat, StaleAfter time.Duration
	Logger                *slog.Logger
}

// Service starts, runs and reads operations.
type Service struct {
	store Store
	o     Options
	// runner names this replica in the operations it runs.
	runner string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	// live are the operations running here.
	live   map[string]*running
	closed bool
}

// New starts the service; Close stops it.
func New(store Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{store: store, o: o, runner: uuid.NewString(), ctx: ctx, cancel: cancel, live: map[string]*running{}}
	s.wg.Add(1)
	go s.beat()
	return s
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Microsecond) }

// Start is an operation's start: its method, the caller, the programme it
// works on ("" for all), and its request's form at hash version 1 (see
// idem.NewRequest).
type Start struct {
	Method      string
	Who         principal.Principal
	Key         string
	ProgrammeID string
	Form        any
	// Check, if not nil, runs first, while the key is free: the request's
	// checks that can be made at once (an unknown programme, a time in the
	// future), so that a bad request is refused by the start itself.
	Check func(ctx context.Context) error
}

// Start starts an operation running work in the background, once per
// idempotency key: a retry with the key returns the same operation, as it
// stands now, and starts nothing. It returns before the work is done.
func (s *Service) Start(ctx context.Context, st Start, work Work) (*Operation, error) {
	req, err := idem.NewRequest(st.Method, 1, func(int) any { return st.Form })
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, fault.Unavailable(fault.ShuttingDown, "the server is shutting down: retry with the same idempotency key")
	}
	now := s.now()
	op := Operation{ID: uuid.Must(uuid.NewV7()).String(), Method: st.Method, Caller: st.Who.ID, ProgrammeID: st.ProgrammeID,
		Runner: s.runner, State: Running, CreatedAt: now, HeartbeatAt: now}
	type started struct {
		ID string `json:"id"`
	}
	created := false
	got, err := idem.Run(ctx, idem.Flow[Tx]{Store: s.store, Conflict: ErrConflict, Now: s.now}, idem.Key{Caller: st.Who.ID, Key: st.Key}, req, st.Check,
		func(ctx context.Context, tx Tx) (started, error) {
			created = false
			if err := tx.PutOperation(ctx, op); err != nil {
				return started{}, err
			}
			created = true
			return started{ID: op.ID}, nil
		})
	if err != nil {
		return nil, err
	}
	if created && got.ID == op.ID {
		s.run(op.ID, work)
		return &op, nil
	}
	return s.Get(ctx, st.Who, got.ID)
}

// running is an operation's work running here: its cancel and progress.
type running struct {
	cancel context.CancelCauseFunc
	done   atomic.Int64
}

// run carries out an operation's work in the background.
func (s *Service) run(id string, work Work) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.finish(id, Outcome{Failed: true}, 0) // cannot happen: Start refuses once closed
		return
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	r := &running{cancel: cancel}
	ctx = progress.With(ctx, func(done int64) { r.done.Store(done) })
	s.live[id] = r
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		out := work(ctx)
		s.mu.Lock()
		delete(s.live, id)
		s.mu.Unlock()
		cancel(nil)
		s.finish(id, out, r.done.Load())
	}()
}

// finish stores an operation's outcome; it has its own deadline, as it
// also runs on shutdown, once the service's context has ended.
func (s *Service) finish(id string, out Outcome, done int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	state := Succeeded
	switch {
	case out.Cancelled:
		state = Cancelled
	case out.Failed:
		state = Failed
	}
	ok, err := s.store.Finish(ctx, id, state, out.Bytes, done, s.now())
	switch {
	case err != nil:
		s.o.Logger.ErrorContext(ctx, "operation outcome not stored: it will be reported abandoned", slog.String("operation", id), slog.Any("error", err))
	case !ok:
		s.o.Logger.WarnContext(ctx, "operation was no longer running when it finished", slog.String("operation", id))
	}
}

// beat updates the heartbeat of the operations running here.
func (s *Service) beat() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		beats := make([]Beat, 0, len(s.live))
		for id, r := range s.live {
			beats = append(beats, Beat{ID: id, Progress: r.done.Load()})
		}
		s.mu.Unlock()
		if len(beats) == 0 {
			continue
		}
		cancel, err := s.store.Heartbeat(s.ctx, beats, s.now())
		if err != nil && s.ctx.Err() == nil {
			s.o.Logger.ErrorContext(s.ctx, "operation heartbeat failed", slog.Any("error", err))
		}
		for _, id := range cancel {
			s.cancelHere(id)
		}
	}
}

// cancelHere cancels the work of an operation if it runs here.
func (s *Service) cancelHere(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.live[id]; ok {
		r.cancel(ErrCancelled)
	}
}

// Cancel asks an operation the caller may see to stop: at once if it runs
// here, else at its replica's next heartbeat. An operation done already is
// left as it is. It returns the operation as it stands.
func (s *Service) Cancel(ctx context.Context, who principal.Principal, id string) (*Operation, error) {
	o, err := s.Get(ctx, who, id)
	if err != nil || o.Done() {
		return o, err
	}
	if _, err := s.store.RequestCancel(ctx, id); err != nil {
		return nil, err
	}
	s.cancelHere(id)
	return s.Get(ctx, who, id)
}

// Close cancels the work running here and waits for its operations to be
// stored as failed (their callers start them again elsewhere).
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// settle marks an operation whose runner's heartbeat is stale as failed,
// abandoned.
func (s *Service) settle(o *Operation) *Operation {
	if o.State == Running && s.now().Sub(o.HeartbeatAt) > s.o.StaleAfter {
		o.State, o.Abandoned = Failed, true
	}
	return o
}

// Get reads an operation the caller may see: one it started, or, for an
// operator, one of a programme it is bound to (every programme for one
// that works on all).
func (s *Service) Get(ctx context.Context, who principal.Principal, id string) (*Operation, error) {
	var o *Operation
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		o, err = tx.Operation(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if o == nil || !visible(who, o) {
		return nil, fault.NotFound(fault.OperationNotFound, "no operation %q", id).About("google.longrunning.Operation", "operations/"+id)
	}
	return s.settle(o), nil
}

// visible tells whether who may see o.
func visible(who principal.Principal, o *Operation) bool {
	if o.Caller == who.ID {
		return true
	}
	if !who.Has(principal.Operator) {
		return false
	}
	if o.ProgrammeID == "" {
		return who.Everywhere()
	}
	return who.Allows(o.ProgrammeID)
}

// List pages through the operations the caller may see, newest first.
func (s *Service) List(ctx context.Context, who principal.Principal, afterAt time.Time, afterID string, limit int) ([]Operation, error) {
	f := Filter{Caller: who.ID}
	switch {
	case who.Has(principal.Operator) && who.Everywhere():
		f.All = true
	case who.Has(principal.Operator):
		f.Programmes = who.Programmes
	}
	ops, err := s.store.List(ctx, f, afterAt, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	for i := range ops {
		s.settle(&ops[i])
	}
	return ops, nil
}
