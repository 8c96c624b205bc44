// Package idemsql is the SQL of a service's idempotency table, one
// implementation for SQLite, PostgreSQL and CockroachDB:
//
//	caller, idem_key   the key, scoped to its caller (the primary key)
//	method, request_hash, hash_version
//	                   the request's fingerprint (see idem.Request)
//	subject_id         what a claimed request created ('' for others)
//	response           the stored outcome (empty while a claim is open)
//	created_at         microseconds since the epoch; the purge deletes
//	                   by it, through an index on it
package idemsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

// ErrKeyTaken is a key already claimed, by a concurrent request.
var ErrKeyTaken = errors.New("idempotency key already taken")

// Table is a service's idempotency table, by name.
type Table string

// Get reads a key's record, nil when the key is free.
func (t Table) Get(ctx context.Context, tx *sql.Tx, k idem.Key) (*idem.Record, error) {
	r := idem.Record{Key: k}
	var created int64
	err := tx.QueryRowContext(ctx, `SELECT method, request_hash, hash_version, subject_id, response, created_at FROM `+string(t)+
		` WHERE caller = $1 AND idem_key = $2`, k.Caller, k.Key).
		Scan(&r.Method, &r.Hash, &r.HashVersion, &r.Subject, &r.Response, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	r.CreatedAt = time.UnixMicro(created).UTC()
	return &r, nil
}

// Put writes a record, claiming its key; a key already taken is
// ErrKeyTaken.
func (t Table) Put(ctx context.Context, tx *sql.Tx, r idem.Record) error {
	if r.Response == nil {
		r.Response = []byte{} // a claim in progress
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO `+string(t)+
		` (caller, idem_key, method, request_hash, hash_version, subject_id, response, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.Caller, r.Key.Key, r.Method, r.Hash, r.HashVersion, r.Subject, r.Response, r.CreatedAt.UnixMicro())
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", ErrKeyTaken, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	return nil
}

// Finish stores the outcome of a claimed request, unless its record holds
// one already: the first outcome stored stands. It tells whether it
// stored this one.
func (t Table) Finish(ctx context.Context, tx *sql.Tx, k idem.Key, response []byte) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE `+string(t)+` SET response = $1 WHERE caller = $2 AND idem_key = $3 AND length(response) = 0`,
		response, k.Caller, k.Key)
	if err != nil {
		return false, fmt.Errorf("%s: %w", t, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", t, err)
	}
	return n == 1, nil
}

// PurgeBatch is how many records one purge transaction deletes at most.
const PurgeBatch = 1000

// Purge deletes the records written before before, at most batch (<= 0:
// PurgeBatch) per transaction, until none is left, and returns how many it
// deleted. Replicas may purge at the same time: each batch deletes only
// rows still there, and a batch that conflicts with another replica's runs
// again (sqldb's retry), finding fewer or none.
func (t Table) Purge(ctx context.Context, db *sqldb.DB, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = PurgeBatch
	}
	total := 0
	for {
		var n int64
		err := db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+string(t)+` WHERE (caller, idem_key) IN (
				SELECT caller, idem_key FROM `+string(t)+` WHERE created_at < $1 LIMIT $2)`, before.UnixMicro(), batch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", t, err)
		}
		total += int(n)
		if n < int64(batch) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// In is the table within one transaction, as a service's transaction
// offers it (idem.Tx): a key already taken is conflict, the service's
// retryable conflict error, wrapping ErrKeyTaken.
func (t Table) In(tx *sql.Tx, conflict error) idem.Tx { return inTx{t: t, tx: tx, conflict: conflict} }

type inTx struct {
	t        Table
	tx       *sql.Tx
	conflict error
}

func (x inTx) Idem(ctx context.Context, k idem.Key) (*idem.Record, error) {
	return x.t.Get(ctx, x.tx, k)
}

func (x inTx) PutIdem(ctx context.Context, r idem.Record) error {
	err := x.t.Put(ctx, x.tx, r)
	if errors.Is(err, ErrKeyTaken) {
		return fmt.Errorf("%w: %w", x.conflict, err)
	}
	return err
}

func (x inTx) FinishIdem(ctx context.Context, k idem.Key, response []byte) (bool, error) {
	return x.t.Finish(ctx, x.tx, k, response)
}
