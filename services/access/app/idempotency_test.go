package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// A refusal (no such principal) is the reply to its key even once the
// principal exists; a new key makes the key.
func TestRefusalsAreReplayed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		a, _, _ := replicas(t, db)
		ctx := context.Background()
		_, first := a.CreateKey(ctx, ops, "k1", "shop", 0)
		if e, ok := fault.As(first); !ok || e.Kind != fault.KindNotFound {
			t.Fatalf("a key for no principal: %v", first)
		}
		if _, err := a.CreatePrincipal(ctx, ops, "p1", app.NewPrincipal{ID: "shop", Roles: []principal.Role{principal.Ecommerce},
			Programmes: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		_, again := a.CreateKey(ctx, ops, "k1", "shop", 0)
		if g, w := again.(*fault.Error), first.(*fault.Error); !reflect.DeepEqual(g, w) {
			t.Fatalf("the retry: %v, want %v", again, first)
		}
		if k, err := a.CreateKey(ctx, ops, "k2", "shop", 0); err != nil || k.Secret == "" {
			t.Fatalf("a new key: %+v %v", k, err)
		}
	})
}

// A record written before hash versions existed (no hash_version: the
// column's default, 1) still replays: its hash is the one version 1 forms
// compute, its reply decodes.
func TestRecordsOfTheEarlierReleaseReplay(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		a, _, _ := replicas(t, db)
		ctx := context.Background()
		legacy := struct {
			PrincipalID string
			TTL         time.Duration
		}{"shop", 0}
		body, _ := json.Marshal(legacy)
		hash := sha256.Sum256(append([]byte("CreateKey\x00"), body...))
		reply := `{"Result":{"Key":{"ID":"fk_before","PrincipalID":"shop","Hash":null,"CreatedAt":"2026-12-04T09:00:00Z",` +
			`"CreatedBy":"test-ops","ExpiresAt":"0001-01-01T00:00:00Z","RevokedAt":"0001-01-01T00:00:00Z","ReplacedBy":""}}}`
		if _, err := db.ExecContext(ctx, `INSERT INTO access_idempotency (caller, idem_key, method, request_hash, subject_id, response, created_at)
			VALUES ($1, $2, $3, $4, '', $5, $6)`, ops.ID, "k-before", "CreateKey", hash[:], []byte(reply),
			time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC).UnixMicro()); err != nil {
			t.Fatal(err)
		}
		k, err := a.CreateKey(ctx, ops, "k-before", "shop", 0)
		if err != nil || k.Key.ID != "fk_before" || k.Secret != "" {
			t.Fatalf("replay of the earlier record: %+v %v", k, err)
		}
		_, err = a.CreateKey(ctx, ops, "k-before", "shop", time.Hour)
		if err == nil || !strings.Contains(err.Error(), "different request") {
			t.Fatalf("another request with its key: %v", err)
		}
	})
}

// Keys older than the retention are purged; younger ones stay.
func TestPurgeKeys(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		a, _, clk := replicas(t, db)
		ctx := context.Background()
		if _, err := a.CreatePrincipal(ctx, ops, "p1", app.NewPrincipal{ID: "shop", Roles: []principal.Role{principal.Ecommerce},
			Programmes: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		clk.advance(app.KeyRetention())
		if _, err := a.CreateKey(ctx, ops, "k1", "shop", 0); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Microsecond)
		if n, err := a.PurgeKeys(ctx); err != nil || n != 1 {
			t.Fatalf("purged %d %v, want p1's record", n, err)
		}
		if k, err := a.CreateKey(ctx, ops, "k1", "shop", 0); err != nil || k.Secret != "" {
			t.Fatalf("k1 after the purge: %+v %v, want its replay", k, err)
		}
	})
}
