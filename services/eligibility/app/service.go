// Package app holds the eligibility self-test's use cases. It reads the
// programme's data only through the ledger's, the rewards' and the
// partners' gRPC clients.
package app

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
)

// Sources are where the programme's data comes from. Rewards and Partners
// may be nil: their targeted actions are then not counted.
type Sources struct {
	Ledger   ledgerv1.LedgerServiceClient
	Kpi      ledgerv1.KpiServiceClient
	Rewards  rewardsv1.RewardsServiceClient
	Partners partnersv1.PartnerAdminServiceClient
}

// Service is the self-test.
type Service struct {
	src Sources
	log *slog.Logger
}

// New builds a Service.
func New(src Sources, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{src: src, log: log}
}

// SelfTest scores the test: the caller's replies first, then programmeID's
// data (none when empty) over the 12 months to asOf (now when zero).
func (s *Service) SelfTest(ctx context.Context, programmeID string, asOf time.Time, replies map[domain.Question]domain.Reply) (*domain.Result, error) {
	var evidence map[domain.Question]*domain.Evidence
	if programmeID != "" {
		d, err := s.Data(ctx, programmeID, asOf)
		if err != nil {
			return nil, err
		}
		evidence = d.Evidence()
	}
	return domain.Score(replies, evidence)
}

// Data reads what a programme's data holds for the test.
func (s *Service) Data(ctx context.Context, programmeID string, asOf time.Time) (*domain.ProgrammeData, error) {
	var at *timestamppb.Timestamp
	if !asOf.IsZero() {
		at = timestamppb.New(asOf)
	}
	st, err := s.src.Kpi.GetProgrammeStats(ctx, &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: programmeID, AsOf: at})
	if err != nil {
		return nil, grpcserver.Remote("ledger", err)
	}
	d := &domain.ProgrammeData{
		From: st.GetWindowStart().AsTime(), To: st.GetWindowEnd().AsTime(), Members: st.GetMembers(),
		Buyers: st.GetBuyers(), Purchases: st.GetPurchases(), StorePurchases: st.GetStorePurchases(),
		AnonymousSales: st.GetAnonymousTransactions(), AnonymousStoreDays: st.GetAnonymousStoreDays(),
	}
	if st.GetFirstPurchaseAt() != nil {
		d.FirstPurchase = st.GetFirstPurchaseAt().AsTime()
	}
	d.Targeted, err = s.targeted(ctx, programmeID, d.From, d.To)
	return d, err
}

// targeted counts the rewards and partner offers restricted to tiers or
// segments that were on offer at some point in [from, to]. A source that
// does not run here, or does not answer, is left out and named.
func (s *Service) targeted(ctx context.Context, programmeID string, from, to time.Time) (*domain.TargetedCount, error) {
	var t domain.TargetedCount
	read := 0
	if s.src.Rewards != nil {
		prog, err := s.src.Ledger.GetProgramme(ctx, &ledgerv1.GetProgrammeRequest{ProgrammeId: programmeID})
		if err != nil {
			return nil, grpcserver.Remote("ledger", err)
		}
		lowest := ""
		if tiers := prog.GetTiers(); len(tiers) > 0 {
			lowest = tiers[0].GetTierId()
		}
		rs, err := s.src.Rewards.ListRewards(ctx, &rewardsv1.ListRewardsRequest{ProgrammeId: programmeID, IncludeInactive: true})
		switch {
		case unreachable(err):
			s.log.WarnContext(ctx, "rewards unreadable for the eligibility test", slog.Any("error", err))
			t.Unread = append(t.Unread, "rewards")
		case err != nil:
			return nil, grpcserver.Remote("rewards", err)
		default:
			read++
			for _, r := range rs.GetRewards() {
				terms := r.GetTerms()
				restricted := len(terms.GetSegments()) > 0 || (terms.GetMinTier() != "" && terms.GetMinTier() != lowest)
				until := terms.GetValidUntil()
				if !r.GetActive() && (until == nil || r.GetUpdatedAt().AsTime().Before(until.AsTime())) {
					until = r.GetUpdatedAt() // deactivated then
				}
				if restricted && onOffer(r.GetCreatedAt(), terms.GetValidFrom(), until, from, to) {
					t.Rewards++
				}
			}
		}
	}
	if s.src.Partners != nil {
		os, err := s.src.Partners.ListProgrammeOffers(ctx, &partnersv1.ListProgrammeOffersRequest{ProgrammeId: programmeID})
		switch {
		case unreachable(err):
			s.log.WarnContext(ctx, "partner offers unreadable for the eligibility test", slog.Any("error", err))
			t.Unread = append(t.Unread, "partner offers")
		case err != nil:
			return nil, grpcserver.Remote("partners", err)
		default:
			read++
			for _, o := range os.GetOffers() {
				terms := o.GetTerms()
				restricted := len(terms.GetTiers()) > 0 || len(terms.GetSegments()) > 0
				if restricted && onOffer(o.GetCreatedAt(), terms.GetValidFrom(), terms.GetValidUntil(), from, to) {
					t.PartnerOffers++
				}
			}
		}
	}
	if read == 0 {
		return nil, nil
	}
	return &t, nil
}

// unreachable is a call that failed for want of the service, not because
// of the request.
func unreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Unimplemented:
		return true
	}
	return false
}

// onOffer says whether something created at created and valid in
// [validFrom, validUntil) (unset: unbounded) was on offer during [from, to].
func onOffer(created, validFrom, validUntil *timestamppb.Timestamp, from, to time.Time) bool {
	start := created.AsTime()
	if validFrom != nil && validFrom.AsTime().After(start) {
		start = validFrom.AsTime()
	}
	if start.After(to) {
		return false
	}
	return validUntil == nil || validUntil.AsTime().After(from)
}
