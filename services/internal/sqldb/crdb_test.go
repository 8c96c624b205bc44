package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// asCockroach opens a PostgreSQL database that runs its transactions the
// way it would on CockroachDB: crdb.ExecuteTx's SAVEPOINT
// cockroach_restart, RELEASE and ROLLBACK TO SAVEPOINT are PostgreSQL SQL
// too, so the restart loop, its bound and the ambiguous commit run for
// real here.
func asCockroach(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(t.Context(), dsn, sqldb.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Dialect = sqldb.Cockroach
	return db
}

// A transaction that conflicts restarts in place, its earlier attempts'
// writes undone, at most MaxAttempts times in all; one that keeps
// conflicting is UNAVAILABLE TRANSACTION_CONFLICT, which the client
// retries with its idempotency key.
func TestCockroachRestarts(t *testing.T) {
	live := sqldbtest.Open(t, sqldb.Postgres)
	if _, err := live.ExecContext(t.Context(), `CREATE TABLE attempts (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db := asCockroach(t, live.DSN)
	db.SetMaxAttempts(4)
	conflict := &pgconn.PgError{Code: "40001", Message: "restart transaction"}

	calls := 0
	err := db.Update(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		calls++
		if _, err := tx.ExecContext(ctx, `INSERT INTO attempts VALUES ($1)`, calls); err != nil {
			return err
		}
		if calls < 3 {
			return fmt.Errorf("write: %w", conflict)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("conflicting twice then committing: %v after %d runs, want nil after 3", err, calls)
	}
	var rows, last int
	if err := live.QueryRowContext(t.Context(), `SELECT COUNT(*), MAX(n) FROM attempts`).Scan(&rows, &last); err != nil || rows != 1 || last != 3 {
		t.Errorf("committed %d rows, the last of run %d (%v): want only the third run's", rows, last, err)
	}

	calls = 0
	err = db.Update(t.Context(), func(context.Context, *sql.Tx) error {
		calls++
		return fmt.Errorf("write: %w", conflict)
	})
	if f, ok := fault.As(err); !ok || f.Kind != fault.KindUnavailable || f.Reason != fault.TransactionConflict {
		t.Errorf("always conflicting: %v, want UNAVAILABLE TRANSACTION_CONFLICT", err)
	}
	if calls != db.MaxAttempts() {
		t.Errorf("always conflicting ran %d times, want MaxAttempts = %d", calls, db.MaxAttempts())
	}
}

// When the connection fails as the transaction commits, nobody knows
// whether it did: the client is told so (UNAVAILABLE
// COMMIT_OUTCOME_UNKNOWN) and retries with its idempotency key, which
// replays the outcome if it committed. So is CockroachDB's own "result is
// ambiguous" (40003).
func TestCommitOutcomeUnknown(t *testing.T) {
	live := sqldbtest.Open(t, sqldb.Postgres)
	px, dsn := sqldbtest.NewProxy(t, live.DSN)
	db := asCockroach(t, dsn)
	err := db.Update(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT 1`); err != nil {
			return err
		}
		px.Cut(true) // the link fails between the work and the commit
		return nil
	})
	px.Cut(false)
	if f, ok := fault.As(err); !ok || f.Kind != fault.KindUnavailable || f.Reason != fault.CommitOutcomeUnknown {
		t.Errorf("connection lost at commit: %v, want UNAVAILABLE COMMIT_OUTCOME_UNKNOWN", err)
	}

	err = db.Classify(fmt.Errorf("commit: %w", &pgconn.PgError{Code: "40003", Message: "result is ambiguous"}))
	if f, ok := fault.As(err); !ok || f.Kind != fault.KindUnavailable || f.Reason != fault.CommitOutcomeUnknown {
		t.Errorf("40003: %v, want UNAVAILABLE COMMIT_OUTCOME_UNKNOWN", err)
	}
}
