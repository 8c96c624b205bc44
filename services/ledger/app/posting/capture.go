package posting

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Capture burns all (points == 0) or part of a hold and releases the rest.
func (s *Service) Capture(ctx context.Context, who principal.Principal, key, holdID string, points int64) (*HoldResult, error) {
	return s.holdOp(ctx, "Capture", who, key, holdID, points, func(b *domain.Book, now time.Time) (*HoldResult, error) {
		h, e, rel, err := b.Capture(holdID, points, now)
		if err != nil {
			return nil, err
		}
		return &HoldResult{Hold: h, Entry: e, Release: rel}, nil
	})
}
