package store_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app/apptest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/store"
)

// TestContract runs the app.Store contract on every engine. Its subtests
// each need an empty store: the first gets the engine's database, the
// others fresh ones of the same engine, migrated.
func TestContract(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, first *sqldb.DB) {
		dialect := first.Dialect
		apptest.Contract(t, func(t *testing.T) app.Store {
			db := first
			if first = nil; db == nil {
				db = sqldbtest.Open(t, dialect)
			}
			if err := store.Migrate(context.Background(), db, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			return store.New(db)
		})
	})
}
