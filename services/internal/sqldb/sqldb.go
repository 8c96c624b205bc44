// Package sqldb opens the three SQL engines Fidelis runs on (embedded SQLite,
// PostgreSQL, CockroachDB) behind database/sql and runs transactions the way
// each engine needs: crdb.ExecuteTx on CockroachDB, SERIALIZABLE with a
// whole-transaction retry on PostgreSQL, BEGIN IMMEDIATE on SQLite.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Dialect is the SQL engine behind a DB.
type Dialect string

// Dialects.
const (
	SQLite    Dialect = "sqlite"
	Postgres  Dialect = "postgres"
	Cockroach Dialect = "cockroachdb"
)

// DefaultDSN is the zero-setup embedded database.
const DefaultDSN = "sqlite:fidelis.db"

// DB is a database/sql pool that knows its engine.
type DB struct {
	*sql.DB
	Dialect Dialect
	// DSN is what the DB was opened with.
	DSN string
	// maxAttempts bounds how many times a transaction runs: whole again on
	// PostgreSQL and SQLite, restarted in place on CockroachDB.
	maxAttempts int
	// tableLock makes PostgreSQL take CockroachDB's migration lock (for
	// its tests, see provider).
	tableLock bool
	// unreachable counts the transactions refused because the database
	// could not be reached (see Unreachable), for the outage log.
	unreachable atomic.Int64
}

// Options tune a pool.
type Options struct {
	// MaxConns bounds the pool of a server engine (default 16). SQLite always
	// uses one connection: its writers are serialised anyway, and one
	// connection lets database/sql queue them without SQLITE_BUSY.
	MaxConns int
	// Tracer, if set, puts each statement, BEGIN, COMMIT and ROLLBACK
	// run under a recording span in a child span of its own (see
	// trace.go): its text, never its arguments.
	Tracer trace.TracerProvider
}

// Open connects to dsn:
//
//	sqlite:path/to/file.db | sqlite::memory:
//	postgres://user@host:5432/db?sslmode=disable
//	cockroachdb://user@host:26257/db?sslmode=verify-full
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if dsn == "" {
		dsn = DefaultDSN
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	var (
		db      *sql.DB
		dialect Dialect
		err     error
	)
	open := func(name, dsn string) (*sql.DB, error) {
		c, err := connector(name, dsn)
		if err != nil {
			return nil, err
		}
		if opts.Tracer != nil {
			c = tracedConnector{Connector: c, t: newTracing(opts.Tracer, dialect)}
		}
		return sql.OpenDB(c), nil
	}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		dialect = SQLite
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path != ":memory:" {
			if err := private(path); err != nil {
				return nil, err
			}
		}
		db, err = open("sqlite", sqliteDSN(path))
		if err == nil {
			db.SetMaxOpenConns(1)
			db.SetMaxIdleConns(1)
			db.SetConnMaxLifetime(0)
			db.SetConnMaxIdleTime(0)
		}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		dialect = Postgres
		db, err = open("pgx", dsn)
	case strings.HasPrefix(dsn, "cockroachdb://"), strings.HasPrefix(dsn, "cockroach://"):
		dialect = Cockroach
		db, err = open("pgx", "postgres://"+dsn[strings.Index(dsn, "://")+3:])
	default:
		return nil, fmt.Errorf("sqldb: unsupported dsn %q (want sqlite:, postgres:// or cockroachdb://)", redact(dsn))
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: open %s: %w", dialect, err)
	}
	if dialect != SQLite {
		db.SetMaxOpenConns(opts.MaxConns)
		db.SetMaxIdleConns(opts.MaxConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqldb: connect to %s %s: %w", dialect, redact(dsn), err)
	}
	return &DB{DB: db, Dialect: dialect, DSN: dsn, maxAttempts: 30}, nil
}

// private creates a SQLite database file readable by this user only, and
// takes group and other access away from an existing one and its journal
// files (SQLite gives the journal files the database file's mode): it holds
// personal data and key hashes.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqldb: open %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		info, err := os.Stat(p)
		if err != nil || info.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, info.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("sqldb: make %s private: %w", p, err)
		}
	}
	return nil
}

