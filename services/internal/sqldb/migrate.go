package sqldb

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"testing/fstest"
	"text/template"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// SchemaTypes are the per-dialect spellings a migration template uses, so
// one set of migrations serves all three engines:
//
//	{{.Decimal}}  exact decimal: NUMERIC, TEXT on SQLite (whose NUMERIC
//	              affinity would turn "12.50" into a float)
//	{{.Bytes}}    BYTEA, BLOB on SQLite
//	{{.Month "col"}} the UTC month ("2006-01") of a microsecond timestamp
//	{{if .SQLite}} / {{if .Postgres}} / {{if .Cockroach}} for the rest
type SchemaTypes struct {
	Decimal   string
	Bytes     string
	SQLite    bool
	Postgres  bool
	Cockroach bool
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

func (db *DB) schemaTypes() SchemaTypes {
	t := SchemaTypes{Decimal: "NUMERIC", Bytes: "BYTEA"}
	switch db.Dialect {
	case SQLite:
		t = SchemaTypes{Decimal: "TEXT", Bytes: "BLOB", SQLite: true}
	case Postgres:
		t.Postgres = true
	case Cockroach:
		t.Cockroach = true
	}
	return t
}

// Migrate applies the goose migrations in dir of fsys (templates, see
// SchemaTypes), recording versions in table.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS, dir, table string, log *slog.Logger) error {
	rendered, err := db.render(fsys, dir)
	if err != nil {
		return err
	}
	store, err := database.NewStore(db.gooseDialect(), table)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithStore(store), goose.WithDisableGlobalRegistry(true)}
	if db.Dialect == Postgres {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider("", db.DB, rendered, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
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

func (db *DB) gooseDialect() database.Dialect {
	if db.Dialect == SQLite {
		return database.DialectSQLite3
	}
	return database.DialectPostgres
}

func (db *DB) render(fsys fs.FS, dir string) (fs.FS, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	out := fstest.MapFS{}
	types := db.schemaTypes()
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
