package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// statusPage bounds the statuses one segment transaction rewrites.
const statusPage = 1000

// RFMResult is what an RFM run did.
type RFMResult struct {
	Run          RFMRun
	Distribution map[string]int64
}

func (s *Service) programmes(id string) ([]*domain.Programme, error) {
	if id == "" {
		return s.cfg.Programmes, nil
	}
	p, ok := s.cfg.Programme(id)
	if !ok {
		return nil, fault.NotFound("programme %q not found", id)
	}
	return []*domain.Programme{p}, nil
}

func (s *Service) asOf(t time.Time) (asOf, now time.Time, err error) {
	now = s.clock()
	if t.IsZero() {
		return now, now, nil
	}
	if t = truncate(t); t.After(now) {
		return t, now, fault.Invalid("as_of", "is in the future")
	}
	return t, now, nil
}

// RecomputeSegments scores a programme's members on their purchases over
// the RFM window ending at asOf, stores each member's scores and segment,
// records a transition and a segment_changed event for every change, and
// records the run (a rebuild replays it).
func (s *Service) RecomputeSegments(ctx context.Context, programmeID string, asOf time.Time) (*RFMResult, error) {
	progs, err := s.programmes(programmeID)
	if err != nil {
		return nil, err
	}
	if programmeID == "" || len(progs) != 1 {
		return nil, fault.Invalid("programme_id", "is required")
	}
	asOf, now, err := s.asOf(asOf)
	if err != nil {
		return nil, err
	}
	if _, err := s.Project(ctx); err != nil {
		return nil, err
	}
	return s.scoreSegments(ctx, RFMRun{ID: s.newID(), ProgrammeID: programmeID, AsOf: asOf, ComputedAt: now}, true)
}

// scoreSegments runs (or, for a rebuild, replays) an RFM run. Only
// purchases recorded by the run's time count, so a replay gives the same
// scores.
func (s *Service) scoreSegments(ctx context.Context, run RFMRun, record bool) (*RFMResult, error) {
	prog, ok := s.cfg.Programme(run.ProgrammeID)
	if !ok {
		return nil, fmt.Errorf("rfm run %s: programme %q is not configured", run.ID, run.ProgrammeID)
	}
	from := run.AsOf.In(prog.Location).AddDate(0, -prog.RFM.WindowMonths, 0).UTC()
	var inputs []domain.RFMInput
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		inputs, err = tx.RFMInputs(ctx, prog.ID, from, run.AsOf, run.ComputedAt)
		return err
	}); err != nil {
		return nil, err
	}
	res := &RFMResult{Distribution: map[string]int64{}}
	scores := map[string]domain.RFMScore{}
	for _, sc := range domain.ScoreRFM(run.AsOf, inputs, prog.RFM.Thresholds) {
		scores[sc.MemberID] = sc
		res.Distribution[sc.Segment]++
	}
	run.Scored = int64(len(scores))
	for after, last := "", false; !last; {
		// The closure may run again after a conflict: it changes nothing
		// outside it until the transaction has committed.
		var changed int64
		var pageLast string
		var pageLen int
		err := s.store.UpdateProjections(ctx, func(ctx context.Context, tx Tx) error {
			head, err := tx.LockStream(ctx)
			if err != nil {
				return err
			}
			page, err := tx.StatusesPage(ctx, prog.ID, after, statusPage)
			if err != nil {
				return err
			}
			w := &StatusWrites{Head: head, At: s.clock()}
			changed, pageLast, pageLen = 0, after, len(page)
			for _, st := range page {
				sc, scored := scores[st.MemberID]
				if !scored {
					if st.Segment == "" || st.Segment == domain.SegmentInactive {
						continue
					}
					sc = domain.RFMScore{MemberID: st.MemberID, Segment: domain.SegmentInactive}
				}
				if st.R == sc.R && st.F == sc.F && st.M == sc.M && st.Segment == sc.Segment {
					continue
				}
				if tr, ev := st.SegmentChange(sc, run.AsOf, run.ID); tr != nil {
					changed++
					w.Transitions = append(w.Transitions, *tr)
					w.Events = append(w.Events, *ev)
				}
				w.Statuses = append(w.Statuses, st)
			}
			if len(page) > 0 {
				pageLast = page[len(page)-1].MemberID
			}
			if len(page) < statusPage && record {
				r := run
				r.Changed += changed
				w.RFMRun = &r
			}
			return tx.SaveStatus(ctx, w)
		})
		if err != nil {
			return nil, err
		}
		run.Changed += changed
		last, after = pageLen < statusPage, pageLast
	}
	s.stream.notify()
	res.Run = run
	return res, nil
}

// RunMoments announces, as of asOf, the time-driven moments: points that
// expire within the programme's horizon, members inactive for its
// threshold, and birthdays. Event ids are derived from the facts, so
// running it again announces nothing twice.
func (s *Service) RunMoments(ctx context.Context, programmeID string, asOf time.Time) (int, error) {
	progs, err := s.programmes(programmeID)
	if err != nil {
		return 0, err
	}
	asOf, _, err = s.asOf(asOf)
	if err != nil {
		return 0, err
	}
	if _, err := s.Project(ctx); err != nil {
		return 0, err
	}
	total := 0
	for _, p := range progs {
		var events []domain.MemberEvent
		err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
			var err error
			events, err = s.moments(ctx, tx, p, asOf)
			return err
		})
		if err != nil {
			return total, err
		}
		for len(events) > 0 {
			n := min(len(events), statusPage)
			added, err := s.appendEvents(ctx, events[:n])
			if err != nil {
				return total, err
			}
			total += added
			events = events[n:]
		}
	}
	if total > 0 {
		s.stream.notify()
	}
	return total, nil
}

