package app_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/access/store"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// replicas are two access services on one database, as two replicas would
// run, with a 10 s key cache and a shared clock.
func replicas(t *testing.T, db *sqldb.DB) (*app.Service, *app.Service, *clock) {
	t.Helper()
	if err := store.Migrate(context.Background(), db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
	o := app.Options{Now: c.now, CacheTTL: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	return app.New(store.New(db), o), app.New(store.New(sqldbtest.Reopen(t, db)), o), c
}

var ops = principal.System("test-ops")

func reason(_ principal.Principal, err error) string {
	var af *principal.AuthFailure
	if errors.As(err, &af) {
		return af.Reason
	}
	if err != nil {
		return err.Error()
	}
	return "ok"
}

// A key revoked on one replica stops there at once, and on the other
// within the cache's lifetime, not before it has expired in the cache.
func TestRevocationBound(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		a, b, clk := replicas(t, db)
		ctx := context.Background()
		if _, err := a.CreatePrincipal(ctx, ops, "p", app.NewPrincipal{ID: "pos-1", Roles: []principal.Role{principal.POS},
			Programmes: []string{"test"}}); err != nil {
			t.Fatal(err)
		}
		k, err := a.CreateKey(ctx, ops, "k", "pos-1", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*app.Service{a, b} {
			p, err := s.Authenticate(ctx, k.Secret)
			if err != nil || p.ID != "pos-1" || !p.Allows("test") || p.Allows("other") || p.Limits.MaxEarnPoints != 1000 {
				t.Fatalf("authenticate: %+v %v", p, err)
			}
		}
		clk.advance(3 * time.Second)
		if _, err := a.RevokeKey(ctx, ops, "r", k.Key.ID); err != nil {
			t.Fatal(err)
		}
		if got := reason(a.Authenticate(ctx, k.Secret)); got != "revoked_key" {
			t.Fatalf("on the revoking replica: %s", got)
		}
		if got := reason(b.Authenticate(ctx, k.Secret)); got != "ok" {
			t.Fatalf("on the other replica, inside its cache's lifetime: %s", got)
		}
		clk.advance(7 * time.Second)
		if got := reason(b.Authenticate(ctx, k.Secret)); got != "revoked_key" {
			t.Fatalf("on the other replica, after its cache's lifetime: %s", got)
		}
	})
}

// A rotated key works through the overlap, then stops; the new key works;
// a key with a lifetime expires; a wrong secret, an unknown key and a
// malformed one are refused alike.
func TestRotationAndExpiry(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		a, _, clk := replicas(t, db)
		ctx := context.Background()
		if _, err := a.CreatePrincipal(ctx, ops, "p", app.NewPrincipal{ID: "shop", Roles: []principal.Role{principal.Ecommerce},
			Programmes: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		old, err := a.CreateKey(ctx, ops, "k", "shop", 0)
		if err != nil {
			t.Fatal(err)
		}
		rot, err := a.RotateKey(ctx, ops, "rot", old.Key.ID, time.Hour, 48*time.Hour)
		if err != nil || rot.Previous.ReplacedBy != rot.Key.ID {
			t.Fatalf("rotate: %+v %v", rot, err)
		}
		if _, err := a.RotateKey(ctx, ops, "rot-again", old.Key.ID, 0, 0); err == nil {
			t.Fatal("a rotated key was rotated again")
		}
		clk.advance(59 * time.Minute)
		for _, k := range []string{old.Secret, rot.Secret} {
			if got := reason(a.Authenticate(ctx, k)); got != "ok" {
				t.Fatalf("in the overlap: %s", got)
			}
		}
		clk.advance(2 * time.Minute)
		if got := reason(a.Authenticate(ctx, old.Secret)); got != "expired_key" {
			t.Fatalf("after the overlap, the old key: %s", got)
		}
		clk.advance(48 * time.Hour)
		if got := reason(a.Authenticate(ctx, rot.Secret)); got != "expired_key" {
			t.Fatalf("after its lifetime, the new key: %s", got)
		}
		for key, want := range map[string]string{
			rot.Secret[:len(rot.Secret)-1] + "x":                                "wrong_secret",
			"fk_unknown.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA":            "unknown_key",
			"no-dot-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA": "malformed_key",
		} {
			if got := reason(a.Authenticate(ctx, key)); got != want {
				t.Errorf("%q: %s, want %s", key, got, want)
			}
		}
	})
}
