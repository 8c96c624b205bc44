package analytics_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/store"
)

// hookedStore calls after once each of its write transactions commits.
type hookedStore struct {
	analytics.Store
	after func()
}

func (s hookedStore) Update(ctx context.Context, fn func(ctx context.Context, tx analytics.Writer) error) error {
	if err := s.Store.Update(ctx, fn); err != nil {
		return err
	}
	s.after()
	return nil
}

// refreshedViews are the views the refresh fills, and an order for their
// rows.
var refreshedViews = []struct{ view, order string }{
	{"kpi_members", "period"},
	{"kpi_cohort_retention", "cohort, months_since"},
	{"kpi_segment_transitions", "period, from_segment, to_segment"},
	{"kpi_tier_transitions", "period, from_tier, to_tier"},
	{"kpi_churn_model", "programme_id"},
	{"kpi_churn_risk_members", "member_key"},
}

// viewsOf reads what BI sees of a programme's refreshed KPIs, in one
// snapshot.
func viewsOf(t *testing.T, db *sqldb.DB, programme string) string {
	t.Helper()
	ctx := context.Background()
	opts := &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	if db.Dialect == sqldb.SQLite {
		opts = nil // a transaction reads one snapshot
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var b strings.Builder
	for _, v := range refreshedViews {
		rows, err := tx.QueryContext(ctx, `SELECT * FROM `+v.view+` WHERE programme_id = $1 ORDER BY `+v.order, programme)
		if err != nil {
			t.Fatalf("%s: %v", v.view, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, x := range vals {
				if bs, ok := x.([]byte); ok {
					x = string(bs)
				}
				fmt.Fprintf(&b, "%v|", x)
			}
			b.WriteByte('\n')
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "-- %s: %d rows\n", v.view, n)
	}
	return b.String()
}

// While a refresh writes its run a chunk at a time, and while it drops
// the run before, BI reads the whole of the previous refresh, then the
// whole of the new one: never a mix, never a half-written run.
func TestRefreshReadersSeeOneRunOrTheNext(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		fillKPIData(t, db, 12_000) // 12,000 risk rows: three chunks
		var seen []string
		s := analytics.New(hookedStore{Store: store.NewAnalytics(db), after: func() { seen = append(seen, viewsOf(t, db, "tiered")) }},
			env.Ledger.Posting, env.Ledger.Status, env.Cfg, analytics.Options{Now: env.Clock.Now})
		ctx := context.Background()
		if _, err := s.RefreshKPIs(ctx, "tiered", time.Time{}); err != nil {
			t.Fatal(err)
		}
		first := viewsOf(t, db, "tiered")
		if !strings.Contains(first, "-- kpi_churn_risk_members: 12000 rows") {
			t.Fatalf("first refresh: %s", first[max(0, len(first)-400):])
		}
		env.Clock.Advance(45 * 24 * time.Hour) // another month, other ages
		seen = nil
		if _, err := s.RefreshKPIs(ctx, "tiered", time.Time{}); err != nil {
			t.Fatal(err)
		}
		second := viewsOf(t, db, "tiered")
		if second == first {
			t.Fatal("the second refresh changed nothing: the test cannot tell them apart")
		}
		var old, fresh int
		for i, v := range seen {
			switch v {
			case first:
				if fresh > 0 {
					t.Errorf("after commit %d BI reads the first refresh again", i+1)
				}
				old++
			case second:
				fresh++
			default:
				t.Errorf("after commit %d of the second refresh BI reads neither refresh:\n%.2000s", i+1, v)
			}
		}
		t.Logf("%d commits read the first refresh, then %d the second", old, fresh)
		// The run id, at least three chunks of risks, the switch, the drops.
		if old < 4 || fresh < 2 {
			t.Errorf("%d commits read the first refresh, %d the second: want the chunks and drops in between", old, fresh)
		}
		var runs int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT run) FROM kpi_run_churn_risk WHERE programme_id = 'tiered'`).Scan(&runs); err != nil {
			t.Fatal(err)
		}
		if runs != 1 {
			t.Errorf("%d runs of risks left, want the current one only", runs)
		}
	})
}
