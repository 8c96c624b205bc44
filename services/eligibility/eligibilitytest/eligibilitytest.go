// Package eligibilitytest runs the eligibility self-test for tests over
// gRPC and HTTP, with its real sources: a ledger, the rewards and the
// partners services, all on the same database.
package eligibilitytest

import (
	"net"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/app"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/grpcapi"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/httpapi"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
	"github.com/fidelis-loyalty/fidelis/services/partners/partnerstest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/rewardstest"
)

// Env is the running services.
type Env struct {
	*ledgertest.Env
	Rewards     *rewardstest.Env
	Partners    *partnerstest.Env
	Eligibility eligibilityv1.EligibilityServiceClient
	// URL is the HTTP edge (JSON API and page).
	URL string
}

// Start runs everything on db.
func Start(t testing.TB, db *sqldb.DB) *Env {
	t.Helper()
	led := ledgertest.Start(t, db, ledgertest.Options{})
	rw := rewardstest.With(t, db, led)
	pt := partnerstest.With(t, db, led)
	log := ledgertest.Logger(t)
	dial := func(addr string) *grpc.ClientConn {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ledgerConn := dial(led.Addr)
	a := app.New(app.Sources{
		Ledger: ledgerv1.NewLedgerServiceClient(ledgerConn), Kpi: ledgerv1.NewKpiServiceClient(ledgerConn),
		Rewards: rw.Rewards, Partners: pt.Admin,
	}, log)
	srv, err := grpcserver.New(grpcserver.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	grpcapi.Register(srv, a, log)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	client := eligibilityv1.NewEligibilityServiceClient(dial(lis.Addr().String()))
	web := httptest.NewServer(httpapi.Handler(client, log))
	t.Cleanup(web.Close)
	return &Env{Env: led, Rewards: rw, Partners: pt, Eligibility: client, URL: web.URL}
}
