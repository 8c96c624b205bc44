package grpcapi

import (
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

var channels = map[ledgerv1.Channel]domain.Channel{
	ledgerv1.Channel_CHANNEL_UNSPECIFIED: domain.ChannelNone,
	ledgerv1.Channel_CHANNEL_POS:         domain.ChannelPOS,
	ledgerv1.Channel_CHANNEL_ECOMMERCE:   domain.ChannelEcommerce,
	ledgerv1.Channel_CHANNEL_PARTNER:     domain.ChannelPartner,
	ledgerv1.Channel_CHANNEL_OPERATOR:    domain.ChannelOperator,
}

func channelToProto(c domain.Channel) ledgerv1.Channel {
	for k, v := range channels {
		if v == c {
			return k
		}
	}
	return ledgerv1.Channel_CHANNEL_UNSPECIFIED
}

var entryKinds = map[domain.EntryKind]ledgerv1.EntryKind{
	domain.EntryEarn:           ledgerv1.EntryKind_ENTRY_KIND_EARN,
	domain.EntryBurn:           ledgerv1.EntryKind_ENTRY_KIND_BURN,
	domain.EntryHold:           ledgerv1.EntryKind_ENTRY_KIND_HOLD,
	domain.EntryCapture:        ledgerv1.EntryKind_ENTRY_KIND_CAPTURE,
	domain.EntryRelease:        ledgerv1.EntryKind_ENTRY_KIND_RELEASE,
	domain.EntryClawback:       ledgerv1.EntryKind_ENTRY_KIND_CLAWBACK,
	domain.EntryRefund:         ledgerv1.EntryKind_ENTRY_KIND_REFUND,
	domain.EntryAdjustment:     ledgerv1.EntryKind_ENTRY_KIND_ADJUSTMENT,
	domain.EntryExpiry:         ledgerv1.EntryKind_ENTRY_KIND_EXPIRY,
	domain.EntryPendingRelease: ledgerv1.EntryKind_ENTRY_KIND_PENDING_RELEASE,
	domain.EntryTierFloor:      ledgerv1.EntryKind_ENTRY_KIND_TIER_FLOOR,
}

var holdStatuses = map[domain.HoldStatus]ledgerv1.HoldStatus{
	domain.HoldActive:   ledgerv1.HoldStatus_HOLD_STATUS_ACTIVE,
	domain.HoldCaptured: ledgerv1.HoldStatus_HOLD_STATUS_CAPTURED,
	domain.HoldReleased: ledgerv1.HoldStatus_HOLD_STATUS_RELEASED,
	domain.HoldExpired:  ledgerv1.HoldStatus_HOLD_STATUS_EXPIRED,
}

// moneyFromProto parses a validated Money; field names the request field for errors.
func moneyFromProto(m *ledgerv1.Money, field string) (*money.Money, error) {
	if m == nil {
		return nil, nil
	}
	d, err := decimal.NewFromString(m.GetAmount())
	if err != nil {
		return nil, fault.Invalid(field+".amount", "is not a decimal number")
	}
	return &money.Money{Amount: d, Currency: m.GetCurrency()}, nil
}

func moneyToProto(m *money.Money) *ledgerv1.Money {
	if m == nil {
		return nil
	}
	return &ledgerv1.Money{Amount: m.Amount.String(), Currency: m.Currency}
}

func memberToProto(m *domain.Member) *ledgerv1.Member {
	return &ledgerv1.Member{
		MemberId: m.ID, ProgrammeId: m.ProgrammeID, ExternalRef: m.ExternalRef, EnrolledAt: ts(m.EnrolledAt),
		BirthDate: m.BirthDate, PartnerMarketingConsent: m.PartnerConsent,
	}
}

func entryToProto(e *domain.Entry) *ledgerv1.Entry {
	if e == nil {
		return nil
	}
	p := &ledgerv1.Entry{
		EntryId: e.ID, MemberId: e.MemberID, Kind: entryKinds[e.Kind], Points: e.Points,
		AvailableAfter: e.AvailableAfter, PendingAfter: e.PendingAfter, HeldAfter: e.HeldAfter, Sequence: e.Seq,
		Channel: channelToProto(e.Channel), StoreId: e.StoreID, OrderRef: e.OrderRef, Purchase: moneyToProto(e.Purchase),
		Reason: e.Reason, Operator: e.Operator, ReversesEntryId: e.ReversesEntryID, HoldId: e.HoldID,
		OccurredAt: ts(e.OccurredAt), RecordedAt: ts(e.RecordedAt), ConfigVersion: e.ConfigVersion,
		Tier: e.Tier, BasePoints: e.BasePoints, PartnerId: e.PartnerID,
	}
	for _, ps := range e.Postings {
		p.Postings = append(p.Postings, &ledgerv1.Posting{Account: ps.Account, Amount: ps.Amount})
	}
	return p
}

func balanceToProto(b posting.Balance) *ledgerv1.Balance {
	p := &ledgerv1.Balance{
		MemberId: b.MemberID, Available: b.Available, Pending: b.Pending, Held: b.Held,
		LifetimeEarned: b.LifetimeEarned, LifetimeBurned: b.LifetimeBurned, AsOf: ts(b.AsOf),
	}
	for _, s := range b.Expiring {
		p.Expiring = append(p.Expiring, &ledgerv1.ExpiringPoints{ExpiresAt: ts(s.At), Points: s.Points})
	}
	for _, s := range b.PendingSchedule {
		p.PendingSchedule = append(p.PendingSchedule, &ledgerv1.PendingPoints{AvailableAt: ts(s.At), Points: s.Points})
	}
	return p
}

func holdToProto(h *domain.Hold) *ledgerv1.PointsHold {
	return &ledgerv1.PointsHold{
		HoldId: h.ID, MemberId: h.MemberID, Status: holdStatuses[h.Status], Points: h.Points, Captured: h.Captured,
		Reference: h.Reference, CreatedAt: ts(h.CreatedAt), ExpiresAt: ts(h.ExpiresAt),
	}
}
