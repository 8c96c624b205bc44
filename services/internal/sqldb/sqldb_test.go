package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// txFunc is the signature of Update, UpdateSnapshot and View.
type txFunc = func(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error

// runners are the ways of running a transaction that retry it.
func runners(db *sqldb.DB) map[string]txFunc {
	return map[string]txFunc{"Update": db.Update, "UpdateSnapshot": db.UpdateSnapshot, "View": db.View}
}

func serializationFailure() error {
	return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
}

// sqliteBusy is a real SQLITE_BUSY: a second writer on a database another
// connection is writing, with no time to wait.
func sqliteBusy(t *testing.T) error {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "busy.db") + "?_pragma=busy_timeout(0)"
	var conns [2]*sql.Conn
	for i := range conns {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if conns[i], err = db.Conn(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conns[i].Close() })
	}
	if _, err := conns[0].ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conns[0].ExecContext(context.Background(), `ROLLBACK`)
	_, err := conns[1].ExecContext(t.Context(), `BEGIN IMMEDIATE`)
	if err == nil {
		t.Fatal("a second writer began")
	}
	return err
}

func TestIsRetryable(t *testing.T) {
	busy := sqliteBusy(t)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"serialization failure", serializationFailure(), true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"wrapped serialization failure", fmt.Errorf("commit: %w", serializationFailure()), true},
		{"SQLITE_BUSY", busy, true},
		{"wrapped SQLITE_BUSY", fmt.Errorf("begin: %w", busy), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"read-only transaction", &pgconn.PgError{Code: "25006"}, false},
		{"nil", nil, false},
		{"other", errors.New("40001"), false},
		{"fault", fault.Precondition(fault.ReasonFailedPrecondition, "no"), false},
		{"context", context.DeadlineExceeded, false},
	} {
		if got := sqldb.IsRetryable(tc.err); got != tc.want {
			t.Errorf("IsRetryable(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestIsUniqueViolation(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		notes(t, db)
		insert := `INSERT INTO notes (id, note) VALUES (1, 'a')`
		if _, err := db.ExecContext(t.Context(), insert); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(t.Context(), insert)
		if !sqldb.IsUniqueViolation(fmt.Errorf("save: %w", err)) {
			t.Errorf("IsUniqueViolation(%v) = false", err)
		}
		_, err = db.ExecContext(t.Context(), `INSERT INTO notes (id, note) VALUES (2, NULL)`)
		if err == nil || sqldb.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = true for a NOT NULL violation", err)
		}
		if sqldb.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = true", err)
		}
	})
}

