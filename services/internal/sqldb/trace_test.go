package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// Under a recording span, each statement, BEGIN and COMMIT runs in a child
// span with the statement's text and none of its arguments; a script sent
// with its arguments inlined carries no text; a failure carries the
// engine's code and not its message; without a span there are none.
func TestStatementSpans(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, base *sqldb.DB) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		db, err := sqldb.Open(t.Context(), base.DSN, sqldb.Options{MaxConns: 4, Tracer: tp})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		notes(t, db)
		if n := len(exp.GetSpans()); n != 0 {
			t.Fatalf("%d spans without a parent span, want none", n)
		}

		const secret = "personal note 7f3a"
		const insert = `INSERT INTO notes (id, note) VALUES ($1, $2)`
		ctx, parent := tp.Tracer("test").Start(t.Context(), "parent")
		err = db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, insert, 1, secret); err != nil {
				return err
			}
			if err := db.ExecScript(ctx, tx, []sqldb.Stmt{{SQL: insert, Args: []any{2, secret}}, {SQL: insert, Args: []any{3, secret}}}); err != nil {
				return err
			}
			var n int
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM notes WHERE note = $1`, secret).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, insert, 1, secret); !sqldb.IsUniqueViolation(err) {
			t.Fatalf("inserting a taken id: %v, want a unique violation", err)
		}
		parent.End()

		names := map[string]int{}
		for _, s := range exp.GetSpans() {
			if s.Name == "parent" {
				continue
			}
			names[s.Name]++
			if s.Parent.SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span %q is not a child of the span its context had", s.Name)
			}
			attrs := map[string]string{}
			for _, a := range s.Attributes {
				attrs[string(a.Key)] = a.Value.String()
			}
			if dump := fmt.Sprint(s.Attributes, s.Events, s.Status); strings.Contains(dump, secret) || strings.Contains(dump, "7f3a") {
				t.Errorf("span %q carries an argument: %s", s.Name, dump)
			}
			text, hasText := attrs["db.query.text"]
			switch s.Name {
			case "INSERT":
				if text != insert {
					t.Errorf("INSERT span text %q, want %q", text, insert)
				}
			case "SELECT":
				if !strings.HasPrefix(text, "SELECT count(*)") {
					t.Errorf("SELECT span text %q", text)
				}
			default:
				if hasText {
					t.Errorf("%s span carries text %q", s.Name, text)
				}
			}
			if attrs["db.operation.name"] != s.Name {
				t.Errorf("span %q: db.operation.name %q", s.Name, attrs["db.operation.name"])
			}
			if s.Status.Code == codes.Error && attrs["db.response.status_code"] == "" {
				t.Errorf("failed span %q has no error code", s.Name)
			}
		}
		// SQLite runs a script statement by statement; PostgreSQL sends it
		// at once, in the simple protocol.
		want := map[string]int{"BEGIN": 1, "INSERT": 4, "SELECT": 1, "COMMIT": 1}
		if db.Dialect != sqldb.SQLite {
			want = map[string]int{"BEGIN": 1, "INSERT": 2, "script": 1, "SELECT": 1, "COMMIT": 1}
		}
		if fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("spans %v, want %v", names, want)
		}
		var failed int
		for _, s := range exp.GetSpans() {
			if s.Status.Code == codes.Error {
				failed++
			}
		}
		if failed != 1 {
			t.Errorf("%d failed spans, want 1 (the taken id)", failed)
		}
	})
}

// BenchmarkStatementTracing is one INSERT on SQLite: untraced, traced with
// no span in its context (export off, or background work), and traced
// under a recording span.
func BenchmarkStatementTracing(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	for _, c := range []struct {
		name   string
		tracer bool
		span   bool
	}{{"untraced", false, false}, {"traced-no-span", true, false}, {"traced-in-span", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			o := sqldb.Options{}
			if c.tracer {
				o.Tracer = tp
			}
			db, err := sqldb.Open(b.Context(), "sqlite::memory:", o)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(b.Context(), `CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			if c.span {
				var span trace.Span
				ctx, span = tp.Tracer("bench").Start(ctx, "parent")
				defer span.End()
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := db.ExecContext(ctx, `INSERT INTO notes (id, note) VALUES ($1, $2)`, i, "x"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
