// Package rewardstest runs the rewards service for tests, against a real
// ledger (ledgertest) on the same database, over gRPC.
package rewardstest

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/adapters"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/grpcapi"
	"github.com/fidelis-loyalty/fidelis/services/rewards/store"
)

// Env is a running ledger and rewards service.
type Env struct {
	*ledgertest.Env
	// Rewards calls as the test client (see ledgertest).
	Rewards     rewardsv1.RewardsServiceClient
	RewardsApp  *app.Service
	RewardsAddr string
}

// Options tune StartWith.
type Options struct {
	// LedgerInterceptor sees every call the rewards service makes to the
	// ledger, to fail some of them.
	LedgerInterceptor grpc.UnaryClientInterceptor
}

// Start runs a ledger and the rewards service on db.
func Start(t testing.TB, db *sqldb.DB) *Env {
	t.Helper()
	return StartWith(t, db, Options{})
}

// StartWith runs a ledger and the rewards service on db, tuned by o.
func StartWith(t testing.TB, db *sqldb.DB, o Options) *Env {
	t.Helper()
	return with(t, db, ledgertest.Start(t, db, ledgertest.Options{}), o)
}

// With runs the rewards service on db against a running ledger.
func With(t testing.TB, db *sqldb.DB, led *ledgertest.Env) *Env {
	t.Helper()
	return with(t, db, led, Options{})
}

func with(t testing.TB, db *sqldb.DB, led *ledgertest.Env, o Options) *Env {
	t.Helper()
	log := ledgertest.Logger(t)
	if err := store.Migrate(context.Background(), db, log); err != nil {
		t.Fatalf("migrate rewards: %v", err)
	}
	var dial []grpc.DialOption
	if o.LedgerInterceptor != nil {
		dial = append(dial, grpc.WithUnaryInterceptor(o.LedgerInterceptor))
	}
	ledgerConn := led.ServiceConn(t, led.Addr, "fidelis-rewards", dial...)
	a := app.New(store.New(db), adapters.NewLedger(ledgerConn), app.Options{Now: led.Clock.Now, Logger: log, HoldTTL: 5 * time.Minute})
	srv, err := grpcserver.New(grpcserver.Options{Logger: log, Guard: led.Access.Guard})
	if err != nil {
		t.Fatal(err)
	}
	grpcapi.Register(srv, a, led.Clock.Now)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn := ledgertest.Dial(t, lis.Addr().String(), led.Key)
	return &Env{Env: led, Rewards: rewardsv1.NewRewardsServiceClient(conn), RewardsApp: a, RewardsAddr: lis.Addr().String()}
}
