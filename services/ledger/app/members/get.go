package members

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// Get is a member's personal data; an erased member's is empty.
func (s *Service) Get(ctx context.Context, who principal.Principal, memberID string) (*Member, error) {
	var out *Member
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		ref, err := s.member(ctx, tx, who, memberID)
		if err != nil {
			return err
		}
		out, err = s.read(ctx, tx, memberID, ref)
		return err
	})
	return out, err
}

// Card is the member's first current card ("" if none), and its birth
// date: what LedgerService's Member shows as its external ref and birth
// date.
func (m *Member) Card() string {
	for _, id := range m.Identifiers {
		if id.Kind == KindCard && id.ReplacedAt.IsZero() {
			return id.Value
		}
	}
	return ""
}
