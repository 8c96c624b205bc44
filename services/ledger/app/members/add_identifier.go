package members

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// AddIdentifier gives the member another card or app id.
func (s *Service) AddIdentifier(ctx context.Context, who principal.Principal, key, memberID, kind, value string) (*Member, error) {
	if kind != KindCard && kind != KindApp {
		return nil, fault.Invalid("kind", "only cards and app ids are added; e-mail addresses and phone numbers are the profile's")
	}
	return s.change(ctx, who, key, "AddIdentifier", memberID, []string{kind, value}, func(ctx context.Context, tx Tx) error {
		ref, dek, err := s.writable(ctx, tx, who, memberID)
		if err != nil {
			return err
		}
		return s.addIdentifier(ctx, tx, dek, memberID, ref.ProgrammeID, kind, value)
	})
}
