package posting

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// HoldResult is the reply to Hold, Capture and Release.
type HoldResult struct {
	Hold  *domain.Hold
	Entry *domain.Entry
	// Release is the release of a partial capture's remainder.
	Release *domain.Entry
	Balance Balance
}

// Hold reserves points.
func (s *Service) Hold(ctx context.Context, who principal.Principal, key, memberID string, c domain.HoldCmd) (*HoldResult, error) {
	return submit(ctx, s, call{method: "Hold", who: who, key: key, form: holdForm(memberID, c), member: memberID, needLots: true},
		func(ctx context.Context, u *uow) (*HoldResult, error) {
			b, err := u.member(ctx, who, memberID, true)
			if err != nil {
				return nil, err
			}
			h, e, err := b.Hold(c, u.now)
			if err != nil {
				return nil, err
			}
			return &HoldResult{Hold: h, Entry: e, Balance: balanceOf(b, u.now)}, nil
		})
}

// holdOp runs an operation on a hold (of points, 0 for Release) in its
// member's shard.
func (s *Service) holdOp(ctx context.Context, method string, who principal.Principal, key, holdID string, points int64,
	f func(*domain.Book, time.Time) (*HoldResult, error)) (*HoldResult, error) {
	member, err := s.owner(ctx, holdID, "")
	if err != nil {
		return nil, err
	}
	return submit(ctx, s, call{method: method, who: who, key: key, form: holdOpForm(holdID, points), member: member, needLots: true}, func(ctx context.Context, u *uow) (*HoldResult, error) {
		if member == "" {
			return nil, fault.NotFound(fault.HoldNotFound, "hold %s not found", holdID)
		}
		b, err := u.member(ctx, who, member, true)
		if err != nil {
			return nil, err
		}
		if _, loaded := b.Holds[holdID]; !loaded {
			h, _, err := u.tx.Hold(ctx, holdID)
			if err != nil {
				return nil, err
			}
			b.AddHold(h)
		}
		r, err := f(b, u.now)
		if err != nil {
			return nil, err
		}
		if err := u.settle(ctx, b); err != nil {
			return nil, err
		}
		r.Balance = balanceOf(b, u.now)
		return r, nil
	})
}
