// Package adapters connects the rewards service to the services it calls:
// its Ledger port over the ledger's gRPC API.
package adapters

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// Ledger is app.Ledger over a connection to the ledger. The connection's
// credentials pass on the caller of each call's context.
type Ledger struct {
	ledger ledgerv1.LedgerServiceClient
	status ledgerv1.StatusServiceClient
	// consent reads members' current consents.
	consent ledgerv1.ConsentServiceClient
}

var _ app.Ledger = (*Ledger)(nil)

// NewLedger uses conn.
func NewLedger(conn grpc.ClientConnInterface) *Ledger {
	return &Ledger{ledger: ledgerv1.NewLedgerServiceClient(conn), status: ledgerv1.NewStatusServiceClient(conn),
		consent: ledgerv1.NewConsentServiceClient(conn)}
}

// remote maps the ledger's refusals to faults, keeping a BadRequest's
// fields; anything else is the ledger failing.
func remote(err error) error {
	if err == nil {
		return nil
	}
	return grpcserver.Remote("ledger", err)
}

func (l *Ledger) MemberProgramme(ctx context.Context, memberID string) (string, error) {
	r, err := l.ledger.GetMember(ctx, &ledgerv1.GetMemberRequest{MemberId: memberID})
	return r.GetMember().GetProgrammeId(), remote(err)
}

func (l *Ledger) Available(ctx context.Context, memberID string) (int64, error) {
	r, err := l.ledger.GetBalance(ctx, &ledgerv1.GetBalanceRequest{MemberId: memberID})
	return r.GetBalance().GetAvailable(), remote(err)
}

func (l *Ledger) Tiers(ctx context.Context, programmeID string) ([]string, error) {
	r, err := l.ledger.GetProgramme(ctx, &ledgerv1.GetProgrammeRequest{ProgrammeId: programmeID})
	var out []string
	for _, t := range r.GetTiers() {
		out = append(out, t.GetTierId())
	}
	return out, remote(err)
}

func (l *Ledger) Tier(ctx context.Context, memberID string) (string, error) {
	r, err := l.status.GetTierStatus(ctx, &ledgerv1.GetTierStatusRequest{MemberId: memberID})
	return r.GetTier(), remote(err)
}

func (l *Ledger) Segment(ctx context.Context, memberID string) (string, error) {
	r, err := l.status.GetSegment(ctx, &ledgerv1.GetSegmentRequest{MemberId: memberID})
	return r.GetSegment(), remote(err)
}

// Profiling implements app.Ledger.
func (l *Ledger) Profiling(ctx context.Context, memberID string) (bool, error) {
	r, err := l.consent.GetConsents(ctx, &ledgerv1.GetConsentsRequest{MemberId: memberID})
	for _, c := range r.GetConsents() {
		if c.GetPurpose() == ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PROFILING {
			return c.GetState() == ledgerv1.ConsentState_CONSENT_STATE_GRANTED, remote(err)
		}
	}
	return false, remote(err)
}

// channel is the ledger's channel of a redemption's (POS when unknown).
func channel(c domain.Channel) typev1.Channel {
	switch c {
	case domain.ChannelEcommerce:
		return typev1.Channel_CHANNEL_ECOMMERCE
	case domain.ChannelPartner:
		return typev1.Channel_CHANNEL_PARTNER
	case domain.ChannelOperator:
		return typev1.Channel_CHANNEL_OPERATOR
	}
	return typev1.Channel_CHANNEL_POS
}

func (l *Ledger) Hold(ctx context.Context, key string, h app.HoldRequest) (string, error) {
	ch := channel(h.Channel)
	r, err := l.ledger.Hold(ctx, &ledgerv1.HoldRequest{IdempotencyKey: key, MemberId: h.MemberID, Points: h.Points,
		Ttl: durationpb.New(h.TTL), Reference: h.Reference, Channel: ch})
	return r.GetHold().GetHoldId(), remote(err)
}

func (l *Ledger) Capture(ctx context.Context, key, holdID string) (string, error) {
	r, err := l.ledger.Capture(ctx, &ledgerv1.CaptureRequest{IdempotencyKey: key, HoldId: holdID})
	return r.GetEntry().GetEntryId(), remote(err)
}

func (l *Ledger) Release(ctx context.Context, key, holdID string) error {
	_, err := l.ledger.Release(ctx, &ledgerv1.ReleaseRequest{IdempotencyKey: key, HoldId: holdID})
	return remote(err)
}

func (l *Ledger) RefundInFull(ctx context.Context, key, entryID, reason string) (string, error) {
	r, err := l.ledger.Reverse(ctx, &ledgerv1.ReverseRequest{IdempotencyKey: key, EntryId: entryID,
		Portion: &ledgerv1.ReverseRequest_Full{Full: true}, Reason: reason})
	return r.GetEntry().GetEntryId(), remote(err)
}
