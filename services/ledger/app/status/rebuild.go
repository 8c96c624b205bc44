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
	if err := ResetProjections(ctx, s.store, s.clock(), resetChunk, s.stream.notify); err != nil {
		return err
	}
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

// resetChunk bounds the members, and the event positions, one reset
// transaction covers.
const resetChunk = 1000

// ResetProjections drops the projections (not the time-driven events),
// queues every entry for projection again and starts a new epoch of the
// event stream at at, in transactions of at most chunk members or event
// positions, each under the stream lock:
//
//  1. the new epoch (then newEpoch is called: open streams see it);
//  2. the derived events up to the head the epoch started at, chunk
//     positions at a time;
//  3. members in id order, chunk at a time: their statuses, purchases and
//     transitions, and their entries queued again.
//
// Between transactions every member is either as projected before or
// reset (nothing projected, every entry queued), never half of each; the
// projector may project reset members at once, from their first entry, as
// it would after a reset in one transaction. Events it appends meanwhile
// are after the epoch's first head, so step 2 keeps them and re-projection
// does not append them twice (event ids are known).
func ResetProjections(ctx context.Context, st Store, at time.Time, chunk int, newEpoch func()) error {
	var head int64
	if err := st.UpdateProjections(ctx, func(ctx context.Context, tx ProjectionTx) error {
		var err error
		if head, err = tx.LockStream(ctx); err != nil {
			return err
		}
		return tx.NewEpoch(ctx, at)
	}); err != nil {
		return err
	}
	if newEpoch != nil {
		newEpoch()
	}
	for after := int64(0); after < head; {
		var next int64
		if err := st.UpdateProjections(ctx, func(ctx context.Context, tx ProjectionTx) error {
			if _, err := tx.LockStream(ctx); err != nil {
				return err
			}
			var err error
			next, err = tx.DropDerivedEvents(ctx, after, head, chunk)
			return err
		}); err != nil {
			return err
		}
		after = next
	}
	for after := ""; ; {
		var next string
		if err := st.UpdateProjections(ctx, func(ctx context.Context, tx ProjectionTx) error {
			if _, err := tx.LockStream(ctx); err != nil {
				return err
			}
			var err error
			next, err = tx.ResetMembers(ctx, after, chunk)
			return err
		}); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		after = next
	}
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
