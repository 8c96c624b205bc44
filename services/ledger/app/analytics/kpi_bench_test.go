package analytics_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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
//	  go test -run '^$' -bench RefreshKPIs -benchtime 1x -timeout 1h ./services/ledger/app/analytics/
//
// It reports the refresh's peak resident set (VmHWM, reset after the data
// load) and the largest Go heap in use sampled every 50 ms.
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
				before := resetPeakRSS(b)
				peak := watchHeap()
				r, err := env.Ledger.Analytics.RefreshKPIs(context.Background(), "tiered", time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				heap := peak()
				b.ReportMetric(r.Duration.Seconds(), "s/refresh")
				b.ReportMetric(float64(r.Members), "members")
				b.ReportMetric(float64(before)/(1<<20), "MiB-rss-before")
				b.ReportMetric(float64(peakRSS(b))/(1<<20), "MiB-peak-rss")
				b.ReportMetric(float64(heap)/(1<<20), "MiB-peak-heap")
			}
		})
	}
}

// resetPeakRSS frees what the data load left and resets the process's
// peak resident set (VmHWM, Linux), so that peakRSS measures the refresh;
// it returns the resident set after the reset (VmRSS).
func resetPeakRSS(b *testing.B) int64 {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v): it includes the data load", err)
	}
	return procStatus(b, "VmRSS:")
}

// peakRSS is the process's peak resident set since resetPeakRSS (VmHWM).
func peakRSS(b *testing.B) int64 { return procStatus(b, "VmHWM:") }

// procStatus reads a size in kB from /proc/self/status, in bytes.
func procStatus(b *testing.B, field string) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Logf("no /proc/self/status: %v", err)
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("%s %q: %v", field, rest, err)
			}
			return kb << 10
		}
	}
	return 0
}

// watchHeap samples the Go heap in use every 50 ms until the function it
// returns is called, which returns the largest sample.
func watchHeap() func() uint64 {
	done, result := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		var m runtime.MemStats
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-done:
				result <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-result }
}

// fillKPIData writes n members enrolled over 2024-2025 with ten purchases
// each and one segment transition, into ledger_members, member_purchases
// and member_transitions, and analyzes the tables.
func fillKPIData(b testing.TB, db *sqldb.DB, n int) {
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
