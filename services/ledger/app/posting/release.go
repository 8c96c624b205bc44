package posting

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Release returns a hold's points.
func (s *Service) Release(ctx context.Context, who principal.Principal, key, holdID string) (*HoldResult, error) {
	return s.holdOp(ctx, "Release", who, key, holdID, 0, func(b *domain.Book, now time.Time) (*HoldResult, error) {
		h, e, err := b.Release(holdID, now)
		if err != nil {
			return nil, err
		}
		return &HoldResult{Hold: h, Entry: e}, nil
	})
}
