package grpcapi

import (
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/shopspring/decimal"
	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
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

var channels = map[typev1.Channel]domain.Channel{
	typev1.Channel_CHANNEL_UNSPECIFIED: domain.ChannelNone,
	typev1.Channel_CHANNEL_POS:         domain.ChannelPOS,
	typev1.Channel_CHANNEL_ECOMMERCE:   domain.ChannelEcommerce,
	typev1.Channel_CHANNEL_PARTNER:     domain.ChannelPartner,
	typev1.Channel_CHANNEL_OPERATOR:    domain.ChannelOperator,
}

func channelToProto(c domain.Channel) typev1.Channel {
	for k, v := range channels {
		if v == c {
			return k
		}
	}
	return typev1.Channel_CHANNEL_UNSPECIFIED
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

// holdStatusFromProto is a ListHolds filter: "" (any) for UNSPECIFIED.
func holdStatusFromProto(s ledgerv1.HoldStatus) domain.HoldStatus {
	for k, v := range holdStatuses {
		if v == s {
			return k
		}
	}
	return ""
}

func consentToProto(granted bool) ledgerv1.ConsentState {
	if granted {
		return ledgerv1.ConsentState_CONSENT_STATE_GRANTED
	}
	return ledgerv1.ConsentState_CONSENT_STATE_WITHHELD
}

// dateFromProto is a google.type.Date as YYYY-MM-DD ("" when unset), the
// form the app reads and validates (a field's CEL rules have checked it is
// a real date already).
func dateFromProto(d *date.Date) string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.GetYear(), d.GetMonth(), d.GetDay())
}

// dateToProto is a YYYY-MM-DD date as a google.type.Date, nil when empty
// (or, never expected, unreadable).
func dateToProto(s string) *date.Date {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return nil
	}
	return &date.Date{Year: int32(t.Year()), Month: int32(t.Month()), Day: int32(t.Day())}
}

// moneyFromProto parses a validated Money; field names the request field for errors.
func moneyFromProto(m *typev1.Money, field string) (*money.Money, error) {
	if m == nil {
		return nil, nil
	}
	d, err := decimal.NewFromString(m.GetAmount())
	if err != nil {
		return nil, fault.Invalid(field+".amount", "is not a decimal number")
	}
	return &money.Money{Amount: d, Currency: m.GetCurrencyCode()}, nil
}

func moneyToProto(m *money.Money) *typev1.Money {
	if m == nil {
		return nil
	}
	return &typev1.Money{Amount: m.Amount.String(), CurrencyCode: m.Currency}
}

func memberToProto(m *domain.Member) *ledgerv1.Member {
	return &ledgerv1.Member{
		MemberId: m.ID, ProgrammeId: m.ProgrammeID, ExternalRef: m.ExternalRef, EnrolledAt: ts(m.EnrolledAt),
		BirthDate: dateToProto(m.BirthDate), PartnerMarketingConsent: consentToProto(m.PartnerConsent),
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
		Released: h.Released, Reference: h.Reference, CreatedAt: ts(h.CreatedAt), ExpiresAt: ts(h.ExpiresAt), EntryId: h.EntryID,
	}
}
