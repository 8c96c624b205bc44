package analytics_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// cdnowConfig is a programme for the CDNOW purchases: dollars, no return
// window, no expiry, UTC.
const cdnowConfig = `
version: 1
programmes:
  - id: cdnow
    timezone: UTC
    currency: USD
    earning: {rates: {USD: "1"}}
    pending_days: 0
    expiry: {policy: none}
    # CDNOW's purchases are of 1997-1998: imported history.
    backdating: {import_max_days: 36600}
`

type cdnowPurchase struct {
	day    time.Time
	amount decimal.Decimal
}

// readCDNOW reads the CDNOW sample (Fader & Hardie's 1/10th sample of the
// CDNOW customers who first bought in the first quarter of 1997): sample
// customer id, date, CDs, dollars.
func readCDNOW(t testing.TB) (map[string][]cdnowPurchase, []string) {
	t.Helper()
	f, err := os.Open("../../churn/testdata/CDNOW_sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byCustomer := map[string][]cdnowPurchase{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 5 {
			continue
		}
		d, err := time.Parse("20060102", fields[2])
		if err != nil {
			t.Fatal(err)
		}
		if _, seen := byCustomer[fields[1]]; !seen {
			order = append(order, fields[1])
		}
		byCustomer[fields[1]] = append(byCustomer[fields[1]], cdnowPurchase{day: d, amount: decimal.RequireFromString(fields[4])})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return byCustomer, order
}

// importCDNOW enrols one member per CDNOW customer (enrolled at the first
// purchase) and records every purchase line as a purchase earn.
func importCDNOW(t testing.TB, a *posting.Service) int {
	t.Helper()
	byCustomer, order := readCDNOW(t)
	ctx := context.Background()
	importer := principal.System("import")
	importer.Roles = append(importer.Roles, principal.Import) // 1997's purchases: the import window
	work := make(chan string)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for c := range work {
				ps := byCustomer[c]
				m, err := a.Enrol(ctx, importer, "cdnow-enrol-"+c, posting.Enrolment{ProgrammeID: "cdnow", ExternalRef: "cdnow-" + c, EnrolledAt: ps[0].day})
				if err != nil {
					errs <- err
					return
				}
				for i, p := range ps {
					if _, err := a.Earn(ctx, importer, fmt.Sprintf("cdnow-%s-%d", c, i), m.ID, domain.EarnCmd{
						Purchase: &money.Money{Amount: p.amount, Currency: "USD"}, Channel: domain.ChannelEcommerce,
						OccurredAt: p.day, OrderRef: fmt.Sprintf("%s-%d", c, i),
					}); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	for _, c := range order {
		select {
		case work <- c:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return len(order)
}

func within(t *testing.T, name string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*math.Abs(want) {
		t.Errorf("%s = %.4f, want %.4f within %.1f%%", name, got, want, 100*rel)
	}
}

// The churn model fitted from the ledger's purchase events of the CDNOW
// customers reproduces Fader, Hardie & Lee's published estimates
// (calibration: first purchase to 1997-09-30 inclusive, weeks, x = distinct
// purchase days - 1).
func TestChurnModelReproducesCDNOW(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{Config: cdnowConfig})
		if n := importCDNOW(t, env.Ledger.Posting); n != 2357 {
			t.Fatalf("%d customers, want 2357", n)
		}
		calEnd := time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC).Add(-time.Microsecond)
		m, err := env.Ledger.Analytics.FitChurnModel(context.Background(), "cdnow", calEnd)
		if err != nil {
			t.Fatal(err)
		}
		if m.Customers != 2357 {
			t.Fatalf("%d customers in the model, want 2357", m.Customers)
		}
		within(t, "r", m.R, 0.243, 0.005)
		within(t, "alpha", m.Alpha, 4.414, 0.005)
		within(t, "a", m.A, 0.793, 0.005)
		within(t, "b", m.B, 2.426, 0.005)
		within(t, "log-likelihood", m.LogLikelihood, -9582.4, 0.005)
		t.Logf("r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.2f", m.R, m.Alpha, m.A, m.B, m.LogLikelihood)
		ledgertest.CheckInvariants(t, db, env.Cfg)
	})
}
