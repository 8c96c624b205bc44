package posting

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// GetHold returns a hold of a member the principal may see, whatever its
// status, as of now (see holdView).
func (s *Service) GetHold(ctx context.Context, who principal.Principal, holdID string) (*domain.Hold, error) {
	var h *domain.Hold
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		found, ok, err := tx.Hold(ctx, holdID)
		if err != nil {
			return err
		}
		if !ok {
			return fault.NotFound(fault.HoldNotFound, "hold %s not found", holdID)
		}
		if _, err := memberOf(ctx, tx, who, found.MemberID); err != nil {
			return err
		}
		h = found
		return nil
	})
	if err != nil {
		return nil, err
	}
	return holdView(h, s.clock()), nil
}

// Holds pages through a member's holds, oldest first, of one status (""
// for any). A page token is bound to the member and the status.
func (s *Service) Holds(ctx context.Context, who principal.Principal, memberID string, status domain.HoldStatus, pageSize int,
	pageToken string) ([]*domain.Hold, string, error) {
	pageSize = paging.Size(pageSize, DefaultPageSize, MaxPageSize)
	scope := paging.Scope("ledger.holds", memberID, string(status))
	pos, err := paging.Position(scope, pageToken)
	if err != nil {
		return nil, "", err
	}
	after, err := readHoldPos(pos)
	if err != nil {
		return nil, "", err
	}
	now := s.clock()
	var holds []*domain.Hold
	err = s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		if _, err := memberOf(ctx, tx, who, memberID); err != nil {
			return err
		}
		holds, err = tx.Holds(ctx, HoldQuery{MemberID: memberID, Status: status, AsOf: now, After: after, Limit: pageSize + 1})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(holds) > pageSize {
		holds = holds[:pageSize]
		last := holds[pageSize-1]
		next = paging.Token(scope, paging.TimeKey(last.CreatedAt, last.ID))
	}
	for i, h := range holds {
		holds[i] = holdView(h, now)
	}
	return holds, next, nil
}

// HoldQuery selects a page of a member's holds, in (CreatedAt, ID) order.
type HoldQuery struct {
	MemberID string
	// Status is the status the holds have as of AsOf ("" for any): an
	// active hold past its expiry is expired, even before the ledger has
	// released it.
	Status domain.HoldStatus
	AsOf   time.Time
	// After is the position to continue after (zero: the first page).
	After HoldPos
	Limit int
}

// HoldPos is a hold's position in a member's holds.
type HoldPos struct {
	CreatedAt time.Time
	ID        string
}

func readHoldPos(pos string) (HoldPos, error) {
	at, id, err := paging.ParseTimeKey(pos)
	return HoldPos{CreatedAt: at, ID: id}, err
}

// holdView is a hold as a reader sees it at now: an active hold past its
// expiry is expired, with its outstanding points released, as the ledger
// will record when it next settles the member.
func holdView(h *domain.Hold, now time.Time) *domain.Hold {
	if h.Status != domain.HoldActive || now.Before(h.ExpiresAt) {
		return h
	}
	v := *h
	v.Released += v.Points - v.Captured - v.Released
	v.Status = domain.HoldExpired
	return &v
}
