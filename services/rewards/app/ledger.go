package app

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// Ledger is what the rewards service needs of the ledger; an adapter
// (services/rewards/adapters) implements it over the ledger's API, passing
// on the caller of ctx. An error that is a fault is a rule the request
// broke at the ledger (not enough points, a hold no longer active, another
// programme's member); any other is the ledger failing, and a retry with
// the same keys may succeed.
type Ledger interface {
	// MemberProgramme is the programme a member belongs to.
	MemberProgramme(ctx context.Context, memberID string) (string, error)
	// Available is a member's spendable points.
	Available(ctx context.Context, memberID string) (int64, error)
	// Tiers are a programme's tiers, lowest first.
	Tiers(ctx context.Context, programmeID string) ([]string, error)
	// Tier and Segment are a member's tier and RFM segment.
	Tier(ctx context.Context, memberID string) (string, error)
	Segment(ctx context.Context, memberID string) (string, error)
	// Profiling tells whether the member consents, now, to profiling for
	// personalised offers (ConsentService).
	Profiling(ctx context.Context, memberID string) (bool, error)
	// Hold reserves points under an idempotency key and returns the hold.
	Hold(ctx context.Context, key string, h HoldRequest) (holdID string, err error)
	// Capture burns a hold in full and returns the capture's entry.
	Capture(ctx context.Context, key, holdID string) (entryID string, err error)
	// Release gives a hold's points back.
	Release(ctx context.Context, key, holdID string) error
	// RefundInFull reverses a capture entry in full and returns the refund's
	// entry.
	RefundInFull(ctx context.Context, key, entryID, reason string) (refundID string, err error)
}

// HoldRequest is points to reserve for a redemption.
type HoldRequest struct {
	MemberID  string
	Points    int64
	TTL       time.Duration
	Reference string
	Channel   domain.Channel
}
