// Package ledgertest runs a real ledger for tests: a fresh database, the
// app, and a gRPC server with real access control on a loopback port, with
// a client connected to it as a principal of every role but partner's,
// bound to every programme.
package ledgertest

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/access/accesstest"
	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/ledger"
	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
	"github.com/fidelis-loyalty/fidelis/services/ledger/store"
)

// Config is the programme configuration tests use unless they pass their own.
// "test": whole points per euro, a 14-day return window, 12-month lot expiry
// in Paris time, a floor of -100; contact pressure: one e-mail a week, two
// SMS a month, one birthday message a year, none within 48 h of a purchase.
// "tiered": no return window, tiers on
// status points over a rolling 12 months (silver 300 x1.5, gold 1000 x2).
// "strict": 10 points per euro, floor 0, clawbacks below it refused.
const Config = `
version: 7
programmes:
  - id: test
    timezone: Europe/Paris
    currency: EUR
    earning:
      rates: {EUR: "1", USD: "0.5"}
      rounding: floor
    pending_days: 14
    expiry: {policy: lot, months: 12}
    floor: -100
    floor_policy: cap
    holds: {default_ttl: 10m, max_ttl: 1h}
    contact:
      caps: [{channel: email, max: 1, per: 168h}, {channel: sms, max: 2, per: 720h}]
      scenario_caps: [{scenario: birthday, max: 1, per: 8760h}]
      quiet_after_purchase: 48h
  - id: tiered
    timezone: Europe/Paris
    currency: EUR
    earning:
      rates: {EUR: "1"}
    pending_days: 0
    expiry: {policy: lot, months: 12}
    tiers:
      basis: status_points
      window: rolling
      months: 12
      downgrade: one_step
      levels:
        - {id: blue, threshold: 0}
        - {id: silver, threshold: 300, multiplier: "1.5"}
        - {id: gold, threshold: 1000, multiplier: "2"}
    rfm: {window_months: 12}
    moments: {expiring_within_days: 30, inactive_after_days: 60}
    point_value: "0.01"
    kpi: {inactive_days: 30, horizon_weeks: 26}
  - id: strict
    currency: EUR
    earning:
      rates: {EUR: "10"}
    pending_days: 0
    floor: 0
    floor_policy: reject
`

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Env is a running ledger.
type Env struct {
	DB     *sqldb.DB
	Ledger *ledger.Ledger
	Access *accesstest.Env
	// Key is the API key of the client's principal, "test-client".
	Key    string
	Clock  *Clock
	Conn   *grpc.ClientConn
	Client ledgerv1.LedgerServiceClient
	Status ledgerv1.StatusServiceClient
	Kpi    ledgerv1.KpiServiceClient
	// Admin is the administration service; Ops reads the long-running
	// operations it starts (see Await).
	Admin ledgerv1.LedgerAdminServiceClient
	Ops   longrunningpb.OperationsClient
	// Consent is the consent and contact pressure service.
	Consent ledgerv1.ConsentServiceClient
	Addr    string
	Cfg     *domain.Config
}

// Check fails the test unless the ledger's invariants hold (see
// CheckInvariants).
func (e *Env) Check(t testing.TB) {
	t.Helper()
	CheckInvariants(t, e.DB, e.Cfg)
}

// Options tune Start.
type Options struct {
	Config string
	// Clock is shared with another Env (a second replica); nil starts a new
	// one.
	Clock *Clock
	// Shards overrides the app's write shards.
	Shards int
	// Access is shared with another Env on the same database; nil starts
	// access control anew.
	Access *accesstest.Env
}

// Start runs a ledger on db, stopped at the end of the test.
func Start(t testing.TB, db *sqldb.DB, o Options) *Env {
	t.Helper()
	if o.Config == "" {
		o.Config = Config
	}
	cfg, err := config.Parse([]byte(o.Config))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	log := Logger(t)
	if err := store.Migrate(ctx, db, log); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	clock := o.Clock
	if clock == nil {
		clock = NewClock(time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC))
	}
	acc := o.Access
	if acc == nil {
		acc = accesstest.Start(t, db, accesstest.Options{Logger: log})
	}
	l, err := ledger.New(db, cfg, ledger.Options{Now: clock.Now, Shards: o.Shards, Logger: log, Keys: Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcserver.New(grpcserver.Options{Logger: log, Guard: acc.Guard})
	if err != nil {
		t.Fatal(err)
	}
	l.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	key := acc.NewKey(t, clientPrincipal(t, acc))
	conn := Dial(t, lis.Addr().String(), key)
	bg, stop := context.WithCancel(context.Background())
	projected := make(chan struct{})
	go func() { defer close(projected); l.Status.RunProjector(bg, 50*time.Millisecond) }()
	t.Cleanup(func() {
		srv.Stop()
		stop()
		<-projected
		l.Close()
	})
	return &Env{
		DB: db, Ledger: l, Access: acc, Key: key, Clock: clock, Conn: conn, Addr: lis.Addr().String(), Cfg: cfg,
		Client: ledgerv1.NewLedgerServiceClient(conn), Status: ledgerv1.NewStatusServiceClient(conn),
		Kpi: ledgerv1.NewKpiServiceClient(conn), Admin: ledgerv1.NewLedgerAdminServiceClient(conn),
		Ops: longrunningpb.NewOperationsClient(conn), Consent: ledgerv1.NewConsentServiceClient(conn),
	}
}

// Await polls a long-running operation started by the administration
// service (start's call, with its error) until it is done, and reads its
// response into into; the operation's error is returned as a gRPC status
// error, as a unary call would have returned it.
func (e *Env) Await(ctx context.Context, op *longrunningpb.Operation, err error, into proto.Message) error {
	if err != nil {
		return err
	}
	for !op.GetDone() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if op, err = e.Ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()}); err != nil {
			return err
		}
	}
	if st := op.GetError(); st != nil {
		return status.ErrorProto(st)
	}
	if into == nil {
		return nil
	}
	return op.GetResponse().UnmarshalTo(into)
}

// clientPrincipal registers the test client's principal once per access
// environment.
func clientPrincipal(t testing.TB, acc *accesstest.Env) string {
	t.Helper()
	const id = "test-client"
	if _, err := acc.App.Principal(context.Background(), id); err != nil {
		acc.Principal(t, id, accesstest.AllRoles())
	}
	return id
}

// Dial connects to a server as the principal of key, until the end of the
// test.
func Dial(t testing.TB, addr, key string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), accesstest.Creds(key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// ServiceConn connects to a server as a Fidelis service of this process
// would (see services/host): a principal with the service role that lives
// in memory only, passing on the principal of each call's context.
func (e *Env) ServiceConn(t testing.TB, addr, who string, extra ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	key, err := e.Access.App.InternalKey(principal.System(who))
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authz.ServiceCredentials(key, false))}, extra...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Logger logs to the test's log, shown when the test fails.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Keyring is a new keyring of master keys, for a test's members' personal
// data.
func Keyring(t testing.TB) *pii.Keyring {
	t.Helper()
	text, err := pii.NewKeyringText("test")
	if err != nil {
		t.Fatal(err)
	}
	k, err := pii.ParseKeyring(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
