package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// notes creates the table the script tests write to.
func notes(t *testing.T, db *sqldb.DB) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

// readNotes is every row of notes.
func readNotes(t *testing.T, db *sqldb.DB) map[int]string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT id, note FROM notes`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]string{}
	for rows.Next() {
		var (
			id   int
			note string
		)
		if err := rows.Scan(&id, &note); err != nil {
			t.Fatal(err)
		}
		got[id] = note
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func script(ctx context.Context, db *sqldb.DB, stmts []sqldb.Stmt) error {
	return db.Update(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return db.ExecScript(ctx, tx, stmts)
	})
}

func wantNotes(t *testing.T, db *sqldb.DB, want map[int]string) {
	t.Helper()
	got := readNotes(t, db)
	if !maps.Equal(got, want) {
		for _, id := range slices.Sorted(maps.Keys(want)) {
			if got[id] != want[id] {
				t.Errorf("note %d = %q, want %q", id, got[id], want[id])
			}
		}
		t.Fatalf("notes %v, want %v", got, want)
	}
}

// Each statement of a script numbers its own placeholders from $1, and
// binds its own arguments, whatever quotes and comments it holds.
func TestExecScriptBindsEachStatementsArguments(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		notes(t, db)
		err := script(t.Context(), db, []sqldb.Stmt{
			{SQL: `INSERT INTO notes (id, note) VALUES ($1, $2)`, Args: []any{1, "first"}},
			{SQL: `INSERT INTO notes (id, note) VALUES ($2, $1)`, Args: []any{"second", 2}},
			{SQL: `INSERT INTO notes (id, note) VALUES ($1, '$1 and $2 and ? stay')`, Args: []any{3}},
			{SQL: "-- it's the fourth: $1\nINSERT INTO notes (id, note) VALUES ($1, $2)", Args: []any{4, "fourth"}},
			{SQL: `/* it's the fifth, $2 */ INSERT INTO notes (id, note) VALUES ($1, $2)`, Args: []any{5, "fifth"}},
			{SQL: `INSERT INTO notes (id, note) VALUES ($1, 'it''s ' || $2)`, Args: []any{6, "sixth"}},
			{SQL: `INSERT INTO notes (id, note) VALUES ($1, $2) -- a comment to the end: don't`, Args: []any{7, "seventh"}},
			{SQL: `DELETE FROM notes WHERE id = 99`},
			{SQL: `INSERT INTO notes (id, note) VALUES ($1, $2)`, Args: []any{8, "it's $1; -- not SQL"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		wantNotes(t, db, map[int]string{
			1: "first", 2: "second", 3: "$1 and $2 and ? stay", 4: "fourth", 5: "fifth",
			6: "it's sixth", 7: "seventh", 8: "it's $1; -- not SQL",
		})
	})
}

// PostgreSQL's own quoting in a script: a function body's $1 is the
// function's argument, and an E'...' string takes backslash escapes.
func TestExecScriptLeavesDollarQuotesAlone(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	notes(t, db)
	err := script(t.Context(), db, []sqldb.Stmt{
		{SQL: `INSERT INTO notes (id, note) VALUES ($1, $2)`, Args: []any{1, "first"}},
		{SQL: `CREATE FUNCTION plus_one(n integer) RETURNS integer LANGUAGE sql AS $$ SELECT $1 + 1 $$`},
		{SQL: `CREATE FUNCTION greet(who text) RETURNS text LANGUAGE plpgsql AS $fn$
			BEGIN
				RETURN 'it''s ' || who || ' ($1, $$)'; -- don't
			END
			$fn$`},
		{SQL: `INSERT INTO notes (id, note) VALUES (plus_one($1), greet($2))`, Args: []any{1, "bob"}},
		{SQL: `INSERT INTO notes (id, note) VALUES ($1, E'it\'s $1 \\ ' || $2)`, Args: []any{3, "three"}},
		{SQL: `INSERT INTO notes (id, note) VALUES ($1, $q$it's $1$q$ || $2)`, Args: []any{4, "four"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantNotes(t, db, map[int]string{1: "first", 2: "it's bob ($1, $$)", 3: `it's $1 \ three`, 4: "it's $1four"})
}

// A script longer than one round trip takes goes in several, each binding
// the arguments of its own statements.
func TestExecScriptSpansRoundTrips(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		notes(t, db)
		pad := strings.Repeat("x", 4000)
		const n = 1200 // about 4.8 MiB of SQL, over the 4 MiB of a round trip
		stmts := make([]sqldb.Stmt, n)
		want := map[int]string{}
		for i := range stmts {
			stmts[i] = sqldb.Stmt{SQL: `INSERT INTO notes (id, note) VALUES ($1, $2 || '` + pad + `')`, Args: []any{i, fmt.Sprint("note ", i)}}
			want[i] = fmt.Sprint("note ", i) + pad
		}
		if err := script(t.Context(), db, stmts); err != nil {
			t.Fatal(err)
		}
		wantNotes(t, db, want)
	})
}

// A failing statement fails the script with the engine's error, which a
// caller can still classify.
func TestExecScriptWrapsTheEnginesError(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		notes(t, db)
		err := script(t.Context(), db, []sqldb.Stmt{
			{SQL: `INSERT INTO notes (id, note) VALUES ($1, $2)`, Args: []any{1, "first"}},
			{SQL: `INSERT INTO notes (id, note) VALUES ($1, $2)`, Args: []any{1, "again"}},
		})
		if !sqldb.IsUniqueViolation(err) {
			t.Fatalf("err %v, want a unique violation", err)
		}
		wantNotes(t, db, map[int]string{})
	})
}

// An empty script does nothing, not even look at the transaction.
func TestExecScriptEmpty(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		if err := db.ExecScript(t.Context(), nil, nil); err != nil {
			t.Fatal(err)
		}
	})
}
