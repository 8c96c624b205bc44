package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
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

// streamSignal wakes event-stream readers when events are appended.
type streamSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newStreamSignal() *streamSignal { return &streamSignal{ch: make(chan struct{})} }

// wait returns a channel closed at the next append.
func (s *streamSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *streamSignal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// Project drains the outbox: it projects every queued entry and returns how
// many members it projected.
func (s *Service) Project(ctx context.Context) (int, error) {
	total := 0
	for {
		var ids []string
		err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.committed:
		}
		if _, _, err := s.EvaluateTiers(ctx, time.Time{}); err != nil && ctx.Err() == nil {
			s.log.Error("projection failed", slog.Any("error", err))
		}
		gap.Reset(projectGap)
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
	err := s.store.UpdateProjections(ctx, func(ctx context.Context, tx Tx) error {
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
func priorClawbacks(ctx context.Context, tx Tx, books map[string]*domain.StatusBook, entries []*domain.Entry) error {
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
func (s *Service) statusBooks(ctx context.Context, tx Tx, ids []string) (map[string]*domain.StatusBook, error) {
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

// EvaluateTiers settles, as of asOf, the tiers whose validity has ended:
// members who requalified keep their tier for another window, the others
// drop. It returns the number of tier changes.
func (s *Service) EvaluateTiers(ctx context.Context, asOf time.Time) (members, changes int64, err error) {
	now := s.clock()
	if asOf.IsZero() {
		asOf = now
	}
	if asOf.After(now) {
		return 0, 0, fault.Invalid("as_of", "is in the future")
	}
	if _, err := s.Project(ctx); err != nil {
		return 0, 0, err
	}
	after := ""
	for {
		var ids []string
		err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
			var err error
			ids, err = tx.TierDue(ctx, asOf, after, projectBatch)
			return err
		})
		if err != nil || len(ids) == 0 {
			return members, changes, err
		}
		n, err := s.projectMembers(ctx, ids, asOf)
		if err != nil {
			return members, changes, err
		}
		members += int64(len(ids))
		changes += int64(n)
		after = ids[len(ids)-1]
	}
}

// TierStatus is a member's tier as of now.
type TierStatus struct {
	Status  domain.MemberStatus
	Outlook domain.TierOutlook
	Policy  *domain.TierPolicy
	History []domain.Transition
}

// Tier returns a member's tier status, projecting first what is queued.
func (s *Service) Tier(ctx context.Context, who principal.Principal, memberID string) (*TierStatus, error) {
	m, err := s.Member(ctx, who, memberID)
	if err != nil {
		return nil, err
	}
	prog, _ := s.cfg.Programme(m.ProgrammeID)
	if prog.Tiers == nil {
		return nil, fault.Precondition("programme %s has no tiers", prog.ID)
	}
	now := s.clock()
	if _, err := s.projectMembers(ctx, []string{memberID}, now); err != nil {
		return nil, err
	}
	var ts TierStatus
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		books, err := s.statusBooks(ctx, tx, []string{memberID})
		if err != nil {
			return err
		}
		sb := books[memberID]
		if sb == nil {
			sb = domain.NewStatusBook(prog, domain.MemberStatus{MemberID: memberID, ProgrammeID: prog.ID}, nil)
		}
		ts = TierStatus{Status: sb.Status, Outlook: sb.TierBook().Outlook(now), Policy: prog.Tiers}
		ts.History, err = tx.Transitions(ctx, memberID, domain.TransitionTier)
		return err
	})
	return &ts, err
}

// SetTierFloor records a manual tier floor ("" clears it) as a ledger entry
// and projects it; the entry names who.Actor() as its operator.
func (s *Service) SetTierFloor(ctx context.Context, who principal.Principal, key, memberID, tier, reason string) (*EntryResult, error) {
	type req struct{ MemberID, Tier, Reason string }
	r, err := submit(ctx, s, call{method: "SetTierFloor", who: who, key: key, req: req{memberID, tier, reason}, member: memberID},
		func(ctx context.Context, u *uow) (*EntryResult, error) {
			return u.entryOp(ctx, who, memberID, false, func(b *domain.Book) (*domain.Entry, error) {
				return b.SetTierFloor(tier, reason, who.Actor(), u.now)
			})
		})
	if err != nil {
		return nil, err
	}
	_, err = s.projectMembers(ctx, []string{memberID}, time.Time{})
	return r, err
}

// Segment is a member's RFM scores and segment.
type Segment struct {
	Status  domain.MemberStatus
	History []domain.Transition
}

// Segment returns a member's latest RFM scores and segment history.
func (s *Service) Segment(ctx context.Context, who principal.Principal, memberID string) (*Segment, error) {
	if _, err := s.Member(ctx, who, memberID); err != nil {
		return nil, err
	}
	var seg Segment
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		st, err := tx.Statuses(ctx, []string{memberID})
		if err != nil {
			return err
		}
		if st[memberID] != nil {
			seg.Status = *st[memberID]
		}
		seg.History, err = tx.Transitions(ctx, memberID, domain.TransitionSegment)
		return err
	})
	return &seg, err
}

// Rebuild drops the projections and projects every entry again, then
// settles the tiers as of now and replays the RFM runs. The time-driven
// events (expiring points, inactivity, birthdays) are kept.
func (s *Service) Rebuild(ctx context.Context) error {
	if err := s.store.UpdateProjections(ctx, func(ctx context.Context, tx Tx) error {
		if _, err := tx.LockStream(ctx); err != nil {
			return err
		}
		return tx.ResetProjections(ctx)
	}); err != nil {
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

// rfmRuns returns the RFM runs recorded, oldest first.
func (s *Service) rfmRuns(ctx context.Context) ([]RFMRun, error) {
	var runs []RFMRun
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		runs, err = tx.RFMRuns(ctx)
		return err
	})
	return runs, err
}