// sqliteDSN adds the pragmas Fidelis relies on: WAL with full fsync, a busy
// timeout for other processes, foreign keys, secure delete, and BEGIN IMMEDIATE so that a
// transaction that reads and then writes never fails with SQLITE_BUSY.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	// Deleted and overwritten content is zeroed in the file, not left in
	// free space: an erased member's data must not linger there.
	q.Add("_pragma", "secure_delete(1)")
	if path != ":memory:" {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
	}
	return "file:" + path + "?" + q.Encode()
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Update runs fn in a read-write transaction. fn may run more than once: it
// must touch only the transaction (no RPCs, no publishing) and rebuild its
// results on each run.
func (db *DB) Update(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	switch db.Dialect {
	case Cockroach:
		return db.Classify(db.executeTx(ctx, fenced(ctx, fn)))
	case Postgres:
		return db.retry(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable}, fn)
	default:
		return db.retry(ctx, nil, fn)
	}
}

// UpdateSnapshot runs fn in a read-write transaction under snapshot
// isolation where the engine has it: REPEATABLE READ on PostgreSQL, which
// still fails a transaction that updates a row changed since its snapshot,
// but not one whose reads other transactions overwrote. It is for writers
// that order themselves with a row lock taken first and can tolerate not
// seeing rows committed after their snapshot, so that PostgreSQL's
// page-granular SERIALIZABLE tracking does not fail them for the writes of
// transactions they never touch. CockroachDB and SQLite run fn as Update.
func (db *DB) UpdateSnapshot(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if db.Dialect == Postgres {
		return db.retry(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead}, fn)
	}
	return db.Update(ctx, fn)
}

// View runs fn in a read-only transaction that sees one snapshot.
func (db *DB) View(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	switch db.Dialect {
	case Postgres:
		opts.Isolation = sql.LevelRepeatableRead
	case SQLite:
		opts = nil // BEGIN IMMEDIATE is a snapshot too; modernc rejects ReadOnly.
	}
	return db.retry(ctx, opts, fn)
}

// retry runs the whole transaction again on a serialization failure. On
// PostgreSQL a savepoint restart does not help: the retried statements still
// see the old snapshot.
func (db *DB) retry(ctx context.Context, opts *sql.TxOptions, fn func(ctx context.Context, tx *sql.Tx) error) error {
	var b backoff
	for attempt := 1; ; attempt++ {
		err := db.once(ctx, opts, fn)
		if err == nil || !IsRetryable(err) || attempt >= db.maxAttempts {
			return db.Classify(err)
		}
		if werr := b.wait(ctx); werr != nil {
			return fmt.Errorf("%w (retrying after: %w)", werr, err)
		}
	}
}

// executeTx runs fn the way CockroachDB wants a transaction retried:
// crdb.ExecuteTx restarts it in place (ROLLBACK TO SAVEPOINT
// cockroach_restart), so that the restarted transaction keeps the priority
// it earned and is not starved by newer ones. It restarts at most
// maxAttempts-1 times, and waits before each restart, with the same
// jittered backoff as retry: without one, transactions that conflict
// restart in lock-step and conflict again. When the connection fails as
// it commits, crdb reports an AmbiguousCommitError, which Classify answers
// with COMMIT_OUTCOME_UNKNOWN.
func (db *DB) executeTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	var b backoff
	attempt := 0
	return crdb.ExecuteTx(crdb.WithMaxRetries(ctx, max(db.maxAttempts-1, 1)), db.DB, nil, func(tx *sql.Tx) error {
		if attempt++; attempt > 1 {
			if err := b.wait(ctx); err != nil {
				return err
			}
		}
		return fn(ctx, tx)
	})
}

// backoff is the wait before a transaction runs again: jittered around
// 1 ms, doubling up to 50 ms.
type backoff struct{ next time.Duration }

