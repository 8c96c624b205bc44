// Package analytics is what BI reads of the ledger: the live and
// refreshed KPIs, the BG/NBD churn model and members' churn risk, and the
// programme's figures with the anonymous sales stores report. It brings
// the projections up to date and checks members through its ports.
package analytics

import (
	"context"
	"log/slog"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Members reads members for a principal (posting.Service).
type Members interface {
	Member(ctx context.Context, who principal.Principal, memberID string) (*domain.Member, error)
}

// Projections brings the status projections up to date (status.Service).
type Projections interface {
	Project(ctx context.Context) (int, error)
}

// Options tune a Service.
type Options struct {
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the ledger's analytics.
type Service struct {
	store       Store
	members     Members
	projections Projections
	cfg         *domain.Config
	now         func() time.Time
	log         *slog.Logger
}

// New builds a Service.
func New(store Store, members Members, projections Projections, cfg *domain.Config, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{store: store, members: members, projections: projections, cfg: cfg, now: o.Now, log: o.Logger}
}

// clock is the service's time, to the microsecond the stores keep.
func (s *Service) clock() time.Time { return domain.Micro(s.now()) }

// historyPage bounds the members one KPI read takes.
const historyPage = 5000

// eachHistory streams a programme's member histories, a page at a time.
func (s *Service) eachHistory(ctx context.Context, programmeID string, f func([]MemberHistory) error) error {
	for after := ""; ; {
		var page []MemberHistory
		if err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
			var err error
			page, err = tx.Histories(ctx, programmeID, after, historyPage)
			return err
		}); err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if err := f(page); err != nil {
			return err
		}
		after = page[len(page)-1].MemberID
	}
}
