package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// Stores report anonymous sales per business day: a later count replaces
// an earlier one, a retried older count changes nothing, and the programme
// stats count them with the identified purchases of the last 12 months.
func TestAnonymousSalesAndProgrammeStats(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		now := env.Clock.Now() // 2026-03-10 09:30 UTC
		report := func(store, day string, n int64, counted time.Time) *ledgerv1.ReportAnonymousSalesResponse {
			t.Helper()
			r, err := env.Client.ReportAnonymousSales(ctx(t), &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "tiered",
				StoreId: store, BusinessDay: ymd(day), Transactions: n, CountedAt: timestamppb.New(counted)})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		report("paris-1", "2026-03-09", 40, now.Add(-2*time.Hour))
		if r := report("paris-1", "2026-03-09", 55, now.Add(-time.Hour)); r.GetTransactions() != 55 {
			t.Fatalf("newer count: stored %d", r.GetTransactions())
		}
		if r := report("paris-1", "2026-03-09", 40, now.Add(-2*time.Hour)); r.GetTransactions() != 55 {
			t.Fatalf("retried older count replaced the newer one: %d", r.GetTransactions())
		}
		report("lyon-1", "2026-03-09", 5, now)
		report("lyon-1", "2025-03-10", 1000, now) // 12 months ago to the day: outside the window

		a, b := enrolAt(t, env, date("2025-01-05")), enrolAt(t, env, date("2025-06-01"))
		enrolAt(t, env, date("2026-02-01"))         // never buys
		buyAt(t, env, a, "100", date("2025-02-01")) // before the window, but the first purchase
		buyAt(t, env, a, "50", date("2025-09-20"))
		buyAt(t, env, a, "30", date("2026-02-10"))
		earn, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: b, Channel: typev1.Channel_CHANNEL_POS,
			Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "40", CurrencyCode: "EUR"}}, OccurredAt: timestamppb.New(date("2025-06-10"))})
		if err != nil {
			t.Fatal(err)
		}
		// A return is not a purchase.
		if _, err := env.Client.Reverse(ctx(t), &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: earn.GetEntry().GetEntryId(),
			Portion: &ledgerv1.ReverseRequest_Returned{Returned: &typev1.Money{Amount: "10", CurrencyCode: "EUR"}}}); err != nil {
			t.Fatal(err)
		}

		st, err := env.Kpi.GetProgrammeStats(ctx(t), &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: "tiered"})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetMembers() != 3 || st.GetBuyers() != 2 || st.GetPurchases() != 3 || st.GetStorePurchases() != 3 || st.GetAnonymousTransactions() != 60 ||
			st.GetAnonymousStoreDays() != 2 || !st.GetFirstPurchaseAt().AsTime().Equal(date("2025-02-01")) ||
			!st.GetWindowEnd().AsTime().Equal(now) || !st.GetWindowStart().AsTime().Equal(now.AddDate(-1, 0, 0)) {
			t.Fatalf("stats %v", st)
		}
		var identified, anonymous int64
		if err := db.QueryRowContext(ctx(t), `SELECT identified_transactions, anonymous_transactions FROM kpi_identification
			WHERE programme_id = 'tiered' AND month = '2026-03'`).Scan(&identified, &anonymous); err != nil {
			t.Fatal(err)
		}
		if identified != 0 || anonymous != 60 {
			t.Fatalf("kpi_identification 2026-03: %d identified, %d anonymous", identified, anonymous)
		}

		for _, c := range []struct {
			name  string
			req   *ledgerv1.ReportAnonymousSalesRequest
			code  codes.Code
			field string
		}{
			{"tomorrow", &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "tiered", StoreId: "s", BusinessDay: ymd("2026-03-11")},
				codes.InvalidArgument, "business_day"},
			{"not a date", &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "tiered", StoreId: "s", BusinessDay: ymd("2026-02-30")},
				codes.InvalidArgument, "business_day"},
			{"negative", &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "tiered", StoreId: "s", BusinessDay: ymd("2026-03-01"), Transactions: -1},
				codes.InvalidArgument, "transactions"},
			{"no store", &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "tiered", BusinessDay: ymd("2026-03-01")},
				codes.InvalidArgument, "store_id"},
			{"counted in the future", &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "tiered", StoreId: "s", BusinessDay: ymd("2026-03-01"),
				CountedAt: timestamppb.New(now.Add(time.Hour))}, codes.InvalidArgument, "counted_at"},
			{"unknown programme", &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "nope", StoreId: "s", BusinessDay: ymd("2026-03-01")},
				codes.NotFound, ""},
		} {
			_, err := env.Client.ReportAnonymousSales(ctx(t), c.req)
			s := status.Convert(err)
			if s.Code() != c.code {
				t.Errorf("%s: %v, want %v", c.name, err, c.code)
				continue
			}
			if c.field != "" {
				var got string
				for _, d := range s.Details() {
					if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
						got = br.GetFieldViolations()[0].GetField()
					}
				}
				if got != c.field {
					t.Errorf("%s: field %q, want %q", c.name, got, c.field)
				}
			}
		}
		var rows int64
		if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM ledger_anonymous_sales`).Scan(&rows); err != nil || rows != 3 {
			t.Fatalf("bad reports wrote: %d rows (%v)", rows, err)
		}
		if _, err := env.Kpi.GetProgrammeStats(ctx(t), &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: "nope"}); status.Code(err) != codes.NotFound {
			t.Fatalf("stats of an unknown programme: %v", err)
		}
	})
}
