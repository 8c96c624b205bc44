package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem/idemsql"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/operations"
)

// Operations is the long-running operations' store (operations.Store).
type Operations struct{ db *sqldb.DB }

var _ operations.Store = Operations{}

// NewOperations wraps a database.
func NewOperations(db *sqldb.DB) Operations { return Operations{db} }

// opsTxn is a transaction on the operations and the idempotency table.
type opsTxn struct {
	idem.Tx
	tx *sql.Tx
}

// Update implements operations.Store.
func (s Operations) Update(ctx context.Context, fn func(ctx context.Context, tx operations.Tx) error) error {
	return s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, newOpsTx(tx)) })
}

// View implements operations.Store.
func (s Operations) View(ctx context.Context, fn func(ctx context.Context, tx operations.Tx) error) error {
	return s.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, newOpsTx(tx)) })
}

func newOpsTx(tx *sql.Tx) operations.Tx {
	return opsTxn{Tx: ledgerIdem{tx, operations.ErrConflict}, tx: tx}
}

// ledgerIdem is the ledger's idempotency table as idem.Tx sees it. Unlike
// the tables of idemsql it has no subject_id (the ledger claims no keys
// for work in steps), so it has its own reads and writes; the records are
// those the write path keeps (see replies).
type ledgerIdem struct {
	tx *sql.Tx
	// conflict is the service's error for a key already taken.
	conflict error
}

// Idem implements idem.Tx.
func (x ledgerIdem) Idem(ctx context.Context, k idem.Key) (*idem.Record, error) {
	recs, err := replies(ctx, x.tx, []idem.Key{k})
	if err != nil {
		return nil, err
	}
	if r, ok := recs[k]; ok {
		return &r, nil
	}
	return nil, nil
}

// PutIdem implements idem.Tx: a key already taken is a conflict, for the
// start to run again and find it.
func (x ledgerIdem) PutIdem(ctx context.Context, r idem.Record) error {
	_, err := x.tx.ExecContext(ctx, `INSERT INTO ledger_idempotency (caller, idem_key, method, request_hash, hash_version, response, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.Caller, r.Key.Key, r.Method, r.Hash, r.HashVersion, r.Response, sqldb.Micros(r.CreatedAt))
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w: %w", x.conflict, idemsql.ErrKeyTaken, err)
	}
	if err != nil {
		return fmt.Errorf("ledger_idempotency: %w", err)
	}
	return nil
}

// FinishIdem implements idem.Tx; operations store their outcome under
// their key at once (idem.Run), never claim one.
func (x ledgerIdem) FinishIdem(context.Context, idem.Key, []byte) (bool, error) {
	return false, errors.New("ledger_idempotency: no claims to finish")
}

const opCols = `operation_id, method, caller, programme_id, runner, state, outcome, created_at, heartbeat_at, ended_at, cancel_requested, progress`

func scanOp(sc interface{ Scan(...any) error }) (operations.Operation, error) {
	var o operations.Operation
	var created, beat, ended int64
	err := sc.Scan(&o.ID, &o.Method, &o.Caller, &o.ProgrammeID, &o.Runner, &o.State, &o.Outcome, &created, &beat, &ended, &o.CancelRequested, &o.Progress)
	o.CreatedAt, o.HeartbeatAt = sqldb.FromMicros(created), sqldb.FromMicros(beat)
	if ended != 0 {
		o.EndedAt = sqldb.FromMicros(ended)
	}
	return o, err
}

// PutOperation implements operations.Tx.
func (t opsTxn) PutOperation(ctx context.Context, o operations.Operation) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO ledger_operations (`+opCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, FALSE, 0)`,
		o.ID, o.Method, o.Caller, o.ProgrammeID, o.Runner, string(o.State), []byte{}, sqldb.Micros(o.CreatedAt), sqldb.Micros(o.HeartbeatAt))
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", operations.ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("insert operation: %w", err)
	}
	return nil
}

// Operation implements operations.Tx.
func (t opsTxn) Operation(ctx context.Context, id string) (*operations.Operation, error) {
	o, err := scanOp(t.tx.QueryRowContext(ctx, `SELECT `+opCols+` FROM ledger_operations WHERE operation_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read operation: %w", err)
	}
	return &o, nil
}

// Heartbeat implements operations.Store.
func (s Operations) Heartbeat(ctx context.Context, beats []operations.Beat, at time.Time) ([]string, error) {
	var cancel []string
	ids := make([]string, len(beats))
	for i, b := range beats {
		ids[i] = b.ID
	}
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		cancel = cancel[:0]
		for _, b := range beats {
			if _, err := tx.ExecContext(ctx, `UPDATE ledger_operations SET heartbeat_at = $1, progress = $2
				WHERE operation_id = $3 AND state = 'running'`, sqldb.Micros(at), b.Progress, b.ID); err != nil {
				return err
			}
		}
		return inChunks(ids, func(ids []string) error {
			return query(ctx, tx, `SELECT operation_id FROM ledger_operations WHERE cancel_requested AND state = 'running' AND operation_id IN (`+
				sqldb.Placeholders(1, len(ids))+`)`, anys(ids), func(r *sql.Rows) error {
				var id string
				err := r.Scan(&id)
				cancel = append(cancel, id)
				return err
			})
		})
	})
	return cancel, err
}

// RequestCancel implements operations.Store.
func (s Operations) RequestCancel(ctx context.Context, id string) (bool, error) {
	var n int64
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE ledger_operations SET cancel_requested = TRUE WHERE operation_id = $1 AND state = 'running'`, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("cancel operation: %w", err)
	}
	return n == 1, nil
}

// Finish implements operations.Store.
func (s Operations) Finish(ctx context.Context, id string, state operations.State, outcome []byte, progress int64, at time.Time) (bool, error) {
	var n int64
	err := s.db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if outcome == nil {
			outcome = []byte{}
		}
		res, err := tx.ExecContext(ctx, `UPDATE ledger_operations SET state = $1, outcome = $2, ended_at = $3, heartbeat_at = $3, progress = $4
			WHERE operation_id = $5 AND state = 'running'`, string(state), outcome, sqldb.Micros(at), progress, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("finish operation: %w", err)
	}
	return n == 1, nil
}

// List implements operations.Store.
func (s Operations) List(ctx context.Context, f operations.Filter, afterAt time.Time, afterID string, limit int) ([]operations.Operation, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if !f.All {
		who := []string{"caller = " + arg(f.Caller)}
		if len(f.Programmes) > 0 {
			ps := make([]string, len(f.Programmes))
			for i, p := range f.Programmes {
				ps[i] = arg(p)
			}
			who = append(who, "programme_id IN ("+strings.Join(ps, ", ")+")")
		}
		where = append(where, "("+strings.Join(who, " OR ")+")")
	}
	if afterID != "" {
		at := arg(sqldb.Micros(afterAt))
		where = append(where, "(created_at < "+at+" OR (created_at = "+at+" AND operation_id < "+arg(afterID)+"))")
	}
	q := `SELECT ` + opCols + ` FROM ledger_operations`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, operation_id DESC LIMIT ` + arg(limit)
	var out []operations.Operation
	err := s.db.View(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = out[:0]
		return query(ctx, tx, q, args, func(r *sql.Rows) error {
			o, err := scanOp(r)
			out = append(out, o)
			return err
		})
	})
	return out, err
}
