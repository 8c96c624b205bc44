package domain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
)

// RewardType is what a reward gives.
type RewardType string

// Reward types.
const (
	TypeVoucherAmount  RewardType = "voucher_amount"
	TypeVoucherPercent RewardType = "voucher_percent"
	TypeFreeProduct    RewardType = "free_product"
	TypePartner        RewardType = "partner"
)

// Channel is where a voucher is used.
type Channel string

// Channels.
const (
	ChannelPOS       Channel = "pos"
	ChannelEcommerce Channel = "ecommerce"
	ChannelPartner   Channel = "partner"
	ChannelOperator  Channel = "operator"
)

// Terms are what a reward costs and gives, and who may redeem it where.
type Terms struct {
	Name            string
	Description     string
	PointsCost      int64
	Type            RewardType
	Amount          *money.Money
	Percent         decimal.Decimal
	ProductSKU      string
	PartnerID       string
	PartnerRef      string
	ValidFrom       time.Time
	ValidUntil      time.Time
	VoucherValidity time.Duration
	StockTotal      int64
	MemberLimit     int
	LimitPeriod     period.Period
	MinTier         string
	Segments        []string
	StoreIDs        []string
	Channels        []Channel
}

// Validate checks the terms against themselves and the programme's tiers
// (lowest first). Field names are those of the API's RewardTerms.
func (t *Terms) Validate(tiers []string) error {
	switch t.Type {
	case TypeVoucherAmount:
		if t.Amount == nil || !t.Amount.Amount.IsPositive() {
			return fault.Invalid("terms.benefit.amount_off", "an amount voucher needs a positive amount")
		}
	case TypeVoucherPercent:
		if !t.Percent.IsPositive() || t.Percent.GreaterThan(decimal.NewFromInt(100)) {
			return fault.Invalid("terms.benefit.percent_off", "a percentage voucher needs 0 < percent <= 100")
		}
	case TypeFreeProduct:
		if t.ProductSKU == "" {
			return fault.Invalid("terms.benefit.free_product_sku", "a free product needs its sku")
		}
	case TypePartner:
		if t.PartnerID == "" {
			return fault.Invalid("terms.benefit.partner.partner_id", "a partner reward needs its partner")
		}
	default:
		return fault.Invalid("terms.benefit", "is required")
	}
	if t.Type != TypeVoucherAmount && t.Amount != nil {
		return fault.Invalid("terms.benefit", "only amount vouchers have an amount")
	}
	if t.Type != TypeVoucherPercent && !t.Percent.IsZero() {
		return fault.Invalid("terms.benefit", "only percentage vouchers have a percent")
	}
	if !t.ValidFrom.IsZero() && !t.ValidUntil.IsZero() && !t.ValidFrom.Before(t.ValidUntil) {
		return fault.Invalid("terms.valid_until", "must be after valid_from")
	}
	if t.VoucherValidity <= 0 {
		return fault.Invalid("terms.voucher_validity", "is required")
	}
	if t.MemberLimit > 0 && t.LimitPeriod == "" {
		return fault.Invalid("terms.limit_period", "a member limit needs a period")
	}
	if t.MinTier != "" && !slices.Contains(tiers, t.MinTier) {
		return fault.Invalid("terms.min_tier", "the programme has no tier %q (tiers: %s)", t.MinTier, strings.Join(tiers, ", "))
	}
	return nil
}

// Offer is what a voucher is worth and where it can be used: the part of a
// reward's terms a voucher keeps from when it was issued.
type Offer struct {
	Type       RewardType
	Amount     *money.Money
	Percent    decimal.Decimal
	ProductSKU string
	PartnerID  string
	PartnerRef string
	StoreIDs   []string
	Channels   []Channel
}

// Offer is what a voucher issued under these terms gives.
func (t *Terms) Offer() Offer {
	return Offer{Type: t.Type, Amount: t.Amount, Percent: t.Percent, ProductSKU: t.ProductSKU, PartnerID: t.PartnerID,
		PartnerRef: t.PartnerRef, StoreIDs: t.StoreIDs, Channels: t.Channels}
}

