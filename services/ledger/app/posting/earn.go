package posting

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// EntryResult is the reply to a mutation that wrote one entry.
type EntryResult struct {
	Entry   *domain.Entry
	Balance Balance
}

// Earn credits points.
func (s *Service) Earn(ctx context.Context, who principal.Principal, key, memberID string, c domain.EarnCmd) (*EntryResult, error) {
	c.OccurredAt = domain.Micro(c.OccurredAt)
	needLots := false
	return submit(ctx, s, call{method: "Earn", who: who, key: key, form: earnForm(memberID, c), member: memberID, needLots: needLots},
		func(ctx context.Context, u *uow) (*EntryResult, error) {
			return u.entryOp(ctx, who, memberID, needLots, func(b *domain.Book) (*domain.Entry, error) {
				if !c.OccurredAt.IsZero() {
					if err := b.Prog.CheckBackdate("occurred_at", c.OccurredAt, u.now, who.Has(principal.Import)); err != nil {
						return nil, err
					}
				}
				return b.Earn(c, u.now)
			})
		})
}

func (u *uow) entryOp(ctx context.Context, who principal.Principal, memberID string, needLots bool, f func(*domain.Book) (*domain.Entry, error)) (*EntryResult, error) {
	b, err := u.member(ctx, who, memberID, needLots)
	if err != nil {
		return nil, err
	}
	e, err := f(b)
	if err != nil {
		return nil, err
	}
	if err := u.settle(ctx, b); err != nil {
		return nil, err
	}
	return &EntryResult{Entry: e, Balance: balanceOf(b, u.now)}, nil
}
