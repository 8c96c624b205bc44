package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

func TestKeys(t *testing.T) {
	id, key, hash, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	gotID, secret, ok := ParseKey(key)
	if !ok || gotID != id || !strings.HasPrefix(id, "fk_") {
		t.Fatalf("key %q: id %q, parsed %q %v", key, id, gotID, ok)
	}
	k := &Key{ID: id, Hash: hash}
	if !k.Matches(secret) || k.Matches(secret[:len(secret)-1]+"x") || k.Matches("") {
		t.Fatal("a key's secret does not match, or a wrong one does")
	}
	if strings.Contains(string(hash), secret) || len(secret) < 43 {
		t.Fatalf("hash leaks the secret, or the secret is short: %q", secret)
	}
	_, other, _, _ := NewKey()
	if other == key {
		t.Fatal("two keys are the same")
	}
	for _, bad := range []string{"", "nodot", "id.short", ".0123456789012345678901234567890123456789", "a b." + secret, id + "." + strings.Repeat("x", 200)} {
		if _, _, ok := ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	// Partners' keys from before access control: "<partner uuid>.<secret>".
	if id, _, ok := ParseKey("0191d6a2-7c3e-7b1a-9d2e-4f5a6b7c8d9e." + secret); !ok || id != "0191d6a2-7c3e-7b1a-9d2e-4f5a6b7c8d9e" {
		t.Fatal("a partner's key of before does not parse")
	}
}

func TestKeyState(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	k := &Key{}
	if k.State(now) != Active {
		t.Fatal("a key without expiry is not active")
	}
	k.ExpiresAt = now
	if k.State(now) != Expired || k.State(now.Add(-time.Microsecond)) != Active {
		t.Fatal("expiry is not at ExpiresAt")
	}
	k.RevokedAt = now.Add(-time.Hour)
	if k.State(now.Add(-2*time.Hour)) != Revoked {
		t.Fatal("a revoked key is not revoked")
	}
}

func TestDefaultLimits(t *testing.T) {
	pos := DefaultLimits([]principal.Role{principal.POS})
	op := DefaultLimits([]principal.Role{principal.Operator, principal.BI})
	bi := DefaultLimits([]principal.Role{principal.BI})
	if pos.MaxEarnPoints == 0 || pos.MaxAdjustPoints != 0 || op.MaxAdjustPoints == 0 || bi != (principal.Limits{}) {
		t.Fatalf("limits: pos %+v, operator %+v, bi %+v", pos, op, bi)
	}
}
