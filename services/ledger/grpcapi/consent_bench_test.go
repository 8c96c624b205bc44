package grpcapi_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// BenchmarkBatchClaimContacts measures a campaign tool paging through an
// audience over gRPC: each operation is one BatchClaimContacts of 1,000
// members, four at a time, over 100,000 members of whom half consented to
// e-mail; each pass over the audience is a new campaign, so the first
// pass records contacts and the later ones are refused by the weekly cap.
// It reports decisions per second. FIDELIS_BENCH_AUDIENCE sets another
// audience size (1000000 for a campaign's million members):
//
//	FIDELIS_TEST_ENGINES=postgres go test -run '^$' -bench BatchClaimContacts -benchtime 200x ./services/ledger/grpcapi/
func BenchmarkBatchClaimContacts(b *testing.B) {
	const page = 1000
	audience := 100_000
	if v := os.Getenv("FIDELIS_BENCH_AUDIENCE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < page || n%page != 0 {
			b.Fatalf("FIDELIS_BENCH_AUDIENCE=%q: want a multiple of %d", v, page)
		}
		audience = n
	}
	for _, d := range sqldbtest.Engines() {
		b.Run(string(d), func(b *testing.B) {
			db := sqldbtest.Open(b, d)
			env := ledgertest.Start(b, db, ledgertest.Options{})
			ids := seedAudience(b, db, audience)
			var next atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					start := int(i*page) % audience
					r, err := env.Consent.BatchClaimContacts(context.Background(), &ledgerv1.BatchClaimContactsRequest{
						ProgrammeId: "test", Channel: email, Scenario: "newsletter",
						CampaignId: fmt.Sprintf("bench-%d", int(i*page)/audience), MemberIds: ids[start : start+page],
					})
					if err != nil {
						b.Fatal(err)
					}
					if len(r.GetDecisions()) != page {
						b.Fatalf("%d decisions", len(r.GetDecisions()))
					}
				}
			})
			b.ReportMetric(float64(b.N*page)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// seedAudience writes n members of programme "test" straight into the
// tables (enrolling them one by one would take longer than the benchmark),
// every other one with e-mail marketing consent.
func seedAudience(b *testing.B, db *sqldb.DB, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	const chunk = 1000
	for start := 0; start < n; start += chunk {
		part := ids[start:min(start+chunk, n)]
		err := db.Update(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			var members, consents []any
			mq := `INSERT INTO ledger_members (member_id, programme_id, external_ref, enrolled_at, available, pending, held, debt,
				lifetime_earned, lifetime_burned, seq, next_due_at, updated_at) VALUES `
			cq := `INSERT INTO consent_current (member_id, purpose, channel, granted, change_id, changed_at) VALUES `
			for j, id := range part {
				if j > 0 {
					mq += ", "
				}
				mq += "(" + sqldb.Placeholders(len(members)+1, 3) + ", 1, 0, 0, 0, 0, 0, 0, 0, 0, 1)"
				members = append(members, id, "test", "bench-"+id)
				if (start+j)%2 == 0 {
					if len(consents) > 0 {
						cq += ", "
					}
					cq += "(" + sqldb.Placeholders(len(consents)+1, 1) + ", 'marketing', 'email', TRUE, 'bench', 1)"
					consents = append(consents, id)
				}
			}
			if _, err := tx.ExecContext(ctx, mq, members...); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, cq, consents...)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return ids
}