func (s *Service) moments(ctx context.Context, tx Tx, p *domain.Programme, asOf time.Time) ([]domain.MemberEvent, error) {
	var out []domain.MemberEvent
	horizon := asOf.In(p.Location).AddDate(0, 0, p.Moments.ExpiringWithinDays).UTC()
	expiring, err := tx.Expiring(ctx, p.ID, asOf, horizon)
	if err != nil {
		return nil, err
	}
	for _, e := range expiring {
		out = append(out, domain.MemberEvent{
			EventID: fmt.Sprintf("expiring:%s:%d", e.MemberID, e.ExpiresAt.UnixMicro()), MemberID: e.MemberID,
			ProgrammeID: p.ID, Type: domain.EventPointsExpiring, At: asOf, Points: e.Points,
			Detail: "expires " + e.ExpiresAt.In(p.Location).Format(time.RFC3339),
		})
	}
	inactiveSince := asOf.In(p.Location).AddDate(0, 0, -p.Moments.InactiveAfterDays).UTC()
	inactive, err := tx.Inactive(ctx, p.ID, inactiveSince)
	if err != nil {
		return nil, err
	}
	for _, st := range inactive {
		out = append(out, domain.MemberEvent{
			EventID: fmt.Sprintf("inactive:%s:%d", st.MemberID, st.LastPurchase.UnixMicro()), MemberID: st.MemberID,
			ProgrammeID: p.ID, Type: domain.EventInactive,
			At:     st.LastPurchase.In(p.Location).AddDate(0, 0, p.Moments.InactiveAfterDays).UTC(),
			Detail: fmt.Sprintf("no purchase for %d days, last %s", p.Moments.InactiveAfterDays, st.LastPurchase.Format(time.DateOnly)),
		})
	}
	local := asOf.In(p.Location)
	days := []string{local.Format("01-02")}
	if local.Month() == time.February && local.Day() == 28 && !isLeap(local.Year()) {
		days = append(days, "02-29") // celebrated on the 28th in common years
	}
	for _, md := range days {
		members, err := tx.Birthdays(ctx, p.ID, md)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			out = append(out, domain.MemberEvent{
				EventID: fmt.Sprintf("birthday:%s:%d", m.ID, local.Year()), MemberID: m.ID, ProgrammeID: p.ID,
				Type: domain.EventBirthday, At: time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, p.Location).UTC(),
				Detail: m.BirthDate,
			})
		}
	}
	return out, nil
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// appendEvents adds to the stream the events it does not hold yet.
func (s *Service) appendEvents(ctx context.Context, events []domain.MemberEvent) (int, error) {
	var added int
	err := s.store.UpdateProjections(ctx, func(ctx context.Context, tx Tx) error {
		head, err := tx.LockStream(ctx)
		if err != nil {
			return err
		}
		ids := make([]string, len(events))
		for i, e := range events {
			ids[i] = e.EventID
		}
		known, err := tx.KnownEvents(ctx, ids)
		if err != nil {
			return err
		}
		w := &StatusWrites{Head: head, At: s.clock()}
		for _, e := range events {
			if !known[e.EventID] {
				known[e.EventID] = true
				w.Events = append(w.Events, e)
			}
		}
		added = len(w.Events)
		return tx.SaveStatus(ctx, w)
	})
	return added, err
}

// Events reads the member event stream after a position.
// Events reads the event stream after a position: of the programmes who is
// bound to, narrowed by f.
func (s *Service) Events(ctx context.Context, who principal.Principal, after int64, f EventFilter, limit int) ([]StreamEvent, error) {
	switch {
	case f.ProgrammeID != "":
		if err := who.CheckProgramme(f.ProgrammeID); err != nil {
			return nil, err
		}
	case !who.Everywhere():
		f.Programmes = who.Programmes
	}
	var out []StreamEvent
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		out, err = tx.Events(ctx, after, f, limit)
		return err
	})
	return out, err
}

// EventsAppended returns a channel closed when events are next appended.
func (s *Service) EventsAppended() <-chan struct{} { return s.stream.wait() }

// RunScheduler runs the time-driven jobs every interval until ctx ends:
// expiry (of lots, holds and return windows, also of members nothing else
// touches), tier evaluation, the moments, and each programme's RFM run when
// its period has passed since the last one.
func (s *Service) RunScheduler(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.scheduled(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduled jobs failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) scheduled(ctx context.Context) error {
	// Expiry first: the jobs after it see the settled balances.
	if _, err := s.RunExpiry(ctx, time.Time{}, ""); err != nil {
		return fmt.Errorf("expiry: %w", err)
	}
	if _, _, err := s.EvaluateTiers(ctx, time.Time{}); err != nil {
		return err
	}
	if _, err := s.RunMoments(ctx, "", time.Time{}); err != nil {
		return err
	}
	runs, err := s.rfmRuns(ctx)
	if err != nil {
		return err
	}
	last := map[string]time.Time{}
	for _, r := range runs {
		last[r.ProgrammeID] = r.ComputedAt
	}
	now := s.clock()
	for _, p := range s.cfg.Programmes {
		if l, ok := last[p.ID]; ok && now.Sub(l) < p.RFM.Every {
			continue
		}
		if _, err := s.RecomputeSegments(ctx, p.ID, time.Time{}); err != nil {
			return err
		}
		// The KPIs follow the segments they report on.
		if _, err := s.RefreshKPIs(ctx, p.ID, time.Time{}); err != nil {
			return err
		}
	}
	return nil
}
