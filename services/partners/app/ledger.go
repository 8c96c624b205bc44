package app

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// Ledger is what the partners service needs of the ledger; an adapter
// (services/partners/adapters) implements it over the ledger's API,
// passing on the caller of ctx (a partner: the ledger then binds the call
// to its programme and account). An error that is a fault is a rule the
// request broke at the ledger; any other is the ledger failing, and a
// retry with the same key may succeed.
type Ledger interface {
	// CheckProgramme is NotFound for a programme that does not exist.
	CheckProgramme(ctx context.Context, programmeID string) error
	// FindMember finds a programme's member by card number.
	FindMember(ctx context.Context, programmeID, card string) (memberID string, err error)
	// Available is a member's spendable points.
	Available(ctx context.Context, memberID string) (int64, error)
	// Consent is whether a member agreed to partner marketing.
	Consent(ctx context.Context, memberID string) (bool, error)
	// Tier is a member's tier ("" when the programme has none); Segment
	// its RFM segment.
	Tier(ctx context.Context, memberID string) (string, error)
	Segment(ctx context.Context, memberID string) (string, error)
	// Post records a partner transaction on the ledger, under key: an earn
	// funded by the partner's account, or a burn paid to it. It returns
	// the ledger entry.
	Post(ctx context.Context, key string, t *domain.Txn) (entryID string, err error)
}
