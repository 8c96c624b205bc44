package app

import (
	"context"
	"errors"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// ErrConflict is a row changed or a key taken by a concurrent request;
// reading again and retrying resolves it.
var ErrConflict = errors.New("partners: concurrent conflict")

// Store is the partners service's persistence.
type Store interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	View(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// PurgeIdem deletes the idempotency records written before before,
	// and returns how many.
	PurgeIdem(ctx context.Context, before time.Time) (int, error)
}

// Tx is one database transaction: the idempotency table and the
// service's tables, each through a role of its own (a function that needs
// one role takes only it).
type Tx interface {
	// Idem, PutIdem (a key already taken is ErrConflict) and FinishIdem:
	// the idempotency table (see idem.Tx).
	idem.Tx
	Partners
	Links
	Offers
	OfferUse
	Txns
}

// Partners are the partner companies.
type Partners interface {
	InsertPartner(ctx context.Context, p *domain.Partner) error
	Partner(ctx context.Context, id string) (*domain.Partner, error)
}

// Links are the members partners have linked, by their references.
type Links interface {
	// Link resolves a partner's member reference.
	Link(ctx context.Context, partnerID, ref string) (memberID string, ok bool, err error)
	// LinkOwner tells which partner a member reference belongs to.
	LinkOwner(ctx context.Context, ref string) (partnerID string, ok bool, err error)
	InsertLink(ctx context.Context, partnerID, ref, memberID string, at time.Time) error
}

// Offers are partners' offers.
type Offers interface {
	InsertOffer(ctx context.Context, o *domain.Offer) error
	Offer(ctx context.Context, id string) (*domain.Offer, error)
	// Offers returns up to limit of a partner's offers after after, oldest
	// first (then by id).
	Offers(ctx context.Context, partnerID string, after OfferPosition, limit int) ([]*domain.Offer, error)
	// ProgrammeOffers returns up to limit offers of a programme's
	// partners after after, in the same order.
	ProgrammeOffers(ctx context.Context, programmeID string, after OfferPosition, limit int) ([]*domain.Offer, error)
}

// OfferPosition is an offer's place in the order offers are listed in:
// when it was created, then its id. The zero position is before the
// first offer.
type OfferPosition struct {
	CreatedAt time.Time
	ID        string
}

// OfferUse is what offers give: their budgets and members' uses.
type OfferUse interface {
	// SpendBudget takes points from an offer's budget, if that much is left.
	SpendBudget(ctx context.Context, offerID string, points int64) (bool, error)
	ReturnBudget(ctx context.Context, offerID string, points int64) error
	// Usage is a member's uses of an offer in a period, and the member's
	// last offer of the same partner (any of its offers, failed earns
	// aside).
	Usage(ctx context.Context, o *domain.Offer, memberID, period string) (domain.Usage, error)
	CountUse(ctx context.Context, offerID, memberID, period string, at time.Time) error
	ReturnUse(ctx context.Context, offerID, memberID, period string) error
}

// Txns are partner transactions and what they settle to.
type Txns interface {
	InsertTxn(ctx context.Context, t *domain.Txn) error
	// UpdateTxn writes t if it is still in status from; otherwise ErrConflict.
	UpdateTxn(ctx context.Context, t *domain.Txn, from domain.TxnStatus) error
	Txn(ctx context.Context, id string) (*domain.Txn, error)
	// PendingTxns returns transactions pending since a time after after
	// and before before, the longest pending first.
	PendingTxns(ctx context.Context, after, before time.Time, limit int) ([]*domain.Txn, error)
	// Statement sums a partner's transactions completed (posted to the
	// ledger) in [from, to).
	Statement(ctx context.Context, partnerID string, from, to time.Time) (*domain.Statement, error)
}
