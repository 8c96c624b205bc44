package sqldbtest

import (
	"slices"
	"testing"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

func TestEngines(t *testing.T) {
	for _, c := range []struct {
		engines, cockroach string
		want               []sqldb.Dialect
	}{
		{"", "", []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres}},
		{"", "cockroachdb://root@db:26257/defaultdb?sslmode=disable", []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres, sqldb.Cockroach}},
		{"sqlite", "cockroachdb://root@db:26257/defaultdb", []sqldb.Dialect{sqldb.SQLite}},
		{"postgres", "", []sqldb.Dialect{sqldb.Postgres}},
		{"cockroach", "cockroachdb://root@db:26257/defaultdb", []sqldb.Dialect{sqldb.Cockroach}},
		{"sqlite, cockroachdb", "", []sqldb.Dialect{sqldb.SQLite, sqldb.Cockroach}},
		{"sqlite,postgres", "", []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres}},
	} {
		t.Setenv("FIDELIS_TEST_ENGINES", c.engines)
		t.Setenv("FIDELIS_TEST_COCKROACH", c.cockroach)
		if got := Engines(); !slices.Equal(got, c.want) {
			t.Errorf("ENGINES=%q COCKROACH=%q: Engines() = %v, want %v", c.engines, c.cockroach, got, c.want)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"cockroachdb://root@db:26257/defaultdb?sslmode=disable", "cockroachdb://root@db:26257/t_1?sslmode=disable"},
		{"cockroachdb://root@db:26257?sslmode=disable", "cockroachdb://root@db:26257/t_1?sslmode=disable"},
		{"cockroach://u:pw@db:26257/app?sslmode=verify-full&sslrootcert=/ca.crt", "cockroach://u:pw@db:26257/t_1?sslmode=verify-full&sslrootcert=/ca.crt"},
	} {
		got, err := withDatabase(c.dsn, "t_1")
		if err != nil || got != c.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", c.dsn, got, err, c.want)
		}
	}
	for _, dsn := range []string{"postgres://root@db:26257/defaultdb", "sqlite:x.db", "://"} {
		if got, err := withDatabase(dsn, "t_1"); err == nil {
			t.Errorf("withDatabase(%q) = %q, want an error", dsn, got)
		}
	}
}
