package sqldb_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

var migrations = fstest.MapFS{
	"db/00001_accounts.sql": {Data: []byte(`-- +goose Up
CREATE TABLE accounts (
	id INTEGER PRIMARY KEY,
	balance {{.Decimal}} NOT NULL,
	secret {{.Bytes}} NOT NULL,
	opened_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE accounts;
`)},
	"db/00002_months.sql": {Data: []byte(`-- +goose Up
CREATE VIEW account_months AS SELECT id, {{.Month "opened_at"}} AS month FROM accounts;
{{if .SQLite}}CREATE TABLE engine (name TEXT); INSERT INTO engine VALUES ('sqlite');{{end}}
{{if .Postgres}}CREATE TABLE engine (name TEXT); INSERT INTO engine VALUES ('postgres');{{end}}

-- +goose Down
DROP VIEW account_months;
`)},
	"db/README.md": {Data: []byte("{{.NotAField}} is no migration")},
}

// Migrations are templates that give each engine its own types, and apply
// once: a second run finds nothing to do.
func TestMigrate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		var log bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&log, nil))
		if err := db.Migrate(t.Context(), migrations, "db", "accounts_versions", logger); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(log.String(), "migration applied"); n != 2 {
			t.Errorf("%d migrations logged, want 2:\n%s", n, log.String())
		}

		opened := time.Date(2024, 3, 31, 23, 59, 59, 0, time.UTC).UnixMicro()
		if _, err := db.ExecContext(t.Context(), `INSERT INTO accounts (id, balance, secret, opened_at) VALUES (1, $1, $2, $3)`,
			"12.50", []byte{0, 1, 0xff}, opened); err != nil {
			t.Fatal(err)
		}
		var (
			balance, month, engine string
			secret                 []byte
		)
		if err := db.QueryRowContext(t.Context(), `SELECT balance, secret, month, (SELECT name FROM engine)
			FROM accounts JOIN account_months USING (id)`).Scan(&balance, &secret, &month, &engine); err != nil {
			t.Fatal(err)
		}
		if balance != "12.50" || !bytes.Equal(secret, []byte{0, 1, 0xff}) || month != "2024-03" || engine != string(db.Dialect) {
			t.Errorf("read %q %x %q %q, want 12.50 0001ff 2024-03 %s", balance, secret, month, engine, db.Dialect)
		}

		log.Reset()
		if err := db.Migrate(t.Context(), migrations, "db", "accounts_versions", logger); err != nil {
			t.Fatalf("again: %v", err)
		}
		if strings.Contains(log.String(), "migration applied") {
			t.Errorf("the second run applied migrations again:\n%s", log.String())
		}
		var version int
		if err := db.QueryRowContext(t.Context(), `SELECT MAX(version_id) FROM accounts_versions`).Scan(&version); err != nil || version != 2 {
			t.Errorf("version %d (%v), want 2", version, err)
		}
	})
}

// A template that does not render fails the migration before anything is
// applied, naming the file.
func TestMigrateBadTemplate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		bad := fstest.MapFS{
			"db/00001_ok.sql":  {Data: []byte("-- +goose Up\nCREATE TABLE ok (id INTEGER);\n")},
			"db/00002_bad.sql": {Data: []byte("-- +goose Up\nCREATE TABLE bad (id {{.Integer}});\n")},
		}
		err := db.Migrate(t.Context(), bad, "db", "bad_versions", slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "00002_bad.sql") {
			t.Fatalf("err %v, want one naming 00002_bad.sql", err)
		}
		if _, err := db.ExecContext(t.Context(), `SELECT COUNT(*) FROM ok`); err == nil {
			t.Error("the good migration was applied")
		}
	})
}

// Migrators starting together take turns under CockroachDB's migration
// lock (a leased row, tried here on PostgreSQL, whose SQL it shares): each
// migration runs once, though each is slow enough that, without the lock,
// they would all run it at once and fail or insert twice.
func TestMigrationTableLock(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	slow := fstest.MapFS{
		"db/00001_slow.sql": {Data: []byte(`-- +goose Up
CREATE TABLE runs (n INTEGER);
SELECT pg_sleep(0.3);
-- +goose Down
DROP TABLE runs;
`)},
		"db/00002_once.sql": {Data: []byte(`-- +goose Up
INSERT INTO runs VALUES (1);
-- +goose Down
DELETE FROM runs;
`)},
	}
	const migrators = 4
	errs := make(chan error, migrators)
	for range migrators {
		other, err := sqldb.Open(t.Context(), db.DSN, sqldb.Options{MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		other.UseTableLock()
		go func() { errs <- other.Migrate(t.Context(), slow, "db", "runs_versions", slog.New(slog.DiscardHandler)) }()
	}
	for range migrators {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var runs int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM runs`).Scan(&runs); err != nil || runs != 1 {
		t.Errorf("the second migration ran %d times (%v), want once", runs, err)
	}
	var held bool
	if err := db.QueryRowContext(t.Context(), `SELECT bool_or(locked) FROM `+sqldb.MigrationLockTable).Scan(&held); err != nil || held {
		t.Errorf("the lock is still held (%v) after every migrator finished", err)
	}
}
