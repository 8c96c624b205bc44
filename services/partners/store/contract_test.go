package store_test

import (
	"context"
	"log/slog"
	"testing"

	accessstore "github.com/fidelis-loyalty/fidelis/services/access/store"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/partners/app"
	"github.com/fidelis-loyalty/fidelis/services/partners/app/apptest"
	"github.com/fidelis-loyalty/fidelis/services/partners/store"
)

// TestContract runs the app.Store contract on every engine. Its subtests
// each need an empty store: the first gets the engine's database, the
// others fresh ones of the same engine, migrated (the access service's
// schema first: the partners' migrations move their keys there).
func TestContract(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, first *sqldb.DB) {
		dialect := first.Dialect
		apptest.Contract(t, func(t *testing.T) app.Store {
			db := first
			if first = nil; db == nil {
				db = sqldbtest.Open(t, dialect)
			}
			log := slog.New(slog.DiscardHandler)
			if err := accessstore.Migrate(context.Background(), db, log); err != nil {
				t.Fatal(err)
			}
			if err := store.Migrate(context.Background(), db, log); err != nil {
				t.Fatal(err)
			}
			return store.New(db)
		})
	})
}
