package posting

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// ErrConflict is a store conflict (a unique key taken by a concurrent
// transaction) that running the batch again resolves.
var ErrConflict = errors.New("ledger: concurrent conflict")

// ErrClosed is returned after Close.
var ErrClosed = fault.Unavailable(fault.ShuttingDown, "ledger is shutting down")

// op is one request waiting for a write transaction.
type op struct {
	call
	ctx context.Context
	// idem is the idempotency key and req the request it stands for (key
	// "": none).
	idem   idem.Key
	req    idem.Request
	run    func(ctx context.Context, u *uow) (any, error)
	decode func([]byte) (any, error)
	done   chan opResult
}

// call describes a request to submit.
type call struct {
	method string
	// who makes the request; its idempotency keys are its own.
	who principal.Principal
	// key is the idempotency key; empty for operations that are
	// idempotent by nature (settling).
	key string
	// form is what the idempotency hash covers (see forms.go).
	form   form
	member string
	// needLots says the operation spends or returns points, so the member's
	// lots must be loaded; earning needs only the member row.
	needLots bool
}

type opResult struct {
	val any
	err error
	// batch is the span of the transaction that answered (invalid if none
	// did).
	batch trace.SpanContext
}

// submit queues an operation on its member's shard and waits for its result.
// Operations on one member always go to the same shard, so within a process
// two transactions never contend for a member; each shard commits the
// requests that queued up while its previous transaction ran as one batch
// (group commit). key == "" means the operation is not idempotent.
func submit[R any](ctx context.Context, s *Service, c call, run func(ctx context.Context, u *uow) (R, error)) (R, error) {
	var zero R
	o := &op{call: c, ctx: ctx, done: make(chan opResult, 1)}
	if c.key != "" {
		req, err := idem.NewRequest(c.method, c.form.version, c.form.at)
		if err != nil {
			return zero, err
		}
		o.idem, o.req = idem.Key{Caller: c.who.ID, Key: c.key}, req
	}
	o.run = func(ctx context.Context, u *uow) (any, error) { return run(ctx, u) }
	o.decode = func(b []byte) (any, error) { return idem.DecodeReply[R](b) }
	queued := time.Now()
	if err := s.enqueue(ctx, o); err != nil {
		return zero, err
	}
	select {
	case r := <-o.done:
		s.waited(ctx, queued, r)
		if r.err != nil {
			return zero, r.err
		}
		return r.val.(R), nil
	case <-ctx.Done():
		s.waited(ctx, queued, opResult{err: ctx.Err()})
		return zero, ctx.Err()
	}
}

// waited records a request's wait for the transaction that answered it as
// a child span of the request, "ledger.commit.wait", from when it queued
// until the answer, linked to the span of that transaction ("ledger.commit",
// which links back to the request). A link is set when a span starts, and
// which transaction answers is known only at the end: so the wait span
// starts then, at the time it queued.
func (s *Service) waited(ctx context.Context, queued time.Time, r opResult) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	opts := []trace.SpanStartOption{trace.WithTimestamp(queued)}
	if r.batch.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: r.batch}))
	}
	_, span := s.tracer.Start(ctx, "ledger.commit.wait", opts...)
	if r.err != nil {
		if _, rule := fault.As(r.err); !rule {
			span.SetStatus(codes.Error, "not committed")
		}
	}
	span.End()
}

func (s *Service) enqueue(ctx context.Context, o *op) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	h := fnv.New32a()
	h.Write([]byte(o.member))
	select {
	case s.shards[h.Sum32()%uint32(len(s.shards))] <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) worker(shard int, ch chan *op) {
	defer s.wg.Done()
	for first := range ch {
		batch := []*op{first}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case o, ok := <-ch:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.execute(shard, batch)
	}
}

// execute commits a batch in one transaction. If the transaction fails for
// a reason other than one request's own rule, each request is tried alone,
// so that one bad request never fails the others.
func (s *Service) execute(shard int, batch []*op) {
	live := make([]*op, 0, len(batch))
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.done <- opResult{err: err} // the caller gave up: do not start its work
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.txTimeout)
	defer cancel()
	ctx, span := s.startBatch(ctx, live)
	defer span.End()
	var results []opResult
	var written []*domain.Entry
	var err error
	start := time.Now()
	attempt := 1
	for ; ; attempt++ {
		// Replies already stored are read outside the write transaction:
		// they never change, and under SERIALIZABLE a read of an absent key
		// would conflict with every concurrent insert near it. A key taken
		// meanwhile makes the insert at commit fail with ErrConflict, and
		// the next attempt replays it.
		var stored map[idem.Key]idem.Record
		if stored, err = s.storedReplies(ctx, live); err != nil {
			break
		}
		err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			var err error
			results, written, err = s.runBatch(ctx, tx, live, stored)
			return err
		})
		if err == nil || !errors.Is(err, ErrConflict) || attempt == 5 {
			break
		}
	}
	span.SetAttributes(attribute.Int("fidelis.ledger.batch.attempts", attempt))
	committer := span.SpanContext()
	s.metrics.Batch(shard, len(live), time.Since(start), err)
	if err != nil {
		span.SetStatus(codes.Error, "transaction failed")
		if f, ok := fault.As(err); ok && f.Kind == fault.KindUnavailable {
			// The database is unreachable (or kept conflicting): every
			// request of the batch may retry with its key; the outage is
			// logged once by the readiness watch, not per request.
			for _, o := range live {
				o.done <- opResult{err: fmt.Errorf("ledger %s: %w", o.method, err), batch: committer}
			}
			return
		}
		if len(live) > 1 {
			for _, o := range live {
				s.execute(shard, []*op{o})
			}
			return
		}
		s.log.ErrorContext(ctx, "ledger transaction failed", slog.String("method", live[0].method), slog.Any("error", err))
		live[0].done <- opResult{err: fmt.Errorf("ledger %s: %w", live[0].method, err), batch: committer}
		return
	}
	s.metrics.Committed(written)
	for i, o := range live {
		results[i].batch = committer
		o.done <- results[i]
	}
	select {
	case s.committed <- struct{}{}:
	default:
	}
}

