// Package adapters connects the eligibility self-test to the services it
// reads: its ports over the ledger's, the rewards' and the partners' gRPC
// APIs.
package adapters

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/app"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
)

// remote maps a service's refusals to faults; a service that does not
// answer is app.ErrUnreachable; anything else is the service failing.
func remote(service string, err error) error {
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.Unavailable, codes.DeadlineExceeded, codes.Unimplemented:
		return fmt.Errorf("%s: %w: %w", service, app.ErrUnreachable, err)
	}
	return grpcserver.Remote(service, err)
}

// t is a timestamp as a time, zero when unset.
func t(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// Ledger is app.Ledger over a connection to the ledger.
type Ledger struct {
	ledger ledgerv1.LedgerServiceClient
	kpi    ledgerv1.KpiServiceClient
}

var _ app.Ledger = (*Ledger)(nil)

// NewLedger uses conn.
func NewLedger(conn grpc.ClientConnInterface) *Ledger {
	return &Ledger{ledger: ledgerv1.NewLedgerServiceClient(conn), kpi: ledgerv1.NewKpiServiceClient(conn)}
}

func (l *Ledger) Stats(ctx context.Context, programmeID string, asOf time.Time) (*domain.ProgrammeData, error) {
	req := &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: programmeID}
	if !asOf.IsZero() {
		req.AsOf = timestamppb.New(asOf)
	}
	st, err := l.kpi.GetProgrammeStats(ctx, req)
	if err != nil {
		return nil, remote("ledger", err)
	}
	return &domain.ProgrammeData{
		From: st.GetWindowStart().AsTime(), To: st.GetWindowEnd().AsTime(), Members: st.GetMembers(),
		Buyers: st.GetBuyers(), Purchases: st.GetPurchases(), StorePurchases: st.GetStorePurchases(),
		FirstPurchase: t(st.GetFirstPurchaseAt()), AnonymousSales: st.GetAnonymousTransactions(),
		AnonymousStoreDays: st.GetAnonymousStoreDays(),
	}, nil
}

func (l *Ledger) LowestTier(ctx context.Context, programmeID string) (string, error) {
	p, err := l.ledger.GetProgramme(ctx, &ledgerv1.GetProgrammeRequest{ProgrammeId: programmeID})
	if err != nil {
		return "", remote("ledger", err)
	}
	if tiers := p.GetTiers(); len(tiers) > 0 {
		return tiers[0].GetTierId(), nil
	}
	return "", nil
}

// Catalogue is app.Catalogue over a connection to the rewards service.
type Catalogue struct {
	c rewardsv1.RewardsServiceClient
}

// NewCatalogue uses conn.
func NewCatalogue(conn grpc.ClientConnInterface) *Catalogue {
	return &Catalogue{rewardsv1.NewRewardsServiceClient(conn)}
}

func (c *Catalogue) Rewards(ctx context.Context, programmeID string) ([]domain.RewardOffer, error) {
	out := []domain.RewardOffer{}
	req := &rewardsv1.ListRewardsRequest{ProgrammeId: programmeID, IncludeInactive: true, PageSize: 500}
	for {
		rs, err := c.c.ListRewards(ctx, req)
		if err != nil {
			return nil, remote("rewards", err)
		}
		for _, r := range rs.GetRewards() {
			terms := r.GetTerms()
			out = append(out, domain.RewardOffer{MinTier: terms.GetMinTier(), Segments: len(terms.GetSegments()),
				Active: r.GetState() == rewardsv1.RewardState_REWARD_STATE_ACTIVE, Created: t(r.GetCreatedAt()),
				ValidFrom: t(terms.GetValidFrom()), ValidUntil: t(terms.GetValidUntil()), Updated: t(r.GetUpdatedAt())})
		}
		if req.PageToken = rs.GetNextPageToken(); req.PageToken == "" {
			return out, nil
		}
	}
}

// PartnerOffers is app.PartnerOffers over a connection to the partners
// service (its operators' API).
type PartnerOffers struct {
	c partnersv1.PartnerAdminServiceClient
}

// NewPartnerOffers uses conn.
func NewPartnerOffers(conn grpc.ClientConnInterface) *PartnerOffers {
	return &PartnerOffers{partnersv1.NewPartnerAdminServiceClient(conn)}
}

func (p *PartnerOffers) Offers(ctx context.Context, programmeID string) ([]domain.PartnerOffer, error) {
	out := []domain.PartnerOffer{}
	req := &partnersv1.ListProgrammeOffersRequest{ProgrammeId: programmeID, PageSize: 500}
	for {
		os, err := p.c.ListProgrammeOffers(ctx, req)
		if err != nil {
			return nil, remote("partners", err)
		}
		for _, o := range os.GetOffers() {
			terms := o.GetTerms()
			out = append(out, domain.PartnerOffer{Tiers: len(terms.GetTiers()), Segments: len(terms.GetSegments()),
				Created: t(o.GetCreatedAt()), ValidFrom: t(terms.GetValidFrom()), ValidUntil: t(terms.GetValidUntil())})
		}
		if req.PageToken = os.GetNextPageToken(); req.PageToken == "" {
			return out, nil
		}
	}
}