// wait sleeps for the next backoff, or until ctx ends (its error).
func (b *backoff) wait(ctx context.Context) error {
	if b.next == 0 {
		b.next = time.Millisecond
	}
	t := time.NewTimer(b.next/2 + rand.N(b.next))
	defer t.Stop()
	b.next = min(b.next*2, 50*time.Millisecond)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (db *DB) once(ctx context.Context, opts *sql.TxOptions, fn func(ctx context.Context, tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if opts == nil || !opts.ReadOnly {
		fn = fenced(ctx, fn)
	}
	committed := false
	defer func() {
		// On an error, and on a panic too: a transaction left open would
		// hold its connection (SQLite's only one) until ctx ends.
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	committed = true
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Classify turns the error of a transaction that could not reach the
// database (see Unreachable), or that still conflicted after every
// attempt, into an UNAVAILABLE fault that still wraps
// it: the caller may retry with the same idempotency key, and nothing is
// logged per call (the readiness watch logs the outage). Any other error
// is returned as it is.
func (db *DB) Classify(err error) error {
	if CommitOutcomeUnknown(err) {
		db.unreachable.Add(1)
		return fmt.Errorf("%w: %w", fault.Unavailable(fault.CommitOutcomeUnknown, "the connection failed while the transaction committed, so whether it did is unknown: retry with the same idempotency key"), err)
	}
	if err != nil && IsRetryable(err) {
		// Still conflicting after every attempt: the caller may retry.
		return fmt.Errorf("%w: %w", fault.Unavailable(fault.TransactionConflict, "the transaction kept conflicting with others: retry with the same idempotency key"), err)
	}
	if err == nil || !Unreachable(err) {
		return err
	}
	db.unreachable.Add(1)
	return fmt.Errorf("%w: %w", fault.Unavailable(fault.DatabaseUnavailable, "the database cannot be reached now: retry with the same idempotency key"), err)
}

// Fence is a check that a read-write transaction runs first, in the
// transaction (see services/internal/lease): its error fails the
// transaction before anything is written.
type Fence func(ctx context.Context, tx *sql.Tx) error

type fenceKey struct{}

// WithFence makes every read-write transaction run under ctx check f
// first.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// fenced is fn preceded by the fence of ctx, if it has one.
func fenced(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) func(ctx context.Context, tx *sql.Tx) error {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	if !ok {
		return fn
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		if err := f(ctx, tx); err != nil {
			return err
		}
		return fn(ctx, tx)
	}
}

// Refused is the number of transactions refused as unreachable since the
// last call, which resets it.
func (db *DB) Refused() int64 { return db.unreachable.Swap(0) }

// Unreachable tells whether err says the database could not be reached or
// went away (the connection refused, reset or timed out, the server
// shutting down or not accepting connections, SQLite's file unreadable),
// rather than a request it refused. Not a context's end: that is the
// caller's deadline.
func Unreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// connection_exception (08), admin/crash shutdown, cannot connect
		// now, too many connections, CockroachDB's ambiguous result (see
		// CommitOutcomeUnknown).
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" || pg.Code == "57P03" ||
			pg.Code == "53300" || pg.Code == "40003"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connect) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

// CommitOutcomeUnknown tells whether err leaves unknown whether the
// transaction committed: CockroachDB's "result is ambiguous" (40003), or
// the connection failing on the commit itself (crdb's
// AmbiguousCommitError, which also wraps an ambiguous result).
func CommitOutcomeUnknown(err error) bool {
	var ambiguous *crdb.AmbiguousCommitError
	var pg *pgconn.PgError
	return errors.As(err, &ambiguous) || errors.As(err, &pg) && pg.Code == "40003"
}

// IsRetryable tells whether err is a transient conflict worth running the
// whole transaction again for.
func IsRetryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// serialization_failure, deadlock_detected
		return pg.Code == "40001" || pg.Code == "40P01"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		c := lite.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// IsUniqueViolation tells whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || lite.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Placeholders returns "$from, $from+1, ..." n times, for IN lists.
func Placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

// ForUpdate is the suffix of a SELECT that locks the rows it reads of
// table (and of no table its subqueries read), empty where the engine locks
// the whole database for a write transaction anyway.
func (db *DB) ForUpdate(table string) string {
	if db.Dialect == SQLite {
		return ""
	}
	return " FOR UPDATE OF " + table
}
