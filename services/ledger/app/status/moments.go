package status

import (
	"context"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// RunMoments announces, as of asOf, the time-driven moments: points that
// expire within the programme's horizon, members inactive for its
// threshold, and birthdays. Event ids are derived from the facts, so
// running it again announces nothing twice.
func (s *Service) RunMoments(ctx context.Context, programmeID string, asOf time.Time) (int, error) {
	progs, err := s.programmes(programmeID)
	if err != nil {
		return 0, err
	}
	asOf, err = domain.AsOf(asOf, s.clock())
	if err != nil {
		return 0, err
	}
	if _, err := s.Project(ctx); err != nil {
		return 0, err
	}
	total := 0
	for _, p := range progs {
		var events []domain.MemberEvent
		err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
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

func (s *Service) moments(ctx context.Context, tx Reader, p *domain.Programme, asOf time.Time) ([]domain.MemberEvent, error) {
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
				// No birth date in the event: personal data stays in the vault.
			})
		}
	}
	return out, nil
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// appendEvents adds to the stream the events it does not hold yet.
func (s *Service) appendEvents(ctx context.Context, events []domain.MemberEvent) (int, error) {
	var added int
	err := s.store.UpdateProjections(ctx, func(ctx context.Context, tx ProjectionTx) error {
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
