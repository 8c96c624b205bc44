package status

import (
	"context"
	"time"
)

// Rebuild drops the projections and projects every entry again, then
// settles the tiers as of now and replays the RFM runs. The time-driven
// events (expiring points, inactivity, birthdays) are kept. The derived
// events are appended again, with their ids, at new positions: the rebuild
// starts a new epoch of the event stream, whose readers with a cursor of
// the earlier one are refused (CURSOR_STALE) and start again from a time.
func (s *Service) Rebuild(ctx context.Context) error {
	if err := s.store.UpdateProjections(ctx, func(ctx context.Context, tx ProjectionTx) error {
		if _, err := tx.LockStream(ctx); err != nil {
			return err
		}
		return tx.ResetProjections(ctx, s.clock())
	}); err != nil {
		return err
	}
	s.stream.notify() // open streams see the new epoch now
	if _, _, err := s.EvaluateTiers(ctx, time.Time{}); err != nil {
		return err
	}
	runs, err := s.rfmRuns(ctx)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if _, err := s.scoreSegments(ctx, r, false); err != nil {
			return err
		}
	}
	return nil
}

// rfmRuns returns the RFM runs recorded, oldest first.
func (s *Service) rfmRuns(ctx context.Context) ([]RFMRun, error) {
	var runs []RFMRun
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		var err error
		runs, err = tx.RFMRuns(ctx)
		return err
	})
	return runs, err
}
