// Package sqldbtest gives tests a fresh database on every engine they run
// against: a temporary SQLite file always, PostgreSQL (a private schema per
// test) when it is reachable, and CockroachDB (a private database per test)
// when FIDELIS_TEST_COCKROACH names a cluster. With CI=true an unreachable
// PostgreSQL fails the test instead of skipping it; a named CockroachDB
// that cannot be reached always fails it.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

// DefaultPostgres is where tests look for PostgreSQL unless
// FIDELIS_TEST_POSTGRES says otherwise.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Engines are the engines a test runs on: FIDELIS_TEST_ENGINES, a
// comma-separated list of sqlite, postgres and cockroach; by default
// SQLite and PostgreSQL, and CockroachDB too when FIDELIS_TEST_COCKROACH
// names a cluster (cockroachdb://user@host:26257/db?sslmode=disable).
func Engines() []sqldb.Dialect {
	env := os.Getenv("FIDELIS_TEST_ENGINES")
	if strings.TrimSpace(env) == "" {
		ds := []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres}
		if os.Getenv("FIDELIS_TEST_COCKROACH") != "" {
			ds = append(ds, sqldb.Cockroach)
		}
		return ds
	}
	var ds []sqldb.Dialect
	for _, name := range strings.Split(env, ",") {
		d := sqldb.Dialect(strings.ToLower(strings.TrimSpace(name)))
		switch d {
		case "":
			continue
		case "cockroach":
			d = sqldb.Cockroach
		}
		ds = append(ds, d) // Open fails a test on an engine it does not know
	}
	return ds
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
	case sqldb.Cockroach:
		return openCockroach(ctx, t)
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

// openCockroach creates a database of its own for the test on the cluster
// FIDELIS_TEST_COCKROACH names, and drops it at the end. The DSN must say
// cockroachdb:// (or cockroach://): that scheme is what makes sqldb run
// CockroachDB's transactions and render its migrations.
func openCockroach(ctx context.Context, t testing.TB) *sqldb.DB {
	base := os.Getenv("FIDELIS_TEST_COCKROACH")
	if base == "" {
		t.Fatalf("CockroachDB was asked for (FIDELIS_TEST_ENGINES) but FIDELIS_TEST_COCKROACH names no cluster")
	}
	if _, err := withDatabase(base, "x"); err != nil {
		t.Fatalf("FIDELIS_TEST_COCKROACH: %v", err)
	}
	admin, err := sqldb.Open(ctx, base, sqldb.Options{MaxConns: 2})
	if err != nil {
		t.Fatalf("CockroachDB (FIDELIS_TEST_COCKROACH) unreachable: %v", err)
	}
	defer admin.Close()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "t_" + hex.EncodeToString(rnd[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { // after the pool's Close below: cleanups run last first
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sqldb.Open(ctx, base, sqldb.Options{MaxConns: 1})
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE %s CASCADE", name)); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	dsn, _ := withDatabase(base, name)
	db, err := sqldb.Open(ctx, dsn, sqldb.Options{MaxConns: 16})
	if err != nil {
		t.Fatalf("open cockroachdb database %s: %v", name, err)
	}
	t.Cleanup(func() { db.Close() })
	if db.Dialect != sqldb.Cockroach {
		t.Fatalf("%s opened as %s, not %s", name, db.Dialect, sqldb.Cockroach)
	}
	return db
}

// withDatabase is a CockroachDB DSN with its database replaced. It keeps
// the cockroachdb:// scheme, which is what makes sqldb.Open run
// CockroachDB's transactions and render its migrations, and every other
// part (user, host, sslmode and the other parameters).
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("want cockroachdb://user@host:26257/db?sslmode=disable: %w", err)
	}
	if u.Scheme != "cockroachdb" && u.Scheme != "cockroach" {
		return "", fmt.Errorf("want cockroachdb://user@host:26257/db?sslmode=disable, have scheme %q", u.Scheme)
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
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
