// Package sqldbtest gives tests a fresh database on every engine they run
// against: a temporary SQLite file always, and PostgreSQL (a private schema
// per test) when it is reachable. With CI=true an unreachable PostgreSQL
// fails the test instead of skipping it.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

// DefaultPostgres is where tests look for PostgreSQL unless
// FIDELIS_TEST_POSTGRES says otherwise.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Engines are the engines a test runs on: FIDELIS_TEST_ENGINES
// ("sqlite,postgres" by default).
func Engines() []sqldb.Dialect {
	switch os.Getenv("FIDELIS_TEST_ENGINES") {
	case "sqlite":
		return []sqldb.Dialect{sqldb.SQLite}
	case "postgres":
		return []sqldb.Dialect{sqldb.Postgres}
	default:
		return []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres}
	}
}

// Each runs f as a subtest on a fresh, empty database of every engine.
func Each(t *testing.T, f func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	for _, d := range Engines() {
		t.Run(string(d), func(t *testing.T) {
			f(t, Open(t, d))
		})
	}
}

// Open returns a fresh, empty database of one engine, dropped at the end of
// the test.
func Open(t testing.TB, d sqldb.Dialect) *sqldb.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch d {
	case sqldb.SQLite:
		db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "test.db"), sqldb.Options{})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	case sqldb.Postgres:
		return openPostgres(ctx, t)
	}
	t.Fatalf("no test database for %s", d)
	return nil
}

func openPostgres(ctx context.Context, t testing.TB) *sqldb.DB {
	base := os.Getenv("FIDELIS_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	admin, err := sqldb.Open(ctx, base, sqldb.Options{MaxConns: 2})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI and unreachable at %s: %v", base, err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set CI=true to make this a failure", err)
	}
	defer admin.Close()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "t_" + hex.EncodeToString(rnd[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sqldb.Open(ctx, u.String(), sqldb.Options{MaxConns: 16})
	if err != nil {
		t.Fatalf("open postgres schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sqldb.Open(ctx, base, sqldb.Options{MaxConns: 1})
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf("DROP SCHEMA %s CASCADE", schema)); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return db
}

// Reopen opens a second pool on the same database, as a second replica of
// a service would.
func Reopen(t testing.TB, db *sqldb.DB) *sqldb.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db2, err := sqldb.Open(ctx, db.DSN, sqldb.Options{MaxConns: 16})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { db2.Close() })
	return db2
}