// startBatch starts the span of a batch's transaction, "ledger.commit": the
// root of a trace of its own (it serves many requests, of many traces),
// linked to the span of each request it serves. Its statements' spans are
// its children (see sqldb.Options.Tracer).
func (s *Service) startBatch(ctx context.Context, batch []*op) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(batch))
	for _, o := range batch {
		if sc := trace.SpanContextFromContext(o.ctx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("fidelis.ledger.method", o.method)}})
		}
	}
	return s.tracer.Start(ctx, "ledger.commit", trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("fidelis.ledger.batch.size", len(batch))))
}

// runBatch runs the batch's operations one after another in tx. A request
// that breaks a ledger rule is undone in memory and answered with its
// error; any other error fails the whole transaction. The outcome of a
// request with a key — its reply, or a business refusal (idem.Storable) —
// is written in the same transaction and replayed to every retry. It
// returns the entries it wrote besides.
func (s *Service) runBatch(ctx context.Context, tx Tx, ops []*op, stored map[idem.Key]idem.Record) ([]opResult, []*domain.Entry, error) {
	now := s.clock()
	u := s.newUOW(tx, now)
	stored = maps.Clone(stored)
	var fresh []*op
	for _, o := range ops {
		if _, replay := stored[o.idem]; !replay {
			fresh = append(fresh, o)
		}
	}
	if err := u.preload(ctx, fresh); err != nil {
		return nil, nil, err
	}
	results := make([]opResult, len(ops))
	for i, o := range ops {
		if o.idem.Key != "" {
			if rec, ok := stored[o.idem]; ok {
				results[i] = replay(o, rec)
				continue
			}
		}
		u.begin()
		v, err := u.run(ctx, o)
		if err == nil {
			err = u.settled()
		}
		if err != nil {
			if _, rule := fault.As(err); !rule {
				return nil, nil, err
			}
			u.rollback()
		}
		results[i] = opResult{val: v, err: err}
		if o.idem.Key != "" && idem.Storable(err) {
			resp, eerr := idem.EncodeReply(v, err)
			if eerr != nil {
				return nil, nil, fmt.Errorf("encode %s reply: %w", o.method, eerr)
			}
			rec := o.req.Record(o.idem, "", resp, now)
			u.idem = append(u.idem, rec)
			stored[o.idem] = rec // a duplicate later in this batch replays it
		}
	}
	w := u.writes()
	if err := tx.Save(ctx, w); err != nil {
		return nil, nil, err
	}
	return results, w.Entries, nil
}

// storedReplies reads the stored replies of a batch's idempotency keys.
func (s *Service) storedReplies(ctx context.Context, ops []*op) (map[idem.Key]idem.Record, error) {
	var keys []idem.Key
	for _, o := range ops {
		if o.idem.Key != "" {
			keys = append(keys, o.idem)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return s.store.Replies(ctx, keys)
}

// run runs one operation, turning a panic (a bug) into an error that fails
// the transaction instead of the process.
func (u *uow) run(ctx context.Context, o *op) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ledger %s panicked: %v", o.method, r)
		}
	}()
	return o.run(ctx, u)
}

// replay answers a request with the outcome stored under its key, or
// refuses it if the key was used for another request.
func replay(o *op, rec idem.Record) opResult {
	if err := o.req.Matches(&rec); err != nil {
		return opResult{err: err}
	}
	idem.NoteReplay(o.ctx)
	v, err := o.decode(rec.Response) // the stored reply, or the stored refusal as err
	return opResult{val: v, err: err}
}

// settled brings the due times of the Books the operation touched up to
// date and verifies their invariants. A violation is a bug: it fails the
// transaction rather than write it.
func (u *uow) settled() error {
	for _, id := range slices.Sorted(maps.Keys(u.snap)) {
		if b := u.books[id]; b != nil {
			b.RefreshDue()
			if err := b.Check(); err != nil {
				return fmt.Errorf("ledger invariant: %w", err)
			}
		}
	}
	return nil
}
