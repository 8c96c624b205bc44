package sqldb_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// A database that cannot be reached is told apart from a request it
// refused and from the caller's own deadline.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("begin: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{"reset", fmt.Errorf("query: %w", syscall.ECONNRESET), true},
		{"dropped mid-query", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), true},
		{"bad connection", driver.ErrBadConn, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"NUL in a string", &pgconn.PgError{Code: "22021"}, false},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, false},
		{"the caller's deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"cancelled", context.Canceled, false},
		{"a bug", errors.New("nil map"), false},
		{"nil", nil, false},
	} {
		if got := sqldb.Unreachable(tc.err); got != tc.want {
			t.Errorf("%s: Unreachable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// A transaction that cannot reach the database fails UNAVAILABLE with
// reason DATABASE_UNAVAILABLE (retryable, not logged per call), and is
// counted once for the outage log.
func TestUnreachableIsUnavailable(t *testing.T) {
	live := sqldbtest.Open(t, sqldb.Postgres)
	px, dsn := sqldbtest.NewProxy(t, live.DSN)
	db, err := sqldb.Open(context.Background(), dsn, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	px.Cut(true)
	err = db.Update(context.Background(), func(context.Context, *sql.Tx) error { return nil })
	if f, ok := fault.As(err); !ok || f.Kind != fault.KindUnavailable || f.Reason != fault.DatabaseUnavailable {
		t.Fatalf("update with the database down: %v, want an UNAVAILABLE fault DATABASE_UNAVAILABLE", err)
	}
	if n := db.Refused(); n != 1 {
		t.Errorf("Refused() = %d, want 1", n)
	}
	if n := db.Refused(); n != 0 {
		t.Errorf("Refused() again = %d, want 0 (it resets)", n)
	}
	px.Cut(false)
	if err := db.Update(context.Background(), func(context.Context, *sql.Tx) error { return nil }); err != nil {
		t.Errorf("update once the database is back: %v", err)
	}
}
