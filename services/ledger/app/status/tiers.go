package status

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/progress"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

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
		err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
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
		progress.Report(ctx, members)
		after = ids[len(ids)-1]
	}
}

// TierStatus is a member's tier as of now.
type TierStatus struct {
	Status  domain.MemberStatus
	Outlook domain.TierOutlook
	Policy  *domain.TierPolicy
	// Currency is the programme's, of spend amounts.
	Currency string
}

// Tier returns a member's tier status, projecting first what is queued.
func (s *Service) Tier(ctx context.Context, who principal.Principal, memberID string) (*TierStatus, error) {
	m, err := s.ledger.Member(ctx, who, memberID)
	if err != nil {
		return nil, err
	}
	prog, _ := s.cfg.Programme(m.ProgrammeID)
	if prog.Tiers == nil {
		return nil, fault.Precondition(fault.ProgrammeHasNoTiers, "programme %s has no tiers", prog.ID)
	}
	now := s.clock()
	if _, err := s.projectMembers(ctx, []string{memberID}, now); err != nil {
		return nil, err
	}
	var ts TierStatus
	err = s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		books, err := s.statusBooks(ctx, tx, []string{memberID})
		if err != nil {
			return err
		}
		sb := books[memberID]
		if sb == nil {
			sb = domain.NewStatusBook(prog, domain.MemberStatus{MemberID: memberID, ProgrammeID: prog.ID}, nil)
		}
		ts = TierStatus{Status: sb.Status, Outlook: sb.TierBook().Outlook(now), Policy: prog.Tiers, Currency: prog.Currency}
		return nil
	})
	return &ts, err
}

// SetTierFloor records a manual tier floor ("" clears it) as a ledger entry
// and projects it; the entry names who.Actor() as its operator.
func (s *Service) SetTierFloor(ctx context.Context, who principal.Principal, key, memberID, tier, reason string) (*posting.EntryResult, error) {
	r, err := s.ledger.SetTierFloor(ctx, who, key, memberID, tier, reason)
	if err != nil {
		return nil, err
	}
	_, err = s.projectMembers(ctx, []string{memberID}, time.Time{})
	return r, err
}
