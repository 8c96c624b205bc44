package posting

import (
	"context"
	"sync"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/progress"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// ExpiryRun counts what RunExpiry did.
type ExpiryRun struct {
	Members int64
	domain.SettleResult
}

// RunExpiry settles, as of asOf, every member with something due: expired
// holds, ended return windows, expired lots. It is safe to run repeatedly.
func (s *Service) RunExpiry(ctx context.Context, asOf time.Time, programmeID string) (ExpiryRun, error) {
	var run ExpiryRun
	now := s.clock()
	if asOf.IsZero() {
		asOf = now
	}
	asOf = domain.Micro(asOf)
	if asOf.After(now) {
		return run, fault.Invalid("as_of", "is in the future")
	}
	if programmeID != "" {
		if _, ok := s.cfg.Programme(programmeID); !ok {
			return run, fault.NotFound(fault.ProgrammeNotFound, "programme %q not found", programmeID)
		}
	}
	after := ""
	for {
		var ids []string
		err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
			var err error
			ids, err = tx.DueMembers(ctx, programmeID, asOf, after, 512)
			return err
		})
		if err != nil {
			return run, err
		}
		if len(ids) == 0 {
			return run, nil
		}
		results := make([]domain.SettleResult, len(ids))
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				results[i], errs[i] = submit(ctx, s, call{method: "Settle", member: id, needLots: true},
					func(ctx context.Context, u *uow) (domain.SettleResult, error) {
						b, err := u.touch(ctx, id)
						if err != nil {
							return domain.SettleResult{}, err
						}
						if !b.LotsLoaded {
							if err := u.loadLots(ctx, []*domain.Book{b}); err != nil {
								return domain.SettleResult{}, err
							}
						}
						return b.Settle(asOf, u.now), nil
					})
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil {
				return run, errs[i]
			}
			r := results[i]
			run.Members++
			run.HoldsExpired += r.HoldsExpired
			run.PendingReleased += r.PendingReleased
			run.LotsExpired += r.LotsExpired
			run.PointsExpired += r.PointsExpired
		}
		progress.Report(ctx, run.Members)
		after = ids[len(ids)-1]
	}
}
