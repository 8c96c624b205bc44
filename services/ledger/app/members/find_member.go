package members

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// FindMember finds a member of a programme by one of its current
// identifiers, through the identifier's lookup hash.
func (s *Service) FindMember(ctx context.Context, who principal.Principal, programmeID, kind, value string) (*Member, error) {
	if err := who.CheckProgramme(programmeID); err != nil {
		return nil, err
	}
	var out *Member
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		id, err := tx.ByLookup(ctx, programmeID, s.keys.Lookup(kind, value))
		if err != nil {
			return err
		}
		if id == nil {
			return fault.NotFound(fault.MemberNotFound, "no member of programme %s has that %s", programmeID, kind)
		}
		ref, err := s.member(ctx, tx, who, id.MemberID)
		if err != nil {
			return err
		}
		out, err = s.read(ctx, tx, id.MemberID, ref)
		return err
	})
	return out, err
}
