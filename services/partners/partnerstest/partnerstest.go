// Package partnerstest runs the partners service for tests, against a real
// ledger (ledgertest) on the same database, over gRPC, with access control
// in place.
package partnerstest

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
	"github.com/fidelis-loyalty/fidelis/services/partners/adapters"
	"github.com/fidelis-loyalty/fidelis/services/partners/app"
	"github.com/fidelis-loyalty/fidelis/services/partners/grpcapi"
	"github.com/fidelis-loyalty/fidelis/services/partners/store"
)

// Env is a running ledger and partners service.
type Env struct {
	*ledgertest.Env
	Partners partnersv1.PartnerServiceClient
	// Admin calls as the test client (see ledgertest: an operator, among
	// others); AdminBare with no credentials (add them with As).
	Admin        partnersv1.PartnerAdminServiceClient
	AdminBare    partnersv1.PartnerAdminServiceClient
	PartnersApp  *app.Service
	PartnersAddr string
}

// Start runs a ledger and the partners service on db.
func Start(t testing.TB, db *sqldb.DB) *Env {
	t.Helper()
	return With(t, db, ledgertest.Start(t, db, ledgertest.Options{}))
}

// With runs the partners service on db against a running ledger.
func With(t testing.TB, db *sqldb.DB, led *ledgertest.Env) *Env {
	t.Helper()
	log := ledgertest.Logger(t)
	if err := store.Migrate(context.Background(), db, log); err != nil {
		t.Fatalf("migrate partners: %v", err)
	}
	ledgerConn := led.ServiceConn(t, led.Addr, "fidelis-partners")
	keys, audit := adapters.NewAccess(led.Access.App)
	a := app.New(store.New(db), adapters.NewLedger(ledgerConn), keys, audit, app.Options{Now: led.Clock.Now, Logger: log})
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
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	adminConn := ledgertest.Dial(t, lis.Addr().String(), led.Key)
	return &Env{Env: led, Partners: partnersv1.NewPartnerServiceClient(conn), Admin: partnersv1.NewPartnerAdminServiceClient(adminConn),
		AdminBare: partnersv1.NewPartnerAdminServiceClient(conn), PartnersApp: a, PartnersAddr: lis.Addr().String()}
}

// As authenticates calls with a partner's API key (or any bearer token).
func As(ctx context.Context, apiKey string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+apiKey)
}
