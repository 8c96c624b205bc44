package posting

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Burn spends points.
func (s *Service) Burn(ctx context.Context, who principal.Principal, key, memberID string, c domain.BurnCmd) (*EntryResult, error) {
	needLots := true
	return submit(ctx, s, call{method: "Burn", who: who, key: key, form: burnForm(memberID, c), member: memberID, needLots: needLots},
		func(ctx context.Context, u *uow) (*EntryResult, error) {
			return u.entryOp(ctx, who, memberID, needLots, func(b *domain.Book) (*domain.Entry, error) { return b.Burn(c, u.now) })
		})
}
