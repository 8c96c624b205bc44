package posting

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Adjust credits or debits points by hand.
func (s *Service) Adjust(ctx context.Context, who principal.Principal, key, memberID string, c domain.AdjustCmd) (*EntryResult, error) {
	needLots := c.Points < 0
	return submit(ctx, s, call{method: "Adjust", who: who, key: key, form: adjustForm(memberID, c), member: memberID, needLots: needLots},
		func(ctx context.Context, u *uow) (*EntryResult, error) {
			return u.entryOp(ctx, who, memberID, needLots, func(b *domain.Book) (*domain.Entry, error) { return b.Adjust(c, u.now) })
		})
}
