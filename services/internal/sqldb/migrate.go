package sqldb

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"testing/fstest"
	"text/template"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	gooselock "github.com/pressly/goose/v3/lock"
)

// SchemaTypes are the per-dialect spellings a migration template uses, so
// one set of migrations serves all three engines:
//
//	{{.Decimal}}  exact decimal: NUMERIC, TEXT on SQLite (whose NUMERIC
//	              affinity would turn "12.50" into a float)
//	{{.Bytes}}    BYTEA, BLOB on SQLite
//	{{.Month "col"}} the UTC month ("2006-01") of a microsecond timestamp
//	{{.NoTransaction}} "-- +goose NO TRANSACTION" on CockroachDB, nothing
//	              elsewhere: see below
//	{{.AddColumn}} / {{.DropColumn}} ADD COLUMN IF NOT EXISTS / DROP
//	              COLUMN IF EXISTS, without the IF on SQLite, which has
//	              none (and runs these migrations in a transaction)
//	{{if .SQLite}} / {{if .Postgres}} / {{if .Cockroach}} for the rest,
//	              such as CockroachDB's USING HASH
//
// A migration runs in one transaction, except on CockroachDB those that
// say {{.NoTransaction}}: it cannot backfill a column added in the same
// transaction, nor create a name dropped in it. Each statement of such a
// migration then commits on its own, and a migrator that crashed half way
// leaves it half done, to be run again from the start by the next one (see
// the migration lock in provider): so each statement is one that can run
// twice (IF NOT EXISTS, IF EXISTS, a DROP IF EXISTS before the CREATE of
// a view, an UPDATE that sets what it set). services/host's
// TestCockroachSQL checks all of this on the CockroachDB rendering.
type SchemaTypes struct {
	Decimal       string
	Bytes         string
	NoTransaction string
	AddColumn     string
	DropColumn    string
	SQLite        bool
	Postgres      bool
	Cockroach     bool
}

// Month is the SQL for the UTC month, as "YYYY-MM", of col, a timestamp in
// microseconds since the epoch.
func (t SchemaTypes) Month(col string) string {
	switch {
	case t.SQLite:
		return "strftime('%Y-%m', " + col + " / 1000000, 'unixepoch')"
	case t.Cockroach:
		return "experimental_strftime(to_timestamp(" + col + " / 1000000.0), '%Y-%m')"
	default:
		return "to_char(to_timestamp(" + col + " / 1000000.0) AT TIME ZONE 'UTC', 'YYYY-MM')"
	}
}

func schemaTypes(d Dialect) SchemaTypes {
	t := SchemaTypes{Decimal: "NUMERIC", Bytes: "BYTEA", AddColumn: "ADD COLUMN IF NOT EXISTS", DropColumn: "DROP COLUMN IF EXISTS"}
	switch d {
	case SQLite:
		t = SchemaTypes{Decimal: "TEXT", Bytes: "BLOB", AddColumn: "ADD COLUMN", DropColumn: "DROP COLUMN", SQLite: true}
	case Postgres:
		t.Postgres = true
	case Cockroach:
		t.Cockroach = true
		t.NoTransaction = "-- +goose NO TRANSACTION"
	}
	return t
}

// Schema is one module's migrations: the templates in Dir of FS, their
// versions recorded in Table.
type Schema struct {
	FS    fs.FS
	Dir   string
	Table string
}

// Migrate applies the goose migrations in dir of fsys (templates, see
// SchemaTypes), recording versions in table.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS, dir, table string, log *slog.Logger) error {
	p, err := db.provider(Schema{FS: fsys, Dir: dir, Table: table}, true)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "migration applied", slog.String("table", table),
			slog.String("file", r.Source.Path), slog.Duration("took", r.Duration))
	}
	return nil
}

