package posting

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Balance is a member's balances as of a time.
type Balance struct {
	MemberID        string
	Available       int64
	Pending         int64
	Held            int64
	LifetimeEarned  int64
	LifetimeBurned  int64
	Expiring        []domain.Scheduled
	PendingSchedule []domain.Scheduled
	AsOf            time.Time
}

// balanceOf reports a Book's balances; the expiry and pending schedules come
// with GetBalance only, which loads the lots.
func balanceOf(b *domain.Book, now time.Time) Balance {
	m := b.Member
	return Balance{
		MemberID: m.ID, Available: m.Available, Pending: m.Pending, Held: m.Held,
		LifetimeEarned: m.LifetimeEarned, LifetimeBurned: m.LifetimeBurned, AsOf: now,
	}
}

func fullBalanceOf(b *domain.Book, now time.Time) *Balance {
	v := balanceOf(b, now)
	v.Expiring, v.PendingSchedule = b.ExpirySchedule(), b.PendingSchedule()
	return &v
}

// Balance returns a member's balances and schedules now, settling first
// what is due.
func (s *Service) Balance(ctx context.Context, who principal.Principal, memberID string) (*Balance, error) {
	var bal *Balance
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		u := s.newUOW(tx, s.clock())
		if err := u.load(ctx, []string{memberID}, false); err != nil {
			return err
		}
		b, ok := u.books[memberID]
		if !ok {
			return fault.NotFound(fault.MemberNotFound, "member %s not found", memberID)
		}
		if err := who.CheckProgramme(b.Member.ProgrammeID); err != nil {
			return err
		}
		if !b.Member.Due(u.now) {
			if err := u.loadLots(ctx, []*domain.Book{b}); err != nil {
				return err
			}
			bal = fullBalanceOf(b, u.now)
		}
		return nil
	})
	if err != nil || bal != nil {
		return bal, err
	}
	return submit(ctx, s, call{method: "Settle", member: memberID, needLots: true}, func(ctx context.Context, u *uow) (*Balance, error) {
		b, err := u.member(ctx, who, memberID, true)
		if err != nil {
			return nil, err
		}
		return fullBalanceOf(b, u.now), nil
	})
}
