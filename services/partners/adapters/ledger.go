// Package adapters connects the partners service to the services it calls:
// its Ledger port over the ledger's gRPC API, and its Keys and AuditLog
// ports onto the access service in the same process.
package adapters

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/partners/app"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// Ledger is app.Ledger over a connection to the ledger. The connection's
// credentials pass on the caller of each call's context.
type Ledger struct {
	ledger ledgerv1.LedgerServiceClient
	status ledgerv1.StatusServiceClient
}

var _ app.Ledger = (*Ledger)(nil)

// NewLedger uses conn.
func NewLedger(conn grpc.ClientConnInterface) *Ledger {
	return &Ledger{ledger: ledgerv1.NewLedgerServiceClient(conn), status: ledgerv1.NewStatusServiceClient(conn)}
}

// remote maps the ledger's refusals to faults, keeping a BadRequest's
// fields; anything else is the ledger failing.
func remote(err error) error {
	if err == nil {
		return nil
	}
	return grpcserver.Remote("ledger", err)
}

func (l *Ledger) CheckProgramme(ctx context.Context, programmeID string) error {
	_, err := l.ledger.GetProgramme(ctx, &ledgerv1.GetProgrammeRequest{ProgrammeId: programmeID})
	return remote(err)
}

func (l *Ledger) FindMember(ctx context.Context, programmeID, card string) (string, error) {
	r, err := l.ledger.FindMember(ctx, &ledgerv1.FindMemberRequest{ProgrammeId: programmeID, ExternalRef: card})
	return r.GetMember().GetMemberId(), remote(err)
}

func (l *Ledger) Available(ctx context.Context, memberID string) (int64, error) {
	r, err := l.ledger.GetBalance(ctx, &ledgerv1.GetBalanceRequest{MemberId: memberID})
	return r.GetBalance().GetAvailable(), remote(err)
}

func (l *Ledger) Consent(ctx context.Context, memberID string) (bool, error) {
	r, err := l.ledger.GetMember(ctx, &ledgerv1.GetMemberRequest{MemberId: memberID})
	return r.GetMember().GetPartnerMarketingConsent() == ledgerv1.ConsentState_CONSENT_STATE_GRANTED, remote(err)
}

func (l *Ledger) Tier(ctx context.Context, memberID string) (string, error) {
	r, err := l.status.GetTierStatus(ctx, &ledgerv1.GetTierStatusRequest{MemberId: memberID})
	if status.Code(err) == codes.FailedPrecondition {
		return "", nil // the programme has no tiers
	}
	return r.GetTier(), remote(err)
}

func (l *Ledger) Segment(ctx context.Context, memberID string) (string, error) {
	r, err := l.status.GetSegment(ctx, &ledgerv1.GetSegmentRequest{MemberId: memberID})
	return r.GetSegment(), remote(err)
}

func (l *Ledger) Post(ctx context.Context, key string, t *domain.Txn) (string, error) {
	if t.Kind == domain.TxnEarn {
		r, err := l.ledger.Earn(ctx, &ledgerv1.EarnRequest{
			IdempotencyKey: key, MemberId: t.MemberID, Basis: &ledgerv1.EarnRequest_Points{Points: t.Points + t.BonusPoints},
			Channel: typev1.Channel_CHANNEL_PARTNER, OrderRef: t.Reference, OccurredAt: timestamppb.New(t.OccurredAt),
			Reason: "partner earn", PartnerId: t.PartnerID,
		})
		return r.GetEntry().GetEntryId(), remote(err)
	}
	r, err := l.ledger.Burn(ctx, &ledgerv1.BurnRequest{
		IdempotencyKey: key, MemberId: t.MemberID, Points: t.Points, Channel: typev1.Channel_CHANNEL_PARTNER,
		OrderRef: t.Reference, Reason: "partner burn", PartnerId: t.PartnerID,
	})
	return r.GetEntry().GetEntryId(), remote(err)
}
