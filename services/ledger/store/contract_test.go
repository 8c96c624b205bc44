package store

import (
	"context"
	"log/slog"
	"testing"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics/analyticstest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting/postingtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/status/statustest"
)

// contract runs a store contract on every engine. Its subtests each need
// an empty store: the first gets the engine's database, the others fresh
// ones of the same engine, migrated.
func contract[S any](t *testing.T, run func(t *testing.T, open func(t *testing.T) S), wrap func(db *sqldb.DB) S) {
	sqldbtest.Each(t, func(t *testing.T, first *sqldb.DB) {
		dialect := first.Dialect
		run(t, func(t *testing.T) S {
			db := first
			if first = nil; db == nil {
				db = sqldbtest.Open(t, dialect)
			}
			if err := Migrate(context.Background(), db, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			return wrap(db)
		})
	})
}

func TestPostingContract(t *testing.T) {
	contract(t, postingtest.Contract, func(db *sqldb.DB) posting.Store { return NewPosting(db) })
}

func TestStatusContract(t *testing.T) {
	contract(t, statustest.Contract, func(db *sqldb.DB) statustest.Stores {
		return statustest.Stores{Status: NewStatus(db), Posting: NewPosting(db)}
	})
}

func TestAnalyticsContract(t *testing.T) {
	contract(t, analyticstest.Contract, func(db *sqldb.DB) analyticstest.Stores {
		return analyticstest.Stores{Analytics: NewAnalytics(db), Posting: NewPosting(db), Status: NewStatus(db)}
	})
}
