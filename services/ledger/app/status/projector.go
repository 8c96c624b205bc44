package status

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/jobs"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// The projections — tier status, purchases, RFM segments, transitions and
// the member event stream — are derived from the ledger's entries. Every
// entry is queued in the outbox in its own transaction; the projector takes
// the members with queued entries, applies their new entries in sequence
// order, and in the same transaction stores the result, the checkpoint
// (member_status.projected_seq) and the events, and clears the outbox rows.
// Rebuild drops the projections and queues every entry again: the result is
// the same, because every decision depends only on the entries, in order.

// projectBatch bounds the members one projection transaction takes.
const projectBatch = 256

// Project drains the outbox: it projects every queued entry and returns how
// many members it projected.
func (s *Service) Project(ctx context.Context) (int, error) {
	total := 0
	for {
		var ids []string
		err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
			var err error
			ids, err = tx.OutboxMembers(ctx, projectBatch)
			return err
		})
		if err != nil || len(ids) == 0 {
			return total, err
		}
		if _, err := s.projectMembers(ctx, ids, time.Time{}); err != nil {
			return total, err
		}
		total += len(ids)
	}
}

// Backlog is what the projector has yet to project: the entries queued,
// and how long the oldest of them has waited (0 when none waits).
type Backlog struct {
	Entries int64
	Behind  time.Duration
}

// Backlog reads the projector's backlog, for its lag metrics.
func (s *Service) Backlog(ctx context.Context) (Backlog, error) {
	var b Backlog
	err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		n, oldest, err := tx.OutboxBacklog(ctx)
		b.Entries = n
		if err == nil && n > 0 {
			b.Behind = max(s.clock().Sub(oldest), 0)
		}
		return err
	})
	return b, err
}

// projectGap is the least time between two projector runs: under load, one
// projection transaction then takes the entries of many commits instead of
// competing with every write batch for the database.
const projectGap = 25 * time.Millisecond

// RunProjector projects queued entries soon after they commit, and at least
// every interval, until ctx ends. Each run also settles the tier validities
// that have ended (EvaluateTiers as of now): the tier that prices purchases
// is then never more than one run stale.
func (s *Service) RunProjector(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	wait := projectGap // grows while runs fail: a conflict backs off, with jitter
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.ledger.Committed():
		}
		err := jobs.Run(ctx, "ledger-projector", func(ctx context.Context) error {
			_, _, err := s.EvaluateTiers(ctx, time.Time{})
			return err
		})
		switch reason := fault.ReasonOf(err); {
		case err == nil:
			wait = projectGap
		case ctx.Err() != nil:
		case reason == fault.DatabaseUnavailable:
			// Logged by the readiness watch.
			wait = min(2*wait, time.Second)
		case reason == fault.TransactionConflict:
			// Write batches kept winning: try again later, not at once.
			wait = min(2*wait, time.Second)
			s.log.WarnContext(ctx, "projection deferred: it kept conflicting with writes", slog.Duration("retry_in", wait))
		default:
			s.log.ErrorContext(ctx, "projection failed", slog.Any("error", err))
		}
		gap.Reset(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			return
		case <-gap.C:
		}
	}
}

// projectMembers projects members' queued entries and, if closeUntil is
// set, settles their tier validities that ended by then.
func (s *Service) projectMembers(ctx context.Context, ids []string, closeUntil time.Time) (int, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	var appended int
	err := s.store.UpdateProjections(ctx, func(ctx context.Context, tx ProjectionTx) error {
		head, err := tx.LockStream(ctx)
		if err != nil {
			return err
		}
		books, err := s.statusBooks(ctx, tx, ids)
		if err != nil {
			return err
		}
		after := map[string]int64{}
		for _, id := range ids {
			after[id] = 0
			if sb := books[id]; sb != nil {
				after[id] = sb.Status.ProjectedSeq
			}
		}
		entries, err := tx.EntriesAfter(ctx, after)
		if err != nil {
			return err
		}
		if err := priorClawbacks(ctx, tx, books, entries); err != nil {
			return err
		}
		w := &StatusWrites{Head: head, At: s.clock()}
		for _, e := range entries {
			sb := books[e.MemberID]
			if sb == nil {
				prog, ok := s.cfg.Programme(e.ProgrammeID)
				if !ok {
					return fmt.Errorf("entry %s: programme %q is not configured", e.ID, e.ProgrammeID)
				}
				sb = domain.NewStatusBook(prog, domain.MemberStatus{MemberID: e.MemberID, ProgrammeID: e.ProgrammeID}, nil)
				sb.New = true
				books[e.MemberID] = sb
			}
			sb.Apply(e)
			w.Projected = append(w.Projected, e.ID)
		}
		for _, id := range slices.Sorted(maps.Keys(books)) {
			sb := books[id]
			if !closeUntil.IsZero() {
				sb.CloseUntil(closeUntil)
			}
			collect(w, sb)
		}
		appended = len(w.Events)
		return tx.SaveStatus(ctx, w)
	})
	if err == nil && appended > 0 {
		s.stream.notify()
	}
	return appended, err
}

// priorClawbacks gives the stored books the clawbacks they projected
// before of the entries that entries claw back: a return is rounded over
// all the returns of its purchase.
func priorClawbacks(ctx context.Context, tx ProjectionTx, books map[string]*domain.StatusBook, entries []*domain.Entry) error {
	loaded := map[string]bool{}
	for _, e := range entries {
		sb := books[e.MemberID]
		if e.Kind != domain.EntryClawback || sb == nil || loaded[e.ReversesEntryID] {
			continue
		}
		loaded[e.ReversesEntryID] = true
		cs, err := tx.Clawbacks(ctx, e.ReversesEntryID)
		if err != nil {
			return fmt.Errorf("clawbacks of %s: %w", e.ReversesEntryID, err)
		}
		sb.AddClawbacks(cs)
	}
	return nil
}

// statusBooks loads the stored status of members (none for members never
// projected).
func (s *Service) statusBooks(ctx context.Context, tx statusReads, ids []string) (map[string]*domain.StatusBook, error) {
	statuses, err := tx.Statuses(ctx, ids)
	if err != nil {
		return nil, err
	}
	purchases, err := tx.Purchases(ctx, slices.Collect(maps.Keys(statuses)))
	if err != nil {
		return nil, err
	}
	books := map[string]*domain.StatusBook{}
	for id, st := range statuses {
		prog, ok := s.cfg.Programme(st.ProgrammeID)
		if !ok {
			return nil, fmt.Errorf("member %s: programme %q is not configured", id, st.ProgrammeID)
		}
		books[id] = domain.NewStatusBook(prog, *st, purchases[id])
	}
	return books, nil
}

// collect adds what a status book changed to the writes.
func collect(w *StatusWrites, sb *domain.StatusBook) {
	st := sb.Status
	if sb.New {
		w.NewStatuses = append(w.NewStatuses, &st)
	} else {
		w.Statuses = append(w.Statuses, &st)
	}
	for _, p := range sb.NewPurchases {
		w.Purchases = append(w.Purchases, MemberPurchase{MemberID: st.MemberID, ProgrammeID: st.ProgrammeID, Purchase: p})
	}
	w.Transitions = append(w.Transitions, sb.NewTransitions...)
	w.Events = append(w.Events, sb.NewEvents...)
}
