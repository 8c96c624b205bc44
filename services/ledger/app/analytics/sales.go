package analytics

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// AnonymousSales is a store's count of sales without a member on one
// business day.
type AnonymousSales struct {
	ProgrammeID string
	StoreID     string
	// BusinessDay is YYYY-MM-DD in the programme's time zone.
	BusinessDay  string
	Transactions int64
	CountedAt    time.Time
}

// maxClockSkew is how far ahead of the ledger's clock a store's clock may run.
const maxClockSkew = 5 * time.Minute

// ReportAnonymousSales stores a store's count for a business day unless a
// newer count is stored already, and returns the stored one.
func (s *Service) ReportAnonymousSales(ctx context.Context, r AnonymousSales) (AnonymousSales, error) {
	prog, err := s.cfg.Find(r.ProgrammeID)
	if err != nil {
		return r, err
	}
	day, err := time.ParseInLocation(time.DateOnly, r.BusinessDay, prog.Location)
	if err != nil {
		return r, fault.Invalid("business_day", "%q is not a date (YYYY-MM-DD)", r.BusinessDay)
	}
	now := s.clock()
	if today := now.In(prog.Location); day.After(today) {
		return r, fault.Invalid("business_day", "%s is after today (%s) in the programme's time zone",
			r.BusinessDay, today.Format(time.DateOnly))
	}
	if r.Transactions < 0 {
		return r, fault.Invalid("transactions", "must not be negative")
	}
	if r.CountedAt.IsZero() {
		r.CountedAt = now
	} else if r.CountedAt.After(now.Add(maxClockSkew)) {
		return r, fault.Invalid("counted_at", "is in the future")
	}
	r.CountedAt = domain.Micro(r.CountedAt)
	var stored AnonymousSales
	err = s.store.Update(ctx, func(ctx context.Context, tx Writer) error {
		var err error
		stored, err = tx.SaveAnonymousSales(ctx, r)
		return err
	})
	return stored, err
}

// ProgrammeStats is a programme's size and buying over a window.
type ProgrammeStats struct {
	ProgrammeID string
	From, To    time.Time
	// Members enrolled by To.
	Members int64
	// Buyers and their purchases (returns excluded) in (From, To].
	Buyers, Purchases int64
	// StorePurchases are the purchases made in store (channel POS), which
	// the anonymous sales stores report compare with.
	StorePurchases int64
	// FirstPurchase is the programme's first purchase ever (zero: none).
	FirstPurchase time.Time
	// Anonymous sales reported for business days in the window, and the
	// store-days reported.
	AnonymousTransactions, AnonymousStoreDays int64
}

// StatsWindowMonths is the span of ProgrammeStats.
const StatsWindowMonths = 12

// ProgrammeStats returns a programme's figures over the 12 months before
// asOf (now when zero).
func (s *Service) ProgrammeStats(ctx context.Context, programmeID string, asOf time.Time) (*ProgrammeStats, error) {
	prog, err := s.cfg.Find(programmeID)
	if err != nil {
		return nil, err
	}
	if asOf.IsZero() {
		asOf = s.clock()
	}
	if _, err := s.projections.Project(ctx); err != nil {
		return nil, err
	}
	local := asOf.In(prog.Location)
	st := &ProgrammeStats{ProgrammeID: prog.ID, From: local.AddDate(0, -StatsWindowMonths, 0).UTC(), To: asOf.UTC()}
	err = s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		return tx.ProgrammeStats(ctx, st, st.From.In(prog.Location).Format(time.DateOnly), local.Format(time.DateOnly))
	})
	return st, err
}