// SchemaVersion reads the version s's table records (an error when the
// table does not exist yet) and the highest migration of s, which this
// build needs. It changes nothing, so a role without DDL rights may call it.
func (db *DB) SchemaVersion(ctx context.Context, s Schema) (current, target int64, err error) {
	p, err := db.provider(s, false)
	if err != nil {
		return -1, -1, err
	}
	sources := p.ListSources()
	if len(sources) == 0 {
		return -1, -1, fmt.Errorf("schema %s: no migrations", s.Table)
	}
	target = sources[len(sources)-1].Version
	// Read the table directly: goose's GetVersions creates it when it is
	// missing, which is DDL (refused to the runtime role, and not ours to
	// do before the migrations). Fails while the table, its grant or the
	// database is not there.
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), -1) FROM `+s.Table).Scan(&current); err != nil {
		return -1, target, fmt.Errorf("schema version %s: %w", s.Table, err)
	}
	return current, target, nil
}

// WaitSchema polls, every `every`, until each schema's table reports at
// least its highest migration: a server started without migrating waits
// for whoever migrates (a Job, another replica) instead of failing on a
// table it does not find. It logs what it waits for, and gives up after
// timeout with the versions it last saw.
func (db *DB) WaitSchema(ctx context.Context, schemas []Schema, timeout, every time.Duration, log *slog.Logger) error {
	if every <= 0 {
		every = time.Second
	}
	deadline := time.Now().Add(timeout)
	var lastLog time.Time
	for {
		var behind []string
		for _, s := range schemas {
			cur, target, err := db.SchemaVersion(ctx, s)
			switch {
			case err != nil && target < 0:
				return err // the migrations themselves are broken
			case err != nil:
				behind = append(behind, fmt.Sprintf("%s: not readable yet (%v); needs version %d", s.Table, err, target))
			case cur < target:
				behind = append(behind, fmt.Sprintf("%s: at version %d, needs %d", s.Table, cur, target))
			}
		}
		if len(behind) == 0 {
			if !lastLog.IsZero() {
				log.InfoContext(ctx, "schema ready")
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("schema not migrated after %s (run fidelis migrate): %s", timeout, strings.Join(behind, "; "))
		}
		if time.Since(lastLog) >= 10*time.Second {
			log.InfoContext(ctx, "waiting for the schema migrations (run by fidelis migrate)",
				slog.String("behind", strings.Join(behind, "; ")), slog.Duration("timeout", timeout))
			lastLog = time.Now()
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// MigrationLockTable is the table of the migration lock on CockroachDB
// (see provider).
const MigrationLockTable = "fidelis_migration_lock"

// provider is a goose provider of s; lock makes it take the migration lock
// while it migrates, so that replicas and the migrate Job starting together
// migrate one at a time: on PostgreSQL a session advisory lock; on
// CockroachDB, which has no advisory locks, goose's table lock, a row in
// MigrationLockTable leased for 30 s and renewed every 5 s while the
// migrations run, which another migrator takes over once a crashed
// holder's lease runs out (the NO TRANSACTION migrations it may have left
// half done are written to run again, see SchemaTypes). Every schema takes
// the same lock: migrating is rare, and one at a time is simplest. SQLite
// serialises writers anyway (and LockServer keeps a second server off a
// file).
func (db *DB) provider(s Schema, lock bool) (*goose.Provider, error) {
	rendered, err := s.Render(db.Dialect)
	if err != nil {
		return nil, err
	}
	store, err := database.NewStore(db.gooseDialect(), s.Table)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithStore(store), goose.WithDisableGlobalRegistry(true)}
	switch {
	case !lock:
	case db.Dialect == Cockroach || db.tableLock:
		// Polled every second for up to 5 minutes, as long as the pods'
		// --schema-wait.
		locker, err := gooselock.NewPostgresTableLocker(gooselock.WithTableName(MigrationLockTable),
			gooselock.WithTableLockTimeout(time.Second, 300))
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithLocker(locker))
	case db.Dialect == Postgres:
		locker, err := gooselock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider("", db.DB, rendered, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return p, nil
}

func (db *DB) gooseDialect() database.Dialect {
	if db.Dialect == SQLite {
		return database.DialectSQLite3
	}
	return database.DialectPostgres
}

// Render is s's migrations as engine d runs them: each template executed
// with d's SchemaTypes, by file name.
func (s Schema) Render(d Dialect) (fs.FS, error) {
	fsys := s.FS
	names, err := fs.Glob(fsys, path.Join(s.Dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	out := fstest.MapFS{}
	types := schemaTypes(d)
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		t, err := template.New(name).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("migrate: template %s: %w", name, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, types); err != nil {
			return nil, fmt.Errorf("migrate: template %s: %w", name, err)
		}
		out[path.Base(name)] = &fstest.MapFile{Data: b.Bytes(), Mode: 0o444}
	}
	return out, nil
}
