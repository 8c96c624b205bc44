package grpcapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

func date(s string) time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return t
}

func enrolAt(t *testing.T, env *ledgertest.Env, at time.Time) string {
	t.Helper()
	r, err := env.Client.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "tiered",
		ExternalRef: key(), EnrolledAt: timestamppb.New(at)})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetMember().GetMemberId()
}

func buyAt(t *testing.T, env *ledgertest.Env, m, amount string, at time.Time) {
	t.Helper()
	if _, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
		Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: amount, CurrencyCode: "EUR"}}, OccurredAt: timestamppb.New(at)}); err != nil {
		t.Fatal(err)
	}
}

// The KPIs, live (GetKpis) and refreshed into the kpi_* views BI reads, on
// a small history whose figures are known: two members enrol in January; A
// buys twice in January and once in February, B once in January; with a
// 30-day threshold B has churned by the end of February.
func TestKPIs(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		a, b := enrolAt(t, env, date("2026-01-05")), enrolAt(t, env, date("2026-01-10"))
		buyAt(t, env, a, "100", date("2026-01-05"))
		buyAt(t, env, a, "50", date("2026-01-20"))
		buyAt(t, env, b, "40", date("2026-01-10"))
		buyAt(t, env, a, "30", date("2026-02-10"))
		if _, err := burn(t, env, a, 20); err != nil { // in March (the clock's now)
			t.Fatal(err)
		}
		if _, err := recomputeSegments(t, env, &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "tiered"}); err != nil {
			t.Fatal(err)
		}

		k, err := env.Kpi.GetKpis(ctx(t), &ledgerv1.GetKpisRequest{ProgrammeId: "tiered",
			PeriodStart: timestamppb.New(date("2026-02-01")), PeriodEnd: timestamppb.New(date("2026-03-01"))})
		if err != nil {
			t.Fatal(err)
		}
		m := k.GetMembers()
		if m.GetActiveStart() != 2 || m.GetActiveEnd() != 1 || m.GetChurned() != 1 || m.GetChurnRate() != "0.5" ||
			m.GetRetentionRate() != "0.5" || m.GetPurchasers() != 1 || m.GetNewMembers() != 0 {
			t.Fatalf("February members %v", m)
		}
		if p := k.GetPointsTotal(); p.GetIssued() != 30 || p.GetBurned() != 0 {
			t.Fatalf("February points %v", p)
		}
		if k.GetOutstandingPoints() != 200 || k.GetOutstandingValue().GetAmount() != "2.00" || k.GetOutstandingValue().GetCurrencyCode() != "EUR" {
			t.Fatalf("liability %d %s %s", k.GetOutstandingPoints(), k.GetOutstandingValue().GetAmount(), k.GetOutstandingValue().GetCurrencyCode())
		}
		if k.GetTiers()["blue"] != 2 || len(k.GetSegmentMoves()) != 0 {
			t.Fatalf("distributions %v, moves in February %v (segments came in March)", k.GetTiers(), k.GetSegmentMoves())
		}
		march, err := env.Kpi.GetKpis(ctx(t), &ledgerv1.GetKpisRequest{ProgrammeId: "tiered",
			PeriodStart: timestamppb.New(date("2026-03-01")), PeriodEnd: timestamppb.New(date("2026-04-01"))})
		if err != nil {
			t.Fatal(err)
		}
		var fromNew int64
		for _, c := range march.GetSegmentMoves() {
			if c.GetFromState() != "new" || c.GetRowShare() == "0" {
				t.Fatalf("March moves %v", march.GetSegmentMoves())
			}
			fromNew += c.GetMembers()
		}
		if fromNew != 2 || march.GetPointsTotal().GetBurned() != 20 {
			t.Fatalf("March moves %v, points %v", march.GetSegmentMoves(), march.GetPointsTotal())
		}

		r, err := refreshKpis(t, env, &ledgerv1.RefreshKpisRequest{ProgrammeId: "tiered"})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetMembers() != 2 || r.GetMonths() != 3 || r.GetModel().GetCustomers() != 2 {
			t.Fatalf("refresh %v", r)
		}
		var churnRate, retention float64
		var active, churned int64
		if err := db.QueryRowContext(ctx(t), `SELECT active_start, churned, churn_rate, retention_rate FROM kpi_members
			WHERE programme_id = 'tiered' AND period = '2026-02'`).Scan(&active, &churned, &churnRate, &retention); err != nil {
			t.Fatal(err)
		}
		if active != 2 || churned != 1 || churnRate != 0.5 || retention != 0.5 {
			t.Fatalf("kpi_members February: %d %d %v %v", active, churned, churnRate, retention)
		}
		var repeat float64
		if err := db.QueryRowContext(ctx(t), `SELECT repeat_purchase_rate FROM kpi_members WHERE programme_id = 'tiered' AND period = '2026-01'`).
			Scan(&repeat); err != nil || repeat != 0.5 {
			t.Fatalf("January repeat-purchase rate %v %v", repeat, err)
		}
		rows, err := db.QueryContext(ctx(t), `SELECT months_since, retention FROM kpi_cohort_retention
			WHERE programme_id = 'tiered' AND cohort = '2026-01' ORDER BY months_since`)
		if err != nil {
			t.Fatal(err)
		}
		var cohort []float64
		for rows.Next() {
			var n int
			var r float64
			if err := rows.Scan(&n, &r); err != nil {
				t.Fatal(err)
			}
			cohort = append(cohort, r)
		}
		rows.Close()
		if len(cohort) != 3 || cohort[0] != 1 || cohort[1] != 0.5 || cohort[2] != 0 {
			t.Fatalf("cohort 2026-01 retention %v, want [1 0.5 0]", cohort)
		}
		var issued, burned int64
		if err := db.QueryRowContext(ctx(t), `SELECT SUM(issued), SUM(burned) FROM kpi_points WHERE programme_id = 'tiered'`).
			Scan(&issued, &burned); err != nil || issued != 220 || burned != 20 {
			t.Fatalf("kpi_points %d %d %v", issued, burned, err)
		}
		var outstanding int64
		var value string
		if err := db.QueryRowContext(ctx(t), `SELECT outstanding_points, CAST(outstanding_value AS TEXT) FROM kpi_liability WHERE programme_id = 'tiered'`).
			Scan(&outstanding, &value); err != nil || outstanding != 200 {
			t.Fatalf("kpi_liability %d %s %v", outstanding, value, err)
		}
		var segments int64
		if err := db.QueryRowContext(ctx(t), `SELECT SUM(members) FROM kpi_segment_distribution WHERE programme_id = 'tiered'`).
			Scan(&segments); err != nil || segments != 2 {
			t.Fatalf("kpi_segment_distribution %d %v", segments, err)
		}
		var share float64
		if err := db.QueryRowContext(ctx(t), `SELECT SUM(row_share) FROM kpi_segment_transitions WHERE programme_id = 'tiered'
			AND period = '2026-03' AND from_segment = 'new'`).Scan(&share); err != nil || share != 1 {
			t.Fatalf("March segment moves from new: row shares sum to %v %v", share, err)
		}
		var risky int64
		if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM kpi_churn_risk_members WHERE programme_id = 'tiered'
			AND p_alive > 0 AND p_alive <= 1 AND expected_purchases >= 0`).Scan(&risky); err != nil || risky != 2 {
			t.Fatalf("kpi_churn_risk_members %d %v", risky, err)
		}
		cr, err := env.Kpi.GetChurnRisk(ctx(t), &ledgerv1.GetChurnRiskRequest{MemberId: b})
		if err != nil || cr.GetRepeatPurchases() != 0 || cr.GetPAlive() != 1 {
			t.Fatalf("one-time buyer's churn risk %v %v (P(alive) is 1 by the model)", cr, err)
		}

		// The BI views expose no personal data.
		for _, view := range []string{"kpi_members", "kpi_cohort_retention", "kpi_segment_transitions", "kpi_tier_transitions",
			"kpi_segment_distribution", "kpi_tier_distribution", "kpi_points", "kpi_liability", "kpi_churn_model",
			"kpi_churn_risk_members", "kpi_identification"} {
			rows, err := db.QueryContext(ctx(t), "SELECT * FROM "+view+" WHERE 1 = 0")
			if err != nil {
				t.Fatalf("%s: %v", view, err)
			}
			cols, _ := rows.Columns()
			rows.Close()
			for _, c := range cols {
				switch c {
				case "member_id", "external_ref", "birth_date", "partner_consent":
					t.Errorf("%s exposes %s", view, c)
				}
			}
		}
	})
}

// Tier transition matrices count every member from enrolment (in the first
// tier until their first change), a change at a period's first instant
// falls in that period, and expired points count against the channel that
// issued them.
func TestKPITierMovesAndBreakageByChannel(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		a, b := enrolAt(t, env, date("2025-12-15")), enrolAt(t, env, date("2025-12-20"))
		buyAt(t, env, b, "20", date("2026-01-10"))
		buyAt(t, env, a, "350", date("2026-02-01")) // silver at 2026-02-01T00:00Z
		tierMoves := func(from, to string) map[string]string {
			t.Helper()
			k, err := env.Kpi.GetKpis(ctx(t), &ledgerv1.GetKpisRequest{ProgrammeId: "tiered",
				PeriodStart: timestamppb.New(date(from)), PeriodEnd: timestamppb.New(date(to))})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, c := range k.GetTierMoves() {
				out[c.GetFromState()+">"+c.GetToState()] = fmt.Sprintf("%d %s", c.GetMembers(), c.GetRowShare())
			}
			return out
		}
		if got, want := tierMoves("2026-01-01", "2026-02-01"), map[string]string{"blue>blue": "2 1"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("January tier moves %v, want %v", got, want)
		}
		if got, want := tierMoves("2026-02-01", "2026-03-01"), map[string]string{"blue>blue": "1 0.5", "blue>silver": "1 0.5"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("February tier moves %v, want %v", got, want)
		}
		if _, err := refreshKpis(t, env, &ledgerv1.RefreshKpisRequest{ProgrammeId: "tiered"}); err != nil {
			t.Fatal(err)
		}
		refreshed := map[string]int64{}
		rows, err := db.QueryContext(ctx(t), `SELECT period, from_tier, to_tier, members FROM kpi_tier_transitions
			WHERE programme_id = 'tiered' AND period IN ('2026-01', '2026-02')`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var period, from, to string
			var n int64
			if err := rows.Scan(&period, &from, &to, &n); err != nil {
				t.Fatal(err)
			}
			refreshed[period+" "+from+">"+to] = n
		}
		rows.Close()
		if want := map[string]int64{"2026-01 blue>blue": 2, "2026-02 blue>blue": 1, "2026-02 blue>silver": 1}; !reflect.DeepEqual(refreshed, want) {
			t.Fatalf("kpi_tier_transitions %v, want %v", refreshed, want)
		}

		// The pseudonym is keyed: stable across refreshes, not a hash of the id.
		pseudonym := func() string {
			t.Helper()
			var k string
			if err := db.QueryRowContext(ctx(t), `SELECT member_key FROM kpi_churn_risk WHERE member_id = $1`, a).Scan(&k); err != nil {
				t.Fatal(err)
			}
			return k
		}
		first := pseudonym()
		if _, err := refreshKpis(t, env, &ledgerv1.RefreshKpisRequest{ProgrammeId: "tiered"}); err != nil {
			t.Fatal(err)
		}
		for _, plain := range []string{a, "fidelis-bi\x00" + a} {
			if h := sha256.Sum256([]byte(plain)); strings.HasPrefix(hex.EncodeToString(h[:]), first) {
				t.Fatalf("the pseudonym %s is a plain hash of the member id", first)
			}
		}
		if again := pseudonym(); again != first || len(first) != 24 {
			t.Fatalf("pseudonym %q, then %q", first, again)
		}

		env.Clock.Advance(400 * day)
		if _, err := runExpiry(t, env, &ledgerv1.RunExpiryRequest{}); err != nil {
			t.Fatal(err)
		}
		var issued, expired, unattributed int64
		if err := db.QueryRowContext(ctx(t), `SELECT SUM(issued), SUM(expired), SUM(CASE WHEN channel = 'pos' THEN 0 ELSE expired END)
			FROM kpi_points WHERE programme_id = 'tiered'`).Scan(&issued, &expired, &unattributed); err != nil {
			t.Fatal(err)
		}
		if issued != 370 || expired != 370 || unattributed != 0 {
			t.Fatalf("kpi_points: issued %d, expired %d (%d not against the POS channel), want 370, 370, 0", issued, expired, unattributed)
		}
		k, err := env.Kpi.GetKpis(ctx(t), &ledgerv1.GetKpisRequest{ProgrammeId: "tiered",
			PeriodStart: timestamppb.New(date("2026-01-01")), PeriodEnd: timestamppb.New(env.Clock.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		if p := k.GetPoints(); len(p) != 1 || p[0].GetChannel() != typev1.Channel_CHANNEL_POS || p[0].GetExpired() != 370 || p[0].GetBreakageRate() != "1" {
			t.Fatalf("points by channel %v", p)
		}
	})
}

// The KPI service's refusals carry their reasons; a period that ends
// before it starts is refused by the schema's rule.
func TestKpiRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		start, end := timestamppb.New(date("2026-01-01")), timestamppb.New(date("2026-02-01"))
		_, err := env.Kpi.GetKpis(ctx(t), &ledgerv1.GetKpisRequest{ProgrammeId: "tiered", PeriodStart: end, PeriodEnd: start})
		wantReason(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
		_, err = env.Kpi.GetKpis(ctx(t), &ledgerv1.GetKpisRequest{ProgrammeId: "nope", PeriodStart: start, PeriodEnd: end})
		wantReason(t, err, codes.NotFound, "PROGRAMME_NOT_FOUND")
		_, err = env.Kpi.GetProgrammeStats(ctx(t), &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: "nope"})
		wantReason(t, err, codes.NotFound, "PROGRAMME_NOT_FOUND")
		m := enrol(t, env, "tiered")
		_, err = env.Kpi.GetChurnRisk(ctx(t), &ledgerv1.GetChurnRiskRequest{MemberId: m})
		wantReason(t, err, codes.FailedPrecondition, "CHURN_MODEL_NOT_FITTED")
		_, err = env.Kpi.GetChurnRisk(ctx(t), &ledgerv1.GetChurnRiskRequest{MemberId: "01a23098-0fbc-7d66-adf4-e56f036959ae"})
		wantReason(t, err, codes.NotFound, "MEMBER_NOT_FOUND")
		_, err = env.Status.GetTierStatus(ctx(t), &ledgerv1.GetTierStatusRequest{MemberId: enrol(t, env, "test")})
		wantReason(t, err, codes.FailedPrecondition, "PROGRAMME_HAS_NO_TIERS")
	})
}
