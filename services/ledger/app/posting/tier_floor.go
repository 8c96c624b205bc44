package posting

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// SetTierFloor records a manual tier floor ("" clears it) as a ledger
// entry naming who.Actor() as its operator. The status projection applies
// it (see status.Service.SetTierFloor).
func (s *Service) SetTierFloor(ctx context.Context, who principal.Principal, key, memberID, tier, reason string) (*EntryResult, error) {
	return submit(ctx, s, call{method: "SetTierFloor", who: who, key: key, form: tierFloorForm(memberID, tier, reason), member: memberID},
		func(ctx context.Context, u *uow) (*EntryResult, error) {
			return u.entryOp(ctx, who, memberID, false, func(b *domain.Book) (*domain.Entry, error) {
				return b.SetTierFloor(tier, reason, who.Actor(), u.now)
			})
		})
}
