// Package idem is the idempotency plumbing the services share: the request
// hash, the stored reply (a result or a refusal), and the SQL of a
// service's idempotency table (caller, idem_key, method, request_hash,
// subject_id, response, created_at).
package idem

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

// ErrConflict is a key claimed by a concurrent request.
var ErrConflict = errors.New("idempotency key claimed concurrently")

// Key scopes an idempotency key to its caller.
type Key struct {
	Caller string
	Key    string
}

// Record is a request's idempotency record: what it created (Subject) and,
// once finished, its reply (Response; empty while in progress).
type Record struct {
	Key
	Method    string
	Hash      []byte
	Subject   string
	Response  []byte
	CreatedAt time.Time
}

// Hash fingerprints a request: the same method and body give the same hash.
func Hash(method string, req any) ([]byte, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("hash %s request: %w", method, err)
	}
	h := sha256.Sum256(append([]byte(method+"\x00"), b...))
	return h[:], nil
}

// Matches tells whether a stored record belongs to the same request, and
// is the refusal to give when it does not.
func (r *Record) Matches(method string, hash []byte) error {
	if r.Method != method || string(r.Hash) != string(hash) {
		return fault.Exists("idempotency key %q was already used for a different request", r.Key.Key)
	}
	return nil
}

type stored struct {
	Result json.RawMessage `json:",omitempty"`
	Kind   fault.Kind      `json:",omitempty"`
	Field  string          `json:",omitempty"`
	Msg    string          `json:",omitempty"`
}

// EncodeReply stores a result, or a refusal (err must then be a fault).
func EncodeReply(v any, err error) ([]byte, error) {
	if err != nil {
		f, ok := fault.As(err)
		if !ok {
			return nil, fmt.Errorf("only refusals are stored, not %w", err)
		}
		return json.Marshal(stored{Kind: f.Kind, Field: f.Field, Msg: f.Msg})
	}
	b, merr := json.Marshal(v)
	if merr != nil {
		return nil, fmt.Errorf("encode reply: %w", merr)
	}
	return json.Marshal(stored{Result: b})
}

// DecodeReply returns a stored result, or the stored refusal as its error.
func DecodeReply[R any](b []byte) (R, error) {
	var r R
	var st stored
	if err := json.Unmarshal(b, &st); err != nil {
		return r, fmt.Errorf("decode stored reply: %w", err)
	}
	if st.Kind != 0 {
		return r, &fault.Error{Kind: st.Kind, Field: st.Field, Msg: st.Msg}
	}
	if err := json.Unmarshal(st.Result, &r); err != nil {
		return r, fmt.Errorf("decode stored reply: %w", err)
	}
	return r, nil
}

// Table is a service's idempotency table.
type Table string

// Get reads a record, nil when the key is free.
func (t Table) Get(ctx context.Context, tx *sql.Tx, k Key) (*Record, error) {
	r := Record{Key: k}
	var created int64
	err := tx.QueryRowContext(ctx, `SELECT method, request_hash, subject_id, response, created_at FROM `+string(t)+
		` WHERE caller = $1 AND idem_key = $2`, k.Caller, k.Key).Scan(&r.Method, &r.Hash, &r.Subject, &r.Response, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	r.CreatedAt = time.UnixMicro(created).UTC()
	return &r, nil
}

// Put claims a key; a key already claimed is ErrConflict.
func (t Table) Put(ctx context.Context, tx *sql.Tx, r Record) error {
	if r.Response == nil {
		r.Response = []byte{} // in progress
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO `+string(t)+
		` (caller, idem_key, method, request_hash, subject_id, response, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.Caller, r.Key.Key, r.Method, r.Hash, r.Subject, r.Response, r.CreatedAt.UnixMicro())
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	return nil
}

// Finish stores a request's reply.
func (t Table) Finish(ctx context.Context, tx *sql.Tx, k Key, response []byte) error {
	if _, err := tx.ExecContext(ctx, `UPDATE `+string(t)+` SET response = $1 WHERE caller = $2 AND idem_key = $3`,
		response, k.Caller, k.Key); err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	return nil
}

// Tx is a transaction's access to a service's idempotency table.
type Tx interface {
	Idem(ctx context.Context, k Key) (*Record, error)
	PutIdem(ctx context.Context, r Record) error
}

// Run runs a request that lives in one database transaction (update runs
// fn in one), once per key: the same key and request replay the stored
// reply; a different request under the key is refused (AlreadyExists); a
// refusal (a fault) writes nothing and is not stored; a key claimed by a
// concurrent request (PutIdem failing with conflict) reads again.
//
// The reply is stored as R's JSON: a field tagged `json:"-"` (a secret
// shown once) is never stored, and a replay returns it empty.
func Run[T Tx, R any](ctx context.Context, update func(context.Context, func(context.Context, T) error) error,
	conflict error, now time.Time, k Key, method string, req any, run func(ctx context.Context, tx T) (R, error)) (R, error) {
	var zero R
	hash, err := Hash(method, req)
	if err != nil {
		return zero, err
	}
	var out R
	var outErr error
	for attempt := 1; ; attempt++ {
		err = update(ctx, func(ctx context.Context, tx T) error {
			rec, err := tx.Idem(ctx, k)
			if err != nil {
				return err
			}
			if rec != nil {
				if outErr = rec.Matches(method, hash); outErr == nil {
					out, outErr = DecodeReply[R](rec.Response)
				}
				return nil
			}
			out, outErr = run(ctx, tx)
			if outErr != nil {
				if _, rule := fault.As(outErr); rule {
					return errRefused // roll back what run wrote
				}
				return outErr
			}
			resp, err := EncodeReply(out, nil)
			if err != nil {
				return err
			}
			return tx.PutIdem(ctx, Record{Key: k, Method: method, Hash: hash, Response: resp, CreatedAt: now})
		})
		if !errors.Is(err, conflict) || attempt == 5 {
			break
		}
	}
	switch {
	case errors.Is(err, errRefused):
		return zero, outErr
	case err != nil:
		return zero, err
	}
	return out, outErr
}

var errRefused = errors.New("refused")
