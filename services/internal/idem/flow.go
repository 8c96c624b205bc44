package idem

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Tx is a transaction's access to its service's idempotency table (see
// idemsql.Table).
type Tx interface {
	// Idem reads a key's record, nil when the key is free.
	Idem(ctx context.Context, k Key) (*Record, error)
	// PutIdem writes a record, claiming its key; a key already taken fails
	// with the Flow's Conflict error.
	PutIdem(ctx context.Context, r Record) error
	// FinishIdem stores the outcome of a claimed request; false when the
	// record holds one already (or is gone).
	FinishIdem(ctx context.Context, k Key, response []byte) (bool, error)
}

// Store runs a service's transactions: Update a read-write one, perhaps
// more than once (fn rebuilds its state on every run), View a read-only
// snapshot.
type Store[T any] interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx T) error) error
	View(ctx context.Context, fn func(ctx context.Context, tx T) error) error
}

// Attempts bounds how often a flow runs again after a conflict (a key or a
// row taken by a concurrent request) before it gives up, Unavailable.
const Attempts = 5

// Flow runs a service's idempotent requests (see Run and Claim).
type Flow[T Tx] struct {
	Store Store[T]
	// Conflict is the service's error for a key or a row taken by a
	// concurrent transaction: the flow reads again and retries.
	Conflict error
	// Now is the time records are written with (time.Now if nil).
	Now func() time.Time
}

func (f Flow[T]) now() time.Time {
	if f.Now == nil {
		return time.Now().UTC().Truncate(time.Microsecond)
	}
	return f.Now()
}

func (f Flow[T]) conflicted(err error) bool { return f.Conflict != nil && errors.Is(err, f.Conflict) }

// errRefused rolls back the transaction of a refused request: nothing
// refused is written but the refusal's own record.
var errRefused = errors.New("idempotency: request refused")

func contended(k Key, err error) error {
	return fmt.Errorf("%w (%d attempts, the last: %w)",
		fault.Unavailable(fault.IdempotencyKeyBusy, "idempotency key %q: concurrent requests kept conflicting; retry", k.Key), Attempts, err)
}

// Run runs a request that lives in one transaction, once per key: the
// same key and request replay the stored reply or refusal, byte for byte;
// a different request under the key is refused (IsKeyReused).
//
// check, if not nil, runs first, outside any transaction and only while
// the key is free: the checks that call other services. run runs in a
// transaction. A refusal (a fault) from either writes nothing of the
// request: if the rule stores it (Storable), it is stored in a transaction
// of its own — unless a concurrent request took the key meanwhile, whose
// outcome is then replayed — and returned as every retry will get it;
// otherwise it is returned and the key stays free. A conflict runs the
// transaction again, at most Attempts times.
func Run[T Tx, R any](ctx context.Context, f Flow[T], k Key, req Request,
	check func(ctx context.Context) error, run func(ctx context.Context, tx T) (R, error)) (R, error) {
	var zero R
	if check != nil {
		rec, err := f.lookup(ctx, k)
		if err != nil {
			return zero, err
		}
		if rec != nil {
			return replay[R](ctx, rec, req)
		}
		if err := check(ctx); err != nil {
			return refused[R](ctx, f, k, req, err)
		}
	}
	var last error
	for range Attempts {
		var out R
		var refusal error
		var rec *Record
		err := f.Store.Update(ctx, func(ctx context.Context, tx T) error {
			out, refusal = zero, nil
			var err error
			if rec, err = tx.Idem(ctx, k); err != nil || rec != nil {
				return err
			}
			v, err := run(ctx, tx)
			if err != nil {
				if _, ok := fault.As(err); ok {
					refusal = err
					return errRefused
				}
				return err
			}
			resp, err := EncodeReply(v, nil)
			if err != nil {
				return err
			}
			out = v
			return tx.PutIdem(ctx, req.Record(k, "", resp, f.now()))
		})
		switch {
		case errors.Is(err, errRefused):
			return refused[R](ctx, f, k, req, refusal)
		case f.conflicted(err):
			last = err
			continue
		case err != nil:
			return zero, err
		case rec != nil:
			return replay[R](ctx, rec, req)
		}
		return out, nil
	}
	return zero, contended(k, last)
}

// Steps are the parts of a request carried out in steps: it creates a
// subject (a redemption, a partner transaction) in the transaction that
// claims its key, then carries it on outside any transaction, calling
// other services. A retry finds the claim and resumes the subject; the
// outcome, once there is one, is stored and replayed.
type Steps[T Tx, S, R any] struct {
	// Check, if not nil, runs first, outside any transaction and only
	// while the key is free: the checks that call other services.
	Check func(ctx context.Context) error
	// Create makes the subject in the claiming transaction and returns it
	// with its id. A refusal rolls it back.
	Create func(ctx context.Context, tx T) (S, string, error)
	// Load reads the subject of a claim, to resume it.
	Load func(ctx context.Context, tx T, id string) (S, error)
	// Advance carries the subject on to its outcome: its reply, or a
	// refusal. Any other error (a service unreachable) leaves the subject
	// unfinished for a retry, or the service's recovery, to carry on.
	// It must return a refusal only for a subject that is finished.
	Advance func(ctx context.Context, subject S) (R, error)
}

