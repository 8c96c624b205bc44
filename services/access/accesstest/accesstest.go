// Package accesstest gives tests real access control: the access app on
// the test's database (its audit log written as in production), the guard
// every gRPC server needs, and API keys for principals of any roles.
package accesstest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	"github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/access/store"
	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

// Env is access control on a test database.
type Env struct {
	App   *app.Service
	Guard *authz.Guard
}

// Options tune Start.
type Options struct {
	Limits   authz.Limits
	CacheTTL time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Start runs access control on db until the end of the test.
func Start(t testing.TB, db *sqldb.DB, o Options) *Env {
	t.Helper()
	ctx := context.Background()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := store.Migrate(ctx, db, o.Logger); err != nil {
		t.Fatalf("migrate access: %v", err)
	}
	a := app.New(store.New(db), app.Options{CacheTTL: o.CacheTTL, Now: o.Now, Logger: o.Logger, AuditEvery: 20 * time.Millisecond})
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { a.RunAuditLog(bg) })
	t.Cleanup(func() { stop(); wg.Wait() })
	return &Env{App: a, Guard: authz.New(authz.Options{Auth: a, Audit: a, Limits: o.Limits, Logger: o.Logger})}
}

// Principal registers a principal with the roles, bound to the programmes
// (every programme when none is given), with the default limits of its
// roles.
func (e *Env) Principal(t testing.TB, id string, roles []principal.Role, programmes ...string) {
	t.Helper()
	if len(programmes) == 0 {
		programmes = []string{principal.AllProgrammes}
	}
	_, err := e.App.CreatePrincipal(context.Background(), principal.System("accesstest"), e.idemKey(),
		app.NewPrincipal{ID: id, Roles: roles, Programmes: programmes})
	if err != nil {
		t.Fatalf("principal %s: %v", id, err)
	}
}

// NewKey makes a key for a registered principal.
func (e *Env) NewKey(t testing.TB, principalID string) string {
	t.Helper()
	k, err := e.App.CreateKey(context.Background(), principal.System("accesstest"), e.idemKey(), principalID, 0)
	if err != nil {
		t.Fatalf("key for %s: %v", principalID, err)
	}
	return k.Secret
}

// Key registers a principal and returns a key of it.
func (e *Env) Key(t testing.TB, id string, roles []principal.Role, programmes ...string) string {
	t.Helper()
	e.Principal(t, id, roles, programmes...)
	return e.NewKey(t, id)
}

// idemKey is unique across the Envs of one database (replicas).
func (e *Env) idemKey() string { return "accesstest-" + uuid.NewString() }

// Flush writes the queued audit records.
func (e *Env) Flush(t testing.TB) {
	t.Helper()
	if err := e.App.FlushAudit(context.Background()); err != nil {
		t.Fatalf("flush audit: %v", err)
	}
}

// AllRoles are every role but partner's (which goes with a partner).
func AllRoles() []principal.Role {
	return []principal.Role{principal.POS, principal.Ecommerce, principal.Operator, principal.BI, principal.Marketing, principal.Service, principal.Import, principal.CustomerService}
}

// Creds is the dial option that sends key with every call, in plaintext.
func Creds(key string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(authz.KeyCredentials(key, false))
}
