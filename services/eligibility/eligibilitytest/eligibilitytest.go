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
	"github.com/fidelis-loyalty/fidelis/services/eligibility/adapters"
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
	// URL is the HTTP edge (JSON API and page); send the test client's key
	// (Key) as "Authorization: Bearer".
	URL string
}

// Start runs everything on db.
func Start(t testing.TB, db *sqldb.DB) *Env {
	t.Helper()
	led := ledgertest.Start(t, db, ledgertest.Options{})
	rw := rewardstest.With(t, db, led)
	pt := partnerstest.With(t, db, led)
	log := ledgertest.Logger(t)
	const who = "fidelis-eligibility"
	a := app.New(app.Sources{
		Ledger:   adapters.NewLedger(led.ServiceConn(t, led.Addr, who)),
		Rewards:  adapters.NewCatalogue(led.ServiceConn(t, rw.RewardsAddr, who)),
		Partners: adapters.NewPartnerOffers(led.ServiceConn(t, pt.PartnersAddr, who)),
	}, log)
	srv, err := grpcserver.New(grpcserver.Options{Logger: log, Guard: led.Access.Guard})
	if err != nil {
		t.Fatal(err)
	}
	grpcapi.Register(srv, a)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	client := eligibilityv1.NewEligibilityServiceClient(ledgertest.Dial(t, lis.Addr().String(), led.Key))
	// The HTTP edge's connection carries no credential: each HTTP request's
	// own is passed on.
	bare, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Close() })
	web := httptest.NewServer(httpapi.Handler(eligibilityv1.NewEligibilityServiceClient(bare), log))
	t.Cleanup(web.Close)
	return &Env{Env: led, Rewards: rw, Partners: pt, Eligibility: client, URL: web.URL}
}