// Claim runs a request in steps (see Steps), once per key: the same key
// and request replay the stored outcome, or resume the subject while there
// is none; a different request under the key is refused (IsKeyReused). A
// refusal by Check or Create writes nothing of the request, and is stored
// or not as in Run; Advance's outcome is stored if Storable. Conflicts run
// the claim again, at most Attempts times.
func Claim[T Tx, S, R any](ctx context.Context, f Flow[T], k Key, req Request, st Steps[T, S, R]) (R, error) {
	var zero R
	var last error
	checked := st.Check == nil
	for range Attempts {
		// What the key holds: an outcome to replay, or a subject to resume.
		var rec *Record
		var subject S
		err := f.Store.View(ctx, func(ctx context.Context, tx T) error {
			var err error
			rec, subject, err = current(ctx, tx, k, req, st.Load)
			return err
		})
		if err != nil {
			return zero, err
		}
		if rec == nil && !checked {
			checked = true
			if err := st.Check(ctx); err != nil {
				if taken, out, err := refuse[R](ctx, f, k, req, err); taken == nil {
					return out, err
				}
				continue // the key was taken meanwhile: read it again
			}
		}
		if rec == nil {
			var refusal error
			err = f.Store.Update(ctx, func(ctx context.Context, tx T) error {
				refusal = nil
				var err error
				if rec, subject, err = current(ctx, tx, k, req, st.Load); err != nil || rec != nil {
					return err
				}
				s, id, err := st.Create(ctx, tx)
				if err != nil {
					if _, ok := fault.As(err); ok {
						refusal = err
						return errRefused
					}
					return err
				}
				subject = s
				return tx.PutIdem(ctx, req.Record(k, id, nil, f.now()))
			})
			switch {
			case errors.Is(err, errRefused):
				if taken, out, err := refuse[R](ctx, f, k, req, refusal); taken == nil {
					return out, err
				}
				continue
			case f.conflicted(err):
				last = err
				continue
			case err != nil:
				return zero, err
			}
		}
		if rec != nil {
			if err := req.Matches(rec); err != nil {
				return zero, err
			}
			if rec.Done() {
				NoteReplay(ctx)
				return DecodeReply[R](rec.Response)
			}
		}
		return finish(ctx, f, k, subject, st.Advance)
	}
	return zero, contended(k, last)
}

// current reads what k holds and, for an unfinished claim of this request,
// its subject.
func current[T Tx, S any](ctx context.Context, tx T, k Key, req Request, load func(context.Context, T, string) (S, error)) (*Record, S, error) {
	var zero S
	rec, err := tx.Idem(ctx, k)
	if err != nil || rec == nil || rec.Done() || req.Matches(rec) != nil {
		return rec, zero, err
	}
	s, err := load(ctx, tx, rec.Subject)
	return rec, s, err
}

// finish advances a claimed subject and stores its outcome, if the rule
// stores it. Of concurrent retries that finish the same subject, the first
// outcome stored is the one every caller gets.
func finish[T Tx, S, R any](ctx context.Context, f Flow[T], k Key, subject S, advance func(context.Context, S) (R, error)) (R, error) {
	var zero R
	out, outErr := advance(ctx, subject)
	if !Storable(outErr) {
		return zero, outErr // unfinished: a retry, or recovery, carries on
	}
	resp, err := EncodeReply(out, outErr)
	if err != nil {
		return zero, err
	}
	var first *Record
	err = f.Store.Update(ctx, func(ctx context.Context, tx T) error {
		first = nil
		ok, err := tx.FinishIdem(ctx, k, resp)
		if err != nil || ok {
			return err
		}
		first, err = tx.Idem(ctx, k)
		return err
	})
	switch {
	case err != nil:
		return zero, err
	case first != nil && first.Done():
		return DecodeReply[R](first.Response)
	case outErr != nil:
		return DecodeReply[R](resp)
	}
	return out, nil
}

// lookup reads what k holds, outside a write transaction.
func (f Flow[T]) lookup(ctx context.Context, k Key) (*Record, error) {
	var rec *Record
	err := f.Store.View(ctx, func(ctx context.Context, tx T) error {
		var err error
		rec, err = tx.Idem(ctx, k)
		return err
	})
	return rec, err
}

// replay is the outcome a record stored for req.
func replay[R any](ctx context.Context, rec *Record, req Request) (R, error) {
	var zero R
	if err := req.Matches(rec); err != nil {
		return zero, err
	}
	if !rec.Done() {
		return zero, fmt.Errorf("idempotency key %q holds an unfinished claim of %s", rec.Key.Key, rec.Method)
	}
	NoteReplay(ctx)
	return DecodeReply[R](rec.Response)
}

// refused is the answer to a refused request of Run: see refuse.
func refused[R any, T Tx](ctx context.Context, f Flow[T], k Key, req Request, why error) (R, error) {
	taken, out, err := refuse[R](ctx, f, k, req, why)
	if taken != nil {
		return replay[R](ctx, taken, req)
	}
	return out, err
}

// refuse answers a refused request whose transaction, if any, has rolled
// back. A refusal the rule does not store is returned as it is. One it
// stores is written under k in a transaction of its own and returned as
// stored — unless a concurrent request took the key meanwhile: then
// nothing is written and that request's record is returned (taken), for the
// caller to replay or resume.
func refuse[R any, T Tx](ctx context.Context, f Flow[T], k Key, req Request, why error) (taken *Record, out R, err error) {
	var zero R
	if !Storable(why) {
		return nil, zero, why
	}
	resp, err := EncodeReply(nil, why)
	if err != nil {
		return nil, zero, err
	}
	var last error
	for range Attempts {
		err := f.Store.Update(ctx, func(ctx context.Context, tx T) error {
			var err error
			if taken, err = tx.Idem(ctx, k); err != nil || taken != nil {
				return err
			}
			return tx.PutIdem(ctx, req.Record(k, "", resp, f.now()))
		})
		switch {
		case f.conflicted(err):
			last = err
			continue
		case err != nil:
			return nil, zero, err
		case taken != nil:
			return taken, zero, nil
		}
		out, err = DecodeReply[R](resp)
		return nil, out, err
	}
	return nil, zero, contended(k, last)
}
