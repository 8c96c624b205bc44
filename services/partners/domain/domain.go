// Package domain is the partners service's model: partners and their
// rates, the pseudonymous member references they see,
// offers with their targeting, caps and budgets, partner transactions and
// settlement statements. It does no I/O.
package domain

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
)

// UnitMiles is the earn unit of partners that count in miles.
const UnitMiles = "MILES"

// Partner is a partner company of one programme.
type Partner struct {
	ID          string
	Name        string
	ProgrammeID string
	// EarnUnit is what the partner's amounts are in: a currency or MILES;
	// EarnRate is points per unit.
	EarnUnit string
	EarnRate decimal.Decimal
	Rounding money.Rounding
	// PricePerPoint is what the partner pays per point it issues;
	// ValuePerPoint what it is paid per point burned with it.
	PricePerPoint money.Money
	ValuePerPoint money.Money
	Active        bool
	// Salt keys the partner's member references: a secret, never in a
	// stored reply (json:"-"). (The partner's API keys are those of its
	// principal, "partner:<id>", in the access service.)
	Salt      []byte `json:"-"`
	CreatedAt time.Time
}

// Validate checks a new partner's terms.
func (p *Partner) Validate() error {
	switch {
	case !p.EarnRate.IsPositive():
		return fault.Invalid("earn_rate", "must be positive")
	case !p.PricePerPoint.Amount.IsPositive() || !p.ValuePerPoint.Amount.IsPositive():
		return fault.Invalid("price_per_point", "prices per point must be positive")
	case p.PricePerPoint.Currency != p.ValuePerPoint.Currency:
		return fault.Invalid("value_per_point.currency", "must be the currency of price_per_point (%s)", p.PricePerPoint.Currency)
	}
	return nil
}

// Points converts an amount in the partner's unit into points.
func (p *Partner) Points(amount decimal.Decimal) int64 {
	return p.Rounding.Round(amount.Mul(p.EarnRate))
}

// NewSalt makes the key of a partner's member references.
func NewSalt() ([]byte, error) {
	var s [32]byte
	if _, err := rand.Read(s[:]); err != nil {
		return nil, fmt.Errorf("salt: %w", err)
	}
	return s[:], nil
}

// MemberRef is the member's pseudonym for this partner: stable, and
// unlinkable across partners without the partner's salt.
func (p *Partner) MemberRef(memberID string) string {
	m := hmac.New(sha256.New, p.Salt)
	m.Write([]byte(memberID))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return "pm_" + strings.ToLower(enc.EncodeToString(m.Sum(nil)[:20]))
}

// OfferKind is how an offer rewards.
type OfferKind string

// Offer kinds.
const (
	OfferMultiplier OfferKind = "multiplier"
	OfferFixedBonus OfferKind = "fixed_bonus"
)

// OfferTerms are what an offer gives, to whom, how often and until when.
type OfferTerms struct {
	Name         string
	Kind         OfferKind
	Multiplier   decimal.Decimal
	BonusPoints  int64
	Tiers        []string
	Segments     []string
	ValidFrom    time.Time
	ValidUntil   time.Time
	CapPerMember int
	CapPeriod    period.Period
	MinInterval  time.Duration
	BudgetPoints int64
}

// Validate checks an offer's terms.
func (t *OfferTerms) Validate() error {
	switch t.Kind {
	case OfferMultiplier:
		if !t.Multiplier.GreaterThan(decimal.NewFromInt(1)) || t.BonusPoints != 0 {
			return fault.Invalid("terms.multiplier.factor", "a multiplier offer needs a factor above 1 and no bonus points")
		}
	case OfferFixedBonus:
		if t.BonusPoints <= 0 || !t.Multiplier.IsZero() {
			return fault.Invalid("terms.fixed_bonus.points", "a fixed bonus offer needs bonus points and no multiplier")
		}
	default:
		return fault.Invalid("terms.bonus", "unknown offer kind %q", t.Kind)
	}
	if !t.ValidFrom.IsZero() && !t.ValidUntil.IsZero() && !t.ValidFrom.Before(t.ValidUntil) {
		return fault.Invalid("terms.valid_until", "must be after valid_from")
	}
	if t.CapPerMember > 0 && t.CapPeriod == "" {
		return fault.Invalid("terms.member_cap.period", "a cap needs a period")
	}
	if t.BudgetPoints <= 0 {
		return fault.Invalid("terms.budget_points", "must be positive")
	}
	return nil
}

