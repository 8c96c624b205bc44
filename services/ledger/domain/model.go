// Package domain is the points ledger's model: members, lots, holds and
// double-entry entries, and the rules that move points between them. It does
// no I/O: the app layer loads a member's Book, calls one operation, and
// persists what the Book reports as changed.
package domain

import (
	"strings"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
)

// EntryKind is the kind of a ledger entry.
type EntryKind string

// Entry kinds.
const (
	EntryEarn           EntryKind = "earn"
	EntryBurn           EntryKind = "burn"
	EntryHold           EntryKind = "hold"
	EntryCapture        EntryKind = "capture"
	EntryRelease        EntryKind = "release"
	EntryClawback       EntryKind = "clawback"
	EntryRefund         EntryKind = "refund"
	EntryAdjustment     EntryKind = "adjustment"
	EntryExpiry         EntryKind = "expiry"
	EntryPendingRelease EntryKind = "pending_release"
	// EntryTierFloor sets or clears a member's manual tier floor; it moves
	// no points.
	EntryTierFloor EntryKind = "tier_floor"
)

// Channel is where a transaction happened.
type Channel string

// Channels.
const (
	ChannelNone      Channel = ""
	ChannelPOS       Channel = "pos"
	ChannelEcommerce Channel = "ecommerce"
	ChannelPartner   Channel = "partner"
	ChannelOperator  Channel = "operator"
)

// Member is a programme member and its balances. Available, Pending and Held
// are the balances of the member's three accounts; Debt is the part of a
// negative available balance that no lot covers.
type Member struct {
	ID             string
	ProgrammeID    string
	ExternalRef    string
	BirthDate      string
	PartnerConsent bool
	EnrolledAt     time.Time

	Available      int64
	Pending        int64
	Held           int64
	Debt           int64
	LifetimeEarned int64
	LifetimeBurned int64
	// Seq is the sequence number of the member's last entry.
	Seq int64
	// NextDueAt is when something of the member's next falls due: a pending
	// lot's release, a lot's expiry, a hold's end (zero: nothing).
	NextDueAt time.Time
	// Tier is the member's tier as last projected from the ledger; it
	// prices purchase points.
	Tier      string
	UpdatedAt time.Time
}

// Due tells whether something of the member's is due at t.
func (m *Member) Due(t time.Time) bool {
	return !m.NextDueAt.IsZero() && !t.Before(m.NextDueAt)
}

// Lot is a parcel of earned points with one expiry. Remaining counts the
// points still in it: pending while Pending, spendable afterwards.
type Lot struct {
	ID            string
	MemberID      string
	SourceEntryID string
	Points        int64
	Remaining     int64
	Pending       bool
	// AvailableAt is the end of the return window (zero: never pending).
	AvailableAt time.Time
	// ExpiresAt is zero for points that never expire, and for pending lots.
	ExpiresAt time.Time
	CreatedAt time.Time
}

func (l *Lot) expiredAt(t time.Time) bool {
	return !l.Pending && !l.ExpiresAt.IsZero() && !t.Before(l.ExpiresAt)
}

// fifoCmp orders lots for spending: earliest expiry first, never-expiring
// last, ties by age.
func fifoCmp(a, b *Lot) int {
	switch {
	case a.ExpiresAt.IsZero() != b.ExpiresAt.IsZero():
		if a.ExpiresAt.IsZero() {
			return 1
		}
		return -1
	case !a.ExpiresAt.Equal(b.ExpiresAt):
		return a.ExpiresAt.Compare(b.ExpiresAt)
	case !a.CreatedAt.Equal(b.CreatedAt):
		return a.CreatedAt.Compare(b.CreatedAt)
	default:
		return strings.Compare(a.ID, b.ID)
	}
}

// HoldStatus is the state of a hold.
type HoldStatus string

// Hold statuses.
const (
	HoldActive   HoldStatus = "active"
	HoldCaptured HoldStatus = "captured"
	HoldReleased HoldStatus = "released"
	HoldExpired  HoldStatus = "expired"
)

// Hold is a reservation of points, drawn from lots when placed.
type Hold struct {
	ID        string
	MemberID  string
	EntryID   string
	Points    int64
	Captured  int64
	Released  int64
	Status    HoldStatus
	Reference string
	CreatedAt time.Time
	ExpiresAt time.Time
	UpdatedAt time.Time
}

// Outstanding is the number of points the hold still reserves.
func (h *Hold) Outstanding() int64 {
	if h.Status != HoldActive {
		return 0
	}
	return h.Points - h.Captured - h.Released
}

// Posting is one leg of an entry; an entry's postings sum to zero.
type Posting struct {
	Account string
	Amount  int64
}

// Entry is one append-only ledger transaction.
type Entry struct {
	ID          string
	MemberID    string
	ProgrammeID string
	Seq         int64
	Kind        EntryKind
	Points      int64
	// BasePoints is a purchase earn's points before the tier multiplier.
	BasePoints int64
	// Tier is the tier that priced an earn, or the floor a tier_floor sets.
	Tier string
	// PartnerID is the partner that funded an earn or took a burn.
	PartnerID string
	Postings  []Posting

	AvailableAfter int64
	PendingAfter   int64
	HeldAfter      int64

	Channel  Channel
	StoreID  string
	OrderRef string
	// Purchase is the purchase an earn was priced from, or the returned part
	// of it for a clawback.
	Purchase *money.Money
	// Uncollected is clawback points the floor did not allow to recover.
	Uncollected     int64
	Reason          string
	Operator        string
	ReversesEntryID string
	HoldID          string
	OccurredAt      time.Time
	RecordedAt      time.Time
	ConfigVersion   int64
	Caller          string
}

// LotMove records points entering (positive) or leaving (negative) a lot.
// OriginEntryID groups the moves a reversal can undo: a burn's draws and
// their refunds share the burn as origin, a hold's draws and their release
// share the hold entry.
type LotMove struct {
	EntryID       string
	LotID         string
	OriginEntryID string
	Points        int64
}

// Account names.
const (
	BucketAvailable = "available"
	BucketPending   = "pending"
	BucketHeld      = "held"
)

// MemberAccount names a member's account.
func MemberAccount(memberID, bucket string) string {
	return "member:" + memberID + ":" + bucket
}

// PartnerAccount names a partner's account: the points it funded (negative)
// and took in burns (positive).
func PartnerAccount(partnerID string) string { return "partner:" + partnerID }

// ProgrammeAccount names one of a programme's system accounts: issuance,
// redemption, expired, adjustment.
func ProgrammeAccount(programmeID, name string) string {
	return "programme:" + programmeID + ":" + name
}
