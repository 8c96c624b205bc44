package posting

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Reversal is a request to reverse an entry.
type Reversal struct {
	EntryID string
	Portion domain.Portion
	Reason  string
	Channel domain.Channel
	StoreID string
}

// Reverse claws back an earn or refunds a burn or capture.
func (s *Service) Reverse(ctx context.Context, who principal.Principal, key string, r Reversal) (*EntryResult, error) {
	member, err := s.owner(ctx, "", r.EntryID)
	if err != nil {
		return nil, err
	}
	return submit(ctx, s, call{method: "Reverse", who: who, key: key, form: reverseForm(r), member: member, needLots: true}, func(ctx context.Context, u *uow) (*EntryResult, error) {
		if member == "" {
			return nil, fault.NotFound(fault.EntryNotFound, "entry %s not found", r.EntryID)
		}
		return u.entryOp(ctx, who, member, true, func(b *domain.Book) (*domain.Entry, error) {
			c, err := u.reversal(ctx, b, r)
			if err != nil {
				return nil, err
			}
			return b.Reverse(c, u.now)
		})
	})
}

// reversal loads what reversing an entry needs into its member's Book.
func (u *uow) reversal(ctx context.Context, b *domain.Book, r Reversal) (domain.ReverseCmd, error) {
	c := domain.ReverseCmd{Portion: r.Portion, Reason: r.Reason, Channel: r.Channel, StoreID: r.StoreID}
	orig, _, err := u.tx.Entry(ctx, r.EntryID)
	if err != nil {
		return c, err
	}
	c.Original = orig
	switch orig.Kind {
	case domain.EntryEarn:
		if c.Prior, err = u.tx.Clawbacks(ctx, orig.ID); err != nil {
			return c, err
		}
		lots, err := u.tx.LotsBySource(ctx, orig.ID)
		if err != nil {
			return c, err
		}
		b.AddLots(lots)
	case domain.EntryBurn, domain.EntryCapture:
		origin := orig.ID
		if orig.Kind == domain.EntryCapture {
			h, ok := b.Holds[orig.HoldID]
			if !ok {
				if h, _, err = u.tx.Hold(ctx, orig.HoldID); err != nil {
					return c, err
				}
				b.AddHold(h)
			}
			origin = h.EntryID
		}
		if !b.HasOrigin(origin) {
			if err := u.loadOrigins(ctx, map[string]*domain.Book{origin: b}); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}
