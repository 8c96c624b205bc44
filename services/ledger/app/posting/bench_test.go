package posting_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// BenchmarkEarn measures purchase earns through the app (no gRPC), from
// many goroutines at once over 1,000 members, on each engine:
//
//	go test -run '^$' -bench Earn -benchtime 5s ./services/ledger/app/
func BenchmarkEarn(b *testing.B) {
	for _, d := range sqldbtest.Engines() {
		b.Run(string(d), func(b *testing.B) {
			env := ledgertest.Start(b, sqldbtest.Open(b, d), ledgertest.Options{})
			ctx := context.Background()
			members := make([]string, 1000)
			for i := range members {
				m, err := env.Ledger.Posting.Enrol(ctx, principal.System("bench"), fmt.Sprintf("enrol-%d", i), posting.Enrolment{ProgrammeID: "test", ExternalRef: fmt.Sprint(i)})
				if err != nil {
					b.Fatal(err)
				}
				members[i] = m.ID
			}
			var n atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					_, err := env.Ledger.Posting.Earn(ctx, principal.System("bench"), fmt.Sprintf("earn-%d", i), members[i%int64(len(members))], domain.EarnCmd{
						Purchase: &money.Money{Amount: decimal.New(1234+i%1000, -2), Currency: "EUR"}, Channel: domain.ChannelPOS,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "earns/s")
		})
	}
}
