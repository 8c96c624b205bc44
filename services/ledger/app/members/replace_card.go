package members

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// ReplaceCard replaces one of the member's current cards: the old one
// stops resolving and stays in its identifiers as history; the new one
// resolves. The ledger's pseudonym of the enrolment card stays, so that a
// lost card cannot be enrolled again by someone else.
func (s *Service) ReplaceCard(ctx context.Context, who principal.Principal, key, memberID, oldCard, newCard string) (*Member, error) {
	return s.change(ctx, who, key, "ReplaceCard", memberID, []string{oldCard, newCard}, func(ctx context.Context, tx Tx) error {
		ref, dek, err := s.writable(ctx, tx, who, memberID)
		if err != nil {
			return err
		}
		old, err := tx.ByLookup(ctx, ref.ProgrammeID, s.keys.Lookup(KindCard, oldCard))
		if err != nil {
			return err
		}
		if old == nil || old.MemberID != memberID {
			return fault.NotFound(fault.IdentifierNotFound, "the old card is not a current card of member %s", memberID)
		}
		if err := tx.ReplaceIdentifier(ctx, old.ID, s.now()); err != nil {
			return err
		}
		return s.addIdentifier(ctx, tx, dek, memberID, ref.ProgrammeID, KindCard, newCard)
	})
}