// A transaction that fails with a transient conflict runs again, from
// scratch: the writes of the failed run are gone, and its result is the
// run that succeeded.
func TestRetryRunsTheTransactionAgain(t *testing.T) {
	busy := sqliteBusy(t)
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		notes(t, db)
		for name, run := range runners(db) {
			for conflictName, conflict := range map[string]error{
				"serialization failure": serializationFailure(), "deadlock": &pgconn.PgError{Code: "40P01"}, "SQLITE_BUSY": busy,
			} {
				t.Run(name+"/"+conflictName, func(t *testing.T) {
					if _, err := db.ExecContext(t.Context(), `DELETE FROM notes`); err != nil {
						t.Fatal(err)
					}
					var seen []int
					err := run(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
						var n int
						if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM notes`).Scan(&n); err != nil {
							return err
						}
						seen = append(seen, n)
						if name != "View" || db.Dialect == sqldb.SQLite { // PostgreSQL's View is read-only
							if _, err := tx.ExecContext(ctx, `INSERT INTO notes (id, note) VALUES ($1, 'run')`, len(seen)); err != nil {
								return err
							}
						}
						if len(seen) < 3 {
							return fmt.Errorf("run %d: %w", len(seen), conflict)
						}
						return nil
					})
					if err != nil {
						t.Fatalf("err %v after %d runs", err, len(seen))
					}
					if !slices.Equal(seen, []int{0, 0, 0}) {
						t.Errorf("runs saw %v rows, want each to start afresh", seen)
					}
					if name != "View" || db.Dialect == sqldb.SQLite {
						wantNotes(t, db, map[int]string{3: "run"})
					}
				})
			}
		}
	})
}

// Retries are bounded: a conflict that never clears fails the transaction
// after maxAttempts runs, with the conflict.
func TestRetryGivesUp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		db.SetMaxAttempts(4)
		for name, run := range runners(db) {
			t.Run(name, func(t *testing.T) {
				runs := 0
				err := run(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
					runs++
					return serializationFailure()
				})
				var pg *pgconn.PgError
				if !errors.As(err, &pg) || pg.Code != "40001" {
					t.Errorf("err %v, want the serialization failure", err)
				}
				if runs != 4 {
					t.Errorf("%d runs, want 4", runs)
				}
			})
		}
	})
}

// The default bound is a handful of runs, not forever.
func TestRetryGivesUpByDefault(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	max := db.MaxAttempts()
	if max < 2 {
		t.Fatalf("by default a transaction runs at most %d times, want retries", max)
	}
	runs := 0
	err := db.Update(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		runs++
		return serializationFailure()
	})
	if !sqldb.IsRetryable(err) || runs != max {
		t.Errorf("err %v after %d runs, want the conflict after %d", err, runs, max)
	}
}

// Any other failure ends the transaction at once, rolled back, with the
// failure as it was.
func TestRetryLeavesOtherErrors(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		notes(t, db)
		if _, err := db.ExecContext(t.Context(), `INSERT INTO notes (id, note) VALUES (1, 'kept')`); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			fail func(ctx context.Context, tx *sql.Tx) error
		}{
			{"error", func(context.Context, *sql.Tx) error { return errors.New("broken") }},
			{"fault", func(context.Context, *sql.Tx) error {
				return fault.Precondition(fault.ReasonFailedPrecondition, "not now")
			}},
			{"unique violation", func(context.Context, *sql.Tx) error { return &pgconn.PgError{Code: "23505"} }},
			{"engine error", func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO notes (id, note) VALUES (1, 'duplicate')`)
				return err
			}},
			{"context", func(context.Context, *sql.Tx) error { return context.DeadlineExceeded }},
		} {
			for name, run := range runners(db) {
				t.Run(name+"/"+tc.name, func(t *testing.T) {
					runs := 0
					var failure error
					err := run(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
						runs++
						if name != "View" || db.Dialect == sqldb.SQLite {
							if _, err := tx.ExecContext(ctx, `INSERT INTO notes (id, note) VALUES (2, 'rolled back')`); err != nil {
								return err
							}
						}
						failure = tc.fail(ctx, tx)
						return failure
					})
					if failure == nil || !errors.Is(err, failure) {
						t.Errorf("err %v, want %v", err, failure)
					}
					if runs != 1 {
						t.Errorf("%d runs, want 1", runs)
					}
					wantNotes(t, db, map[int]string{1: "kept"})
				})
			}
		}
	})
}

// A caller that gives up stops the retries: the transaction ends with the
// context's error, without another run.
func TestRetryStopsWhenTheContextEnds(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		for name, run := range runners(db) {
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				runs := 0
				err := run(ctx, func(ctx context.Context, tx *sql.Tx) error {
					runs++
					cancel()
					return serializationFailure()
				})
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err %v, want context.Canceled", err)
				}
				if runs != 1 {
					t.Errorf("%d runs, want 1", runs)
				}
			})
			t.Run(name+"/ended before", func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				runs := 0
				err := run(ctx, func(ctx context.Context, tx *sql.Tx) error {
					runs++
					return nil
				})
				if !errors.Is(err, context.Canceled) || runs != 0 {
					t.Errorf("err %v after %d runs, want context.Canceled and none", err, runs)
				}
			})
		}
	})
}

