package posting

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Member returns a member.
func (s *Service) Member(ctx context.Context, who principal.Principal, memberID string) (*domain.Member, error) {
	var m *domain.Member
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		var err error
		m, err = memberOf(ctx, tx, who, memberID)
		return err
	})
	return m, err
}

// memberOf reads a member the principal may see.
func memberOf(ctx context.Context, tx Books, who principal.Principal, memberID string) (*domain.Member, error) {
	ms, err := tx.Members(ctx, []string{memberID}, false)
	if err != nil {
		return nil, err
	}
	m := ms[memberID]
	if m == nil {
		return nil, fault.NotFound(fault.MemberNotFound, "member %s not found", memberID)
	}
	return m, who.CheckProgramme(m.ProgrammeID)
}

// FindMember finds a member of a programme by external ref.
func (s *Service) FindMember(ctx context.Context, who principal.Principal, programmeID, ref string) (*domain.Member, error) {
	if err := who.CheckProgramme(programmeID); err != nil {
		return nil, err
	}
	var id string
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		var ok bool
		var err error
		if id, ok, err = tx.MemberIDByRef(ctx, programmeID, ref); err == nil && !ok {
			err = fault.NotFound(fault.MemberNotFound, "no member of programme %q has external ref %q", programmeID, ref)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Member(ctx, who, id)
}

// owner is the member a hold (holdID) or an entry (entryID) belongs to,
// "" when there is none: the operation then refuses it NotFound in its
// shard, where the refusal is stored under its key like any other.
func (s *Service) owner(ctx context.Context, holdID, entryID string) (string, error) {
	var member string
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		if holdID != "" {
			h, ok, err := tx.Hold(ctx, holdID)
			if ok {
				member = h.MemberID
			}
			return err
		}
		e, ok, err := tx.Entry(ctx, entryID)
		if ok {
			member = e.MemberID
		}
		return err
	})
	return member, err
}
