package analytics_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// BenchmarkRefreshKPIs measures the KPI refresh (monthly member figures,
// cohorts, transition matrices, churn model fit and per-member risk) over
// synthetic members with ten purchases each, written straight into the
// tables the refresh reads. FIDELIS_BENCH_KPI_MEMBERS sets the members
// (default 100,000, i.e. 1M purchase events):
//
//	FIDELIS_BENCH_KPI_MEMBERS=1000000 FIDELIS_TEST_ENGINES=postgres \
//	  go test -run '^$' -bench RefreshKPIs -benchtime 1x -timeout 1h ./services/ledger/app/
func BenchmarkRefreshKPIs(b *testing.B) {
	members := 100_000
	if v := os.Getenv("FIDELIS_BENCH_KPI_MEMBERS"); v != "" {
		var err error
		if members, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	for _, d := range sqldbtest.Engines() {
		b.Run(string(d), func(b *testing.B) {
			db := sqldbtest.Open(b, d)
			env := ledgertest.Start(b, db, ledgertest.Options{})
			started := time.Now()
			fillKPIData(b, db, members)
			b.Logf("%d members, %d purchases and %d transitions written in %s", members, 10*members, members, time.Since(started))
			b.ResetTimer()
			for range b.N {
				r, err := env.Ledger.Analytics.RefreshKPIs(context.Background(), "tiered", time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.Duration.Seconds(), "s/refresh")
				b.ReportMetric(float64(r.Members), "members")
			}
		})
	}
}

// fillKPIData writes n members enrolled over 2024-2025 with ten purchases
// each and one segment transition, into ledger_members, member_purchases
// and member_transitions, and analyzes the tables.
func fillKPIData(b *testing.B, db *sqldb.DB, n int) {
	b.Helper()
	ctx := context.Background()
	const day = int64(86400_000_000)
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	seq := fmt.Sprintf("generate_series(CAST(1 AS BIGINT), %d)", n)
	id := "'m' || lpad(CAST(g AS TEXT), 9, '0')"
	series := "SELECT g FROM " + seq + " AS s(g)"
	if db.Dialect == sqldb.SQLite {
		seq = fmt.Sprintf("(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < %d) SELECT g FROM s)", n)
		id = "printf('m%09d', g)"
		series = seq
	}
	enrolled := fmt.Sprintf("(%d + (g * 7919 %% 730) * %d)", start, day)
	stmts := []string{
		`INSERT INTO ledger_members (member_id, programme_id, external_ref, birth_date, partner_consent, enrolled_at, available,
			pending, held, debt, lifetime_earned, lifetime_burned, seq, next_due_at, updated_at)
		SELECT ` + id + `, 'tiered', ` + id + `, '', FALSE, ` + enrolled + `, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM (` + series + `) AS m`,
		`INSERT INTO member_purchases (member_id, entry_id, programme_id, occurred_at, qualifies_at, recorded_at, spend_micros,
			status_points, points, is_return)
		SELECT ` + id + `, ` + id + ` || '-' || CAST(k AS TEXT), 'tiered', t, t, t, 25000000, 25, 25, FALSE FROM (
			SELECT g, k, ` + enrolled + ` + ((g * 104729 + k * 7) % 60) * k * ` + strconv.FormatInt(day, 10) + ` AS t
			FROM (` + series + `) AS m CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
				UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) AS ks
		) AS p`,
		`INSERT INTO member_transitions (transition_id, member_id, programme_id, kind, from_state, to_state, at, cause)
		SELECT 'segment:' || ` + id + `, ` + id + `, 'tiered', 'segment', '', CASE WHEN g % 3 = 0 THEN 'loyal' ELSE 'lost' END,
			` + enrolled + ` + 90 * ` + strconv.FormatInt(day, 10) + `, 'bench' FROM (` + series + `) AS m`,
	}
	// Statistics, as autovacuum would gather them after a bulk load: without
	// them PostgreSQL plans each page of members as a scan of all of them.
	stmts = append(stmts, "ANALYZE")
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatalf("fill: %v\n%s", err, q)
		}
	}
}
