package app

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// RevokeKey stops a key: at once on this replica, on the others within
// CacheTTL. Revoking a revoked key changes nothing.
func (s *Service) RevokeKey(ctx context.Context, by principal.Principal, key, keyID string) (*domain.Key, error) {
	req, err := revokeKeyRequest(keyID)
	if err != nil {
		return nil, err
	}
	k, err := once(ctx, s, by, key, req, func(ctx context.Context, tx Tx) (*domain.Key, error) {
		k, err := tx.Key(ctx, keyID)
		if err != nil {
			return nil, err
		}
		if k == nil {
			return nil, fault.NotFound(fault.APIKeyNotFound, "API key %s not found", keyID).About(keyType, keyID)
		}
		if k.RevokedAt.IsZero() {
			k.RevokedAt = s.clock()
			if err := tx.EndKey(ctx, k); err != nil {
				return nil, err
			}
		}
		return k, nil
	})
	if err == nil {
		s.forget(keyID, "")
	}
	return k, err
}
