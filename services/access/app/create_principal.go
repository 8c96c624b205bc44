package app

import (
	"context"
	"slices"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// NewPrincipal is a principal to register; nil Limits take the defaults
// of its roles (domain.DefaultLimits).
type NewPrincipal struct {
	ID         string
	Roles      []principal.Role
	Programmes []string
	Limits     *principal.Limits
}

func (n NewPrincipal) principal() principal.Principal {
	p := principal.Principal{ID: n.ID, Roles: slices.Clone(n.Roles), Programmes: slices.Clone(n.Programmes)}
	slices.Sort(p.Roles)
	p.Roles = slices.Compact(p.Roles)
	slices.Sort(p.Programmes)
	p.Programmes = slices.Compact(p.Programmes)
	if n.Limits != nil {
		p.Limits = *n.Limits
	} else {
		p.Limits = domain.DefaultLimits(p.Roles)
	}
	return p
}

// CreatePrincipal registers a principal. Partner principals are made by
// the partners service with their partner (IssuePartnerKey).
func (s *Service) CreatePrincipal(ctx context.Context, by principal.Principal, key string, n NewPrincipal) (*domain.Principal, error) {
	p := n.principal()
	if err := p.Validate(); err != nil {
		return nil, fault.Invalid("principal", "%v", err)
	}
	if p.Has(principal.Partner) {
		return nil, fault.Invalid("principal.roles", "partner principals are made with their partner (PartnerAdminService.CreatePartner)")
	}
	req, err := createPrincipalRequest(n)
	if err != nil {
		return nil, err
	}
	return once(ctx, s, by, key, req, func(ctx context.Context, tx Tx) (*domain.Principal, error) {
		return s.insertPrincipal(ctx, tx, by, p)
	})
}

func (s *Service) insertPrincipal(ctx context.Context, tx Principals, by principal.Principal, p principal.Principal) (*domain.Principal, error) {
	old, err := tx.Principal(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	if old != nil {
		return nil, fault.Exists(fault.PrincipalAlreadyExists, "principal %s already exists", p.ID).About(principalType, p.ID)
	}
	now := s.clock()
	rec := &domain.Principal{Principal: p, CreatedAt: now, CreatedBy: by.Actor(), UpdatedAt: now}
	if err := tx.InsertPrincipal(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// Principal returns a registered principal.
func (s *Service) Principal(ctx context.Context, id string) (*domain.Principal, error) {
	var p *domain.Principal
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if p, err = tx.Principal(ctx, id); err == nil && p == nil {
			err = fault.NotFound(fault.PrincipalNotFound, "principal %s not found", id).About(principalType, id)
		}
		return err
	})
	return p, err
}