// Offer is an offer at a partner.
type Offer struct {
	ID        string
	PartnerID string
	OfferTerms
	SpentPoints int64
	CreatedAt   time.Time
}

// Bonus is the offer's bonus on an earn of base points.
func (o *Offer) Bonus(base int64, r money.Rounding) int64 {
	if o.Kind == OfferFixedBonus {
		return o.BonusPoints
	}
	return r.Round(decimal.NewFromInt(base).Mul(o.Multiplier.Sub(decimal.NewFromInt(1))))
}

// Target is what targeting needs to know of a member.
type Target struct {
	Consent bool
	Tier    string
	Segment string
}

// Usage is a member's uses of an offer in the current cap period, and when
// the member last had an offer of the same partner (any of its offers):
// the minimum interval counts from then.
type Usage struct {
	Used   int
	LastAt time.Time
}

// Check says why the offer cannot give bonus points to a member now, or
// nil if it can.
func (o *Offer) Check(m Target, u Usage, bonus int64, now time.Time) error {
	switch {
	case !m.Consent:
		return fault.Precondition(fault.OfferNoConsent, "offer %s: the member has not consented to partner marketing", o.ID)
	case (!o.ValidFrom.IsZero() && now.Before(o.ValidFrom)) || (!o.ValidUntil.IsZero() && !now.Before(o.ValidUntil)):
		return fault.Precondition(fault.OfferNotApplicable, "offer %s is not valid now", o.ID)
	case len(o.Tiers) > 0 && !slices.Contains(o.Tiers, m.Tier):
		return fault.Precondition(fault.OfferNotApplicable, "offer %s is not for tier %q", o.ID, m.Tier)
	case len(o.Segments) > 0 && !slices.Contains(o.Segments, m.Segment):
		return fault.Precondition(fault.OfferNotApplicable, "offer %s is not for segment %q", o.ID, m.Segment)
	case o.CapPerMember > 0 && u.Used >= o.CapPerMember:
		return fault.Precondition(fault.OfferCapReached, "offer %s: the member has used it %d times this period", o.ID, u.Used)
	case o.MinInterval > 0 && !u.LastAt.IsZero() && now.Sub(u.LastAt) < o.MinInterval:
		return fault.Precondition(fault.OfferCooldown, "offer %s: the member had an offer of this partner at %s, next one possible from %s", o.ID,
			u.LastAt.Format(time.RFC3339), u.LastAt.Add(o.MinInterval).Format(time.RFC3339))
	case o.SpentPoints+bonus > o.BudgetPoints:
		return fault.Precondition(fault.OfferBudgetExhausted, "offer %s: budget exhausted", o.ID)
	}
	return nil
}

// TxnKind is what a partner transaction does.
type TxnKind string

// Transaction kinds.
const (
	TxnEarn TxnKind = "earn"
	TxnBurn TxnKind = "burn"
)

// TxnStatus is the state of a partner transaction.
type TxnStatus string

// Transaction statuses.
const (
	TxnPending   TxnStatus = "pending"
	TxnCompleted TxnStatus = "completed"
	TxnFailed    TxnStatus = "failed"
)

// Txn is a partner earn or burn.
type Txn struct {
	ID          string
	PartnerID   string
	MemberID    string
	ProgrammeID string
	Kind        TxnKind
	Status      TxnStatus
	// Amount and Unit of an earn.
	Amount      decimal.Decimal
	Unit        string
	Points      int64
	BonusPoints int64
	OfferID     string
	PeriodKey   string
	// MoneyMicros is what the partner owes (earn) or is owed (burn), in
	// millionths of Currency.
	MoneyMicros int64
	Currency    string
	Reference   string
	EntryID     string
	// Failure is why a failed transaction failed (the ledger's message),
	// FailureReason the reason the ledger gave (fault.Reason; empty when
	// it gave none of its own): a retry with the key replays both.
	Failure       string
	FailureReason fault.Reason
	// OccurredAt is when the partner says it happened; CreatedAt when it
	// was recorded; UpdatedAt, once completed or failed (final states),
	// when it was posted to the ledger or refused. Settlement periods count
	// completed transactions by when they were posted.
	OccurredAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Statement is a partner's settlement for a period.
type Statement struct {
	PartnerID          string
	From, To           time.Time
	EarnCount          int64
	BurnCount          int64
	PointsIssued       int64
	BonusPointsIssued  int64
	PointsBurned       int64
	Currency           string
	OwedByPartnerMicro int64
	OwedToPartnerMicro int64
}
