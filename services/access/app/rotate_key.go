package app

import (
	"context"
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// RotateKey makes a new key for the principal of keyID; the old key keeps
// working for overlap (0: it stops at once), so that clients can switch
// over without an outage.
func (s *Service) RotateKey(ctx context.Context, by principal.Principal, key, keyID string, overlap, ttl time.Duration) (*KeyResult, error) {
	if overlap < 0 || overlap > domain.MaxOverlap {
		return nil, fault.Invalid("overlap", "must be between 0 and %s", domain.MaxOverlap)
	}
	if err := checkTTL("ttl", ttl); err != nil {
		return nil, err
	}
	req, err := rotateKeyRequest(keyID, overlap, ttl)
	if err != nil {
		return nil, err
	}
	r, err := once(ctx, s, by, key, req, func(ctx context.Context, tx Tx) (*KeyResult, error) {
		old, err := tx.Key(ctx, keyID)
		if err != nil {
			return nil, err
		}
		if old == nil {
			return nil, fault.NotFound(fault.APIKeyNotFound, "API key %s not found", keyID).About(keyType, keyID)
		}
		if old.ReplacedBy != "" {
			return nil, fault.Precondition(fault.APIKeyAlreadyRotated, "API key %s was already rotated to %s", keyID, old.ReplacedBy).
				About(keyType, keyID).With("replaced_by", old.ReplacedBy)
		}
		if st := old.State(s.now()); st != domain.Active {
			return nil, fault.Precondition(fault.APIKeyNotActive, "API key %s is %s: make a new key instead", keyID, stateName(st)).
				About(keyType, keyID).With("state", "API_KEY_STATE_"+strings.ToUpper(stateName(st)))
		}
		made, err := s.insertKey(ctx, tx, by, old.PrincipalID, ttl)
		if err != nil {
			return nil, err
		}
		made.Previous = old
		return made, retire(ctx, tx, old, made.Key, overlap)
	})
	if err == nil {
		s.forget(keyID, "")
	}
	return r, err
}

// retire lets a key work for overlap after its successor was made (or
// until it expires, if sooner), and names the successor.
func retire(ctx context.Context, tx Keys, old, successor *domain.Key, overlap time.Duration) error {
	if end := successor.CreatedAt.Add(overlap); old.ExpiresAt.IsZero() || end.Before(old.ExpiresAt) {
		old.ExpiresAt = end
	}
	if old.ReplacedBy == "" {
		old.ReplacedBy = successor.ID
	}
	return tx.EndKey(ctx, old)
}

func stateName(st domain.State) string {
	switch st {
	case domain.Expired:
		return "expired"
	case domain.Revoked:
		return "revoked"
	}
	return "active"
}
