// Package domain holds the access service's rules: API keys (their
// format, generation, hashing and life cycle) and audit decisions. It does
// no I/O.
package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// A key is "<key id>.<secret>". The id is public (it names the key in
// lists and audit); the secret is 32 random bytes, so its SHA-256 is all
// that needs keeping: nobody can search 2^256 secrets, and there is no
// password to stretch.
const (
	keyIDPrefix = "fk_"
	secretBytes = 32
)

// validKeyID accepts the ids Fidelis makes and partners' keys of before
// access control (their partner id, a UUID): 1 to 64 of A-Z a-z 0-9 _ -.
// (A loop, not a regexp: it runs on every call.)
func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// NewKey makes a key: its id, the full key to hand out once, and the hash
// to keep.
func NewKey() (id, key string, hash []byte, err error) {
	var raw [12 + secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", nil, fmt.Errorf("new key: %w", err)
	}
	id = keyIDPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:12]))
	secret := base64.RawURLEncoding.EncodeToString(raw[12:])
	return id, id + "." + secret, HashSecret(secret), nil
}

// ParseKey splits a presented key into its id and secret.
func ParseKey(key string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(key, ".")
	if !ok || !validKeyID(id) || len(secret) < 32 || len(secret) > 128 {
		return "", "", false
	}
	return id, secret, true
}

// HashSecret is what is kept of a secret.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Key is an API key as stored: never its secret.
type Key struct {
	ID          string
	PrincipalID string
	Hash        []byte
	CreatedAt   time.Time
	CreatedBy   string
	// ExpiresAt is zero for a key that does not expire.
	ExpiresAt time.Time
	RevokedAt time.Time
	// ReplacedBy is the key a rotation made in its place.
	ReplacedBy string
}

// State is whether a key works.
type State int

// The states of a key.
const (
	Active State = iota + 1
	Expired
	Revoked
)

// State is the key's state at a time.
func (k *Key) State(now time.Time) State {
	switch {
	case !k.RevokedAt.IsZero():
		return Revoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return Expired
	}
	return Active
}

// Matches checks a presented secret against the key in constant time.
func (k *Key) Matches(secret string) bool {
	h := HashSecret(secret)
	return len(k.Hash) == len(h) && subtle.ConstantTimeCompare(h, k.Hash) == 1
}

// Reasons an authentication fails, as counted per client address.
const (
	FailMissing       = "missing_credentials"
	FailMalformed     = "malformed_key"
	FailUnknownKey    = "unknown_key"
	FailWrongSecret   = "wrong_secret"
	FailExpired       = "expired_key"
	FailRevoked       = "revoked_key"
	FailUnknownCert   = "unknown_certificate"
	FailRateLimited   = "rate_limited"
	FailNoPrincipal   = "unknown_principal"
	FailBadDelegation = "bad_delegation"
)

// MaxTTL bounds a key's lifetime and MaxOverlap a rotation's overlap.
const (
	MaxTTL     = 2 * 365 * 24 * time.Hour
	MaxOverlap = 30 * 24 * time.Hour
)

// DefaultLimits are a new principal's limits, by its most trusted role: a
// POS or e-commerce principal may give a goodwill gesture, an operator a
// large correction, a service whatever the API allows, at a rate no caller
// reaches (it carries its callers' calls); the others the server's rate.
func DefaultLimits(roles []principal.Role) principal.Limits {
	var l principal.Limits
	for _, r := range roles {
		var earn, adjust, rate int64
		switch r {
		case principal.POS, principal.Ecommerce:
			earn = 1_000
		case principal.Operator:
			earn, adjust = 100_000, 100_000
		case principal.Service:
			earn, adjust, rate = 1_000_000_000, 1_000_000_000, 1_000_000
		}
		l.MaxEarnPoints = max(l.MaxEarnPoints, earn)
		l.MaxAdjustPoints = max(l.MaxAdjustPoints, adjust)
		l.RatePerSecond = max(l.RatePerSecond, rate)
	}
	return l
}
