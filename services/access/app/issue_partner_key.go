package app

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// IssuePartnerKey gives a partner company a key: its principal
// ("partner:<partner id>", role partner, bound to the partner's programme)
// is made if missing, and the principal's other keys stop after overlap.
// Partners use the same keys as everyone else. It runs once per
// (by, requestKey): the partners service passes its own request's key, so
// that a retried CreatePartner or RotatePartnerKey makes no second key (and
// replays this one without its secret), while a retry after a crash
// between the partner's row and its key makes the key.
func (s *Service) IssuePartnerKey(ctx context.Context, by principal.Principal, requestKey, partnerID, programmeID string,
	overlap time.Duration) (*KeyResult, error) {
	if overlap < 0 || overlap > domain.MaxOverlap {
		return nil, fault.Invalid("overlap", "must be between 0 and %s", domain.MaxOverlap)
	}
	req, err := issuePartnerKeyRequest(partnerID, programmeID, overlap)
	if err != nil {
		return nil, err
	}
	k := idem.Key{Caller: by.ID + "#partners", Key: requestKey}
	r, err := idem.Run(ctx, s.flow, k, req, nil,
		func(ctx context.Context, tx Tx) (*KeyResult, error) {
			id := domain.PartnerPrincipalID(partnerID)
			p, err := tx.Principal(ctx, id)
			if err != nil {
				return nil, err
			}
			if p == nil {
				np := principal.Principal{ID: id, Roles: []principal.Role{principal.Partner}, Programmes: []string{programmeID}, PartnerID: partnerID}
				if err := np.Validate(); err != nil {
					return nil, fault.Invalid("programme_id", "%v", err)
				}
				if _, err := s.insertPrincipal(ctx, tx, by, np); err != nil {
					return nil, err
				}
			}
			made, err := s.insertKey(ctx, tx, by, id, 0)
			if err != nil {
				return nil, err
			}
			olds, err := tx.Keys(ctx, id, nil, 1000)
			if err != nil {
				return nil, err
			}
			for _, old := range olds {
				if old.ID == made.Key.ID || old.State(made.Key.CreatedAt) != domain.Active {
					continue
				}
				if err := retire(ctx, tx, old, made.Key, overlap); err != nil {
					return nil, err
				}
				made.Previous = old
			}
			return made, nil
		})
	if err == nil {
		s.forget("", domain.PartnerPrincipalID(partnerID))
	}
	return r, err
}