// A panic in a transaction rolls it back and gives its connection back to
// the pool (SQLite has only one) before it goes on up.
func TestPanicRollsBack(t *testing.T) {
	for _, d := range sqldbtest.Engines() {
		for _, name := range []string{"Update", "UpdateSnapshot", "View"} {
			t.Run(string(d)+"/"+name, func(t *testing.T) {
				// A database of its own: a leaked connection would block
				// any other use of it.
				db := sqldbtest.Open(t, d)
				notes(t, db)
				got := func() (v any) {
					defer func() { v = recover() }()
					_ = runners(db)[name](context.Background(), func(ctx context.Context, tx *sql.Tx) error {
						if name != "View" || db.Dialect == sqldb.SQLite {
							if _, err := tx.ExecContext(ctx, `INSERT INTO notes (id, note) VALUES (1, 'rolled back')`); err != nil {
								return err
							}
						}
						panic("boom")
					})
					return nil
				}()
				if got != "boom" {
					t.Fatalf("recovered %v, want the panic", got)
				}
				if n := db.Stats().InUse; n != 0 {
					t.Fatalf("%d connections still in use after the panic", n)
				}
				wantNotes(t, db, map[int]string{})
			})
		}
	}
}

// Two PostgreSQL transactions that read and then update the same row: the
// one that updates second fails to serialise, runs again, and then sees
// what the first committed, so that no update is lost.
func TestConcurrentConflictIsRetried(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Update", "UpdateSnapshot"} {
		t.Run(name, func(t *testing.T) {
			run := runners(db)[name]
			if _, err := db.ExecContext(t.Context(), `DELETE FROM counter; INSERT INTO counter VALUES (1, 0)`); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			increment := func(ctx context.Context, tx *sql.Tx, read func(n int)) error {
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
					return err
				}
				read(n)
				_, err := tx.ExecContext(ctx, `UPDATE counter SET n = $1 WHERE id = 1`, n+1)
				return err
			}
			var (
				secondRead        = make(chan struct{})
				firstDone         = make(chan struct{})
				readOnce, runOnce sync.Once
				seen              []int
				secondErr         = make(chan error, 1)
			)
			go func() {
				secondErr <- run(ctx, func(ctx context.Context, tx *sql.Tx) error {
					return increment(ctx, tx, func(n int) {
						seen = append(seen, n)
						readOnce.Do(func() { close(secondRead) })
						runOnce.Do(func() {
							select {
							case <-firstDone:
							case <-ctx.Done():
							}
						})
					})
				})
			}()
			err := run(ctx, func(ctx context.Context, tx *sql.Tx) error {
				return increment(ctx, tx, func(int) {
					select {
					case <-secondRead:
					case <-ctx.Done():
					}
				})
			})
			close(firstDone)
			if err != nil {
				t.Fatalf("first: %v", err)
			}
			if err := <-secondErr; err != nil {
				t.Fatalf("second: %v", err)
			}
			if !slices.Equal(seen, []int{0, 1}) {
				t.Errorf("the second transaction read %v, want 0 and then, run again, 1", seen)
			}
			var n int
			if err := db.QueryRowContext(t.Context(), `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil || n != 2 {
				t.Errorf("counter %d (%v), want 2", n, err)
			}
		})
	}
}

// Each way of running a transaction on PostgreSQL gets the isolation it
// promises.
func TestPostgresIsolation(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	for _, tc := range []struct {
		name      string
		isolation string
		readOnly  string
	}{
		{"Update", "serializable", "off"},
		{"UpdateSnapshot", "repeatable read", "off"},
		{"View", "repeatable read", "on"},
	} {
		var isolation, readOnly string
		err := runners(db)[tc.name](t.Context(), func(ctx context.Context, tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `SHOW transaction_isolation`).Scan(&isolation); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `SHOW transaction_read_only`).Scan(&readOnly)
		})
		if err != nil || isolation != tc.isolation || readOnly != tc.readOnly {
			t.Errorf("%s: isolation %q, read-only %q (%v), want %q, %q", tc.name, isolation, readOnly, err, tc.isolation, tc.readOnly)
		}
	}
}
