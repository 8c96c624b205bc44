package app

import (
	"context"
	"slices"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// PrincipalUpdate names what to change of a principal; nil fields stay.
type PrincipalUpdate struct {
	ID         string
	Roles      []principal.Role
	Programmes []string
	Limits     *principal.Limits
}

// UpdatePrincipal changes a principal's roles, programmes or limits. This
// replica applies the change at once, the others within CacheTTL. A
// partner principal's roles and programmes follow its partner and do not
// change here.
func (s *Service) UpdatePrincipal(ctx context.Context, by principal.Principal, key string, u PrincipalUpdate) (*domain.Principal, error) {
	req, err := updatePrincipalRequest(u)
	if err != nil {
		return nil, err
	}
	p, err := once(ctx, s, by, key, req, func(ctx context.Context, tx Tx) (*domain.Principal, error) {
		p, err := tx.Principal(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, fault.NotFound(fault.PrincipalNotFound, "principal %s not found", u.ID).About(principalType, u.ID)
		}
		if p.Has(principal.Partner) && (u.Roles != nil || u.Programmes != nil) {
			return nil, fault.Precondition(fault.PrincipalOfPartner, "principal %s is a partner's: its roles and programme follow the partner", p.ID).About(principalType, p.ID)
		}
		next := NewPrincipal{ID: p.ID, Roles: p.Roles, Programmes: p.Programmes, Limits: &p.Limits}
		if u.Roles != nil {
			next.Roles = u.Roles
		}
		if u.Programmes != nil {
			next.Programmes = u.Programmes
		}
		if u.Limits != nil {
			next.Limits = u.Limits
		}
		np := next.principal()
		np.PartnerID = p.PartnerID
		if err := np.Validate(); err != nil {
			return nil, fault.Invalid("principal", "%v", err)
		}
		if np.Has(principal.Partner) != p.Has(principal.Partner) {
			return nil, fault.Invalid("principal.roles", "the partner role goes with a partner (PartnerAdminService.CreatePartner)")
		}
		p.Principal, p.UpdatedAt = np, s.clock()
		p.Roles, p.Programmes = slices.Clip(p.Roles), slices.Clip(p.Programmes)
		return p, tx.UpdatePrincipal(ctx, p)
	})
	if err == nil {
		s.forget("", u.ID)
	}
	return p, err
}

// Principals pages through the principals in id order.
func (s *Service) Principals(ctx context.Context, pageToken string, size int) ([]*domain.Principal, string, error) {
	return listPage(ctx, s, paging.Scope("access.principals"), pageToken, size, func(ctx context.Context, tx Tx, after string, limit int) ([]*domain.Principal, error) {
		return tx.Principals(ctx, after, limit)
	}, func(p *domain.Principal) string { return p.ID })
}