// RewardState is whether a reward can be redeemed.
type RewardState string

// Reward states.
const (
	StateActive RewardState = "active"
	// StateInactive: withdrawn, for good; vouchers issued stay valid.
	StateInactive RewardState = "inactive"
)

// Reward is a catalogue entry.
type Reward struct {
	ID          string
	ProgrammeID string
	Terms
	State RewardState
	// StockAllocated counts vouchers issued or being issued, less cancelled.
	StockAllocated int64
	// Version counts the changes of the terms and state (1 when created):
	// the etag. Stock allocation does not change it.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Etag is the reward's etag (AIP-154): opaque to clients, it changes with
// every change of the terms or state.
func (r *Reward) Etag() string { return "v" + strconv.FormatInt(r.Version, 10) }

// CheckEtag refuses, ABORTED with ETAG_MISMATCH, an etag that is not the
// reward's current one; an empty etag asks for no check.
func (r *Reward) CheckEtag(etag string) error {
	if etag == "" || etag == r.Etag() {
		return nil
	}
	return fault.Aborted(fault.EtagMismatch, "reward %s changed since it was read (etag %q, now %q): read it again", r.ID, etag, r.Etag()).
		About("fidelis.rewards.v1.Reward", r.ID)
}

// TermsField names one field of Terms as a field mask does (the proto
// field of RewardTerms).
type TermsField string

// The fields of Terms; Benefit is the type and its value (amount, percent,
// product, partner) together.
const (
	FieldName            TermsField = "name"
	FieldDescription     TermsField = "description"
	FieldPointsCost      TermsField = "points_cost"
	FieldBenefit         TermsField = "benefit"
	FieldValidFrom       TermsField = "valid_from"
	FieldValidUntil      TermsField = "valid_until"
	FieldVoucherValidity TermsField = "voucher_validity"
	FieldStockTotal      TermsField = "stock_total"
	FieldMemberLimit     TermsField = "member_limit"
	FieldLimitPeriod     TermsField = "limit_period"
	FieldMinTier         TermsField = "min_tier"
	FieldSegments        TermsField = "segments"
	FieldStoreIDs        TermsField = "store_ids"
	FieldChannels        TermsField = "channels"
)

// TermsFields are every field of Terms.
var TermsFields = []TermsField{FieldName, FieldDescription, FieldPointsCost, FieldBenefit, FieldValidFrom, FieldValidUntil,
	FieldVoucherValidity, FieldStockTotal, FieldMemberLimit, FieldLimitPeriod, FieldMinTier, FieldSegments, FieldStoreIDs, FieldChannels}

// With is t with the given fields taken from u (every field when fields
// is empty): a field-masked update.
func (t Terms) With(u Terms, fields []TermsField) Terms {
	if len(fields) == 0 {
		return u
	}
	for _, f := range fields {
		switch f {
		case FieldName:
			t.Name = u.Name
		case FieldDescription:
			t.Description = u.Description
		case FieldPointsCost:
			t.PointsCost = u.PointsCost
		case FieldBenefit:
			t.Type, t.Amount, t.Percent, t.ProductSKU, t.PartnerID, t.PartnerRef = u.Type, u.Amount, u.Percent, u.ProductSKU, u.PartnerID, u.PartnerRef
		case FieldValidFrom:
			t.ValidFrom = u.ValidFrom
		case FieldValidUntil:
			t.ValidUntil = u.ValidUntil
		case FieldVoucherValidity:
			t.VoucherValidity = u.VoucherValidity
		case FieldStockTotal:
			t.StockTotal = u.StockTotal
		case FieldMemberLimit:
			t.MemberLimit = u.MemberLimit
		case FieldLimitPeriod:
			t.LimitPeriod = u.LimitPeriod
		case FieldMinTier:
			t.MinTier = u.MinTier
		case FieldSegments:
			t.Segments = u.Segments
		case FieldStoreIDs:
			t.StoreIDs = u.StoreIDs
		case FieldChannels:
			t.Channels = u.Channels
		}
	}
	return t
}

// StockLeft is what can still be redeemed.
func (r *Reward) StockLeft() int64 { return max(r.StockTotal-r.StockAllocated, 0) }

// MemberView is what eligibility needs to know of a member.
type MemberView struct {
	Available int64
	Tier      string
	Segment   string
}

// Missing is why a member cannot redeem a reward now; the zero value means
// nothing is missing.
type Missing struct {
	PointsShort        int64
	TierNeeded         string
	SegmentNotEligible bool
	OutOfStock         bool
	MemberLimitReached bool
	OutsideValidity    bool
	Inactive           bool
}

// OK tells whether nothing is missing.
func (m Missing) OK() bool { return m == Missing{} }

// Reason is the reason of the refusal Missing stands for: the first of
// the reward not redeemable now (inactive, outside its window), out of
// stock, not for this member (tier, segment), the member's limit reached,
// points short.
func (m Missing) Reason() fault.Reason {
	switch {
	case m.Inactive || m.OutsideValidity:
		return fault.RewardNotRedeemable
	case m.OutOfStock:
		return fault.RewardOutOfStock
	case m.TierNeeded != "" || m.SegmentNotEligible:
		return fault.RewardNotRedeemable
	case m.MemberLimitReached:
		return fault.RedemptionLimitReached
	case m.PointsShort > 0:
		return fault.InsufficientPoints
	}
	return fault.RewardNotRedeemable
}

// Err is the refusal Missing stands for: its Reason, every cause in the
// message, and the points short in the metadata.
func (m Missing) Err() error {
	var why []string
	switch {
	case m.Inactive:
		why = append(why, "the reward is no longer offered")
	case m.OutsideValidity:
		why = append(why, "the reward cannot be redeemed at this time")
	}
	if m.OutOfStock {
		why = append(why, "out of stock")
	}
	if m.MemberLimitReached {
		why = append(why, "the member's redemption limit is reached")
	}
	if m.TierNeeded != "" {
		why = append(why, "tier "+m.TierNeeded+" or higher is needed")
	}
	if m.SegmentNotEligible {
		why = append(why, "not offered to the member's segment")
	}
	if m.PointsShort > 0 {
		why = append(why, fmt.Sprintf("%d more points needed", m.PointsShort))
	}
	f := fault.Precondition(m.Reason(), "cannot redeem: %s", strings.Join(why, "; "))
	if m.PointsShort > 0 {
		f.With("points_short", strconv.FormatInt(m.PointsShort, 10))
	}
	return f
}

// Check says what stops a member from redeeming the reward now. tiers are
// the programme's tiers, lowest first; used is how many times the member
// redeemed it in the current limit period.
func (r *Reward) Check(m MemberView, tiers []string, used int, now time.Time) Missing {
	var out Missing
	out.Inactive = r.State != StateActive
	out.OutsideValidity = (!r.ValidFrom.IsZero() && now.Before(r.ValidFrom)) || (!r.ValidUntil.IsZero() && !now.Before(r.ValidUntil))
	out.OutOfStock = r.StockLeft() == 0
	out.MemberLimitReached = r.MemberLimit > 0 && used >= r.MemberLimit
	if r.MinTier != "" && slices.Index(tiers, m.Tier) < slices.Index(tiers, r.MinTier) {
		out.TierNeeded = r.MinTier
	}
	out.SegmentNotEligible = len(r.Segments) > 0 && !slices.Contains(r.Segments, m.Segment)
	out.PointsShort = max(r.PointsCost-m.Available, 0)
	return out
}

// RedemptionStatus is the state of a redemption.
type RedemptionStatus string

// Redemption statuses, in the order a redemption moves through them.
const (
	// RedemptionStarted: the request is recorded; the ledger holds the points.
	RedemptionStarted RedemptionStatus = "started"
	// RedemptionPending: stock allocated and a voucher reserved; the points
	// are being captured.
	RedemptionPending   RedemptionStatus = "pending"
	RedemptionCompleted RedemptionStatus = "completed"
	// RedemptionFailed: the hold released, the stock returned.
	RedemptionFailed     RedemptionStatus = "failed"
	RedemptionCancelling RedemptionStatus = "cancelling"
	RedemptionCancelled  RedemptionStatus = "cancelled"
)

// Redemption is one member's redemption of a reward.
type Redemption struct {
	ID             string
	RewardID       string
	MemberID       string
	ProgrammeID    string
	Status         RedemptionStatus
	Points         int64
	HoldID         string
	CaptureEntryID string
	RefundEntryID  string
	VoucherCode    string
	PeriodKey      string
	// Failure is why a failed redemption failed, or why a cancelled one
	// was cancelled, in words.
	Failure string
	// Refusal is the refusal a failed redemption replays to every retry
	// of its key: its reason, metadata and resource (nil for redemptions
	// failed before refusals were kept: they replay REDEMPTION_FAILED).
	Refusal   *fault.Error
	CreatedAt time.Time
	UpdatedAt time.Time
}

// VoucherStatus is the state of a voucher.
type VoucherStatus string

// Voucher statuses.
const (
	VoucherPending   VoucherStatus = "pending"
	VoucherActive    VoucherStatus = "active"
	VoucherConsumed  VoucherStatus = "consumed"
	VoucherCancelled VoucherStatus = "cancelled"
)

// Voucher is what a redemption gives: usable once, until it expires, where
// its offer allows.
type Voucher struct {
	Code         string
	RedemptionID string
	RewardID     string
	MemberID     string
	Status       VoucherStatus
	IssuedAt     time.Time
	ExpiresAt    time.Time
	// Offer is the reward's when the voucher was issued; changing the
	// reward does not change it.
	Offer
	// Where, how and for which order it was used, and the idempotency key
	// of that use.
	ConsumedAt       time.Time
	ConsumedStore    string
	ConsumedChannel  Channel
	ConsumedOrderRef string
	ConsumeKey       string
}

// Expired tells whether an active voucher has passed its expiry.
func (v *Voucher) Expired(now time.Time) bool {
	return v.Status == VoucherActive && !now.Before(v.ExpiresAt)
}

// VoucherProblem is why a voucher cannot be used; "" for none.
type VoucherProblem string

// Voucher problems. Their names are those of the API's VoucherProblem
// values without the prefix: a refusal carries one in its metadata.
const (
	ProblemAlreadyUsed  VoucherProblem = "ALREADY_USED"
	ProblemCancelled    VoucherProblem = "CANCELLED"
	ProblemExpired      VoucherProblem = "EXPIRED"
	ProblemWrongStore   VoucherProblem = "WRONG_STORE"
	ProblemWrongChannel VoucherProblem = "WRONG_CHANNEL"
	// ProblemNotIssued: a voucher still being issued, which no caller
	// sees (it is not found).
	ProblemNotIssued VoucherProblem = "NOT_ISSUED"
)

// Usable says whether the voucher can be used at a store and channel now:
// "" if it can, else the problem and why in words.
func (v *Voucher) Usable(store string, ch Channel, now time.Time) (VoucherProblem, string) {
	switch {
	case v.Status == VoucherConsumed:
		return ProblemAlreadyUsed, "already used on " + v.ConsumedAt.Format(time.RFC3339)
	case v.Status == VoucherCancelled:
		return ProblemCancelled, "cancelled"
	case v.Status != VoucherActive:
		return ProblemNotIssued, "not issued yet"
	case !now.Before(v.ExpiresAt):
		return ProblemExpired, "expired on " + v.ExpiresAt.Format(time.RFC3339)
	case len(v.StoreIDs) > 0 && !slices.Contains(v.StoreIDs, store):
		return ProblemWrongStore, "not valid at store " + store
	case len(v.Channels) > 0 && !slices.Contains(v.Channels, ch):
		return ProblemWrongChannel, "not valid on channel " + string(ch)
	}
	return "", ""
}
