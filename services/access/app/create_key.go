package app

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// KeyResult is a key made: Secret, the whole key to send, is in this
// reply only (never stored, so a replayed reply has none).
type KeyResult struct {
	Key *domain.Key
	// Previous is the key a rotation replaced.
	Previous *domain.Key `json:",omitempty"`
	Secret   string      `json:"-"`
}

// CreateKey makes a key for a principal; with ttl > 0 it expires then.
func (s *Service) CreateKey(ctx context.Context, by principal.Principal, key, principalID string, ttl time.Duration) (*KeyResult, error) {
	if err := checkTTL("ttl", ttl); err != nil {
		return nil, err
	}
	req, err := createKeyRequest(principalID, ttl)
	if err != nil {
		return nil, err
	}
	return once(ctx, s, by, key, req, func(ctx context.Context, tx Tx) (*KeyResult, error) {
		p, err := tx.Principal(ctx, principalID)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, fault.NotFound(fault.PrincipalNotFound, "principal %s not found", principalID).About(principalType, principalID)
		}
		return s.insertKey(ctx, tx, by, principalID, ttl)
	})
}

func checkTTL(field string, ttl time.Duration) error {
	if ttl < 0 || ttl > domain.MaxTTL {
		return fault.Invalid(field, "must be between 0 (no expiry) and %s", domain.MaxTTL)
	}
	return nil
}

func (s *Service) insertKey(ctx context.Context, tx Keys, by principal.Principal, principalID string, ttl time.Duration) (*KeyResult, error) {
	id, secret, hash, err := domain.NewKey()
	if err != nil {
		return nil, err
	}
	now := s.clock()
	k := &domain.Key{ID: id, PrincipalID: principalID, Hash: hash, CreatedAt: now, CreatedBy: by.Actor()}
	if ttl > 0 {
		k.ExpiresAt = now.Add(ttl)
	}
	if err := tx.InsertKey(ctx, k); err != nil {
		return nil, err
	}
	return &KeyResult{Key: k, Secret: secret}, nil
}
