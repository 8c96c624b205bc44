package posting

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Store is the write path's persistence.
type Store interface {
	// Update runs fn in a read-write transaction. It may run fn again after a
	// serialization conflict, so fn must rebuild all of its state each time.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(ctx context.Context, tx Reader) error) error
	// Replies reads stored idempotency records outside any transaction.
	Replies(ctx context.Context, keys []idem.Key) (map[idem.Key]idem.Record, error)
	// PurgeReplies deletes the idempotency records written before before
	// and returns how many.
	PurgeReplies(ctx context.Context, before time.Time) (int, error)
}

// Books reads members' accounts: what a Book is loaded from.
type Books interface {
	// Members returns the members found; lock takes row locks for update.
	Members(ctx context.Context, ids []string, lock bool) (map[string]*domain.Member, error)
	MemberIDByRef(ctx context.Context, programmeID, externalRef string) (string, bool, error)
	// OpenLots returns the lots with points remaining or still pending.
	OpenLots(ctx context.Context, memberIDs []string) ([]*domain.Lot, error)
	LotsByID(ctx context.Context, ids []string) ([]*domain.Lot, error)
	LotsBySource(ctx context.Context, entryID string) ([]*domain.Lot, error)
	ActiveHolds(ctx context.Context, memberIDs []string) ([]*domain.Hold, error)
	Hold(ctx context.Context, id string) (*domain.Hold, bool, error)
	OriginMoves(ctx context.Context, origins []string) ([]domain.LotMove, error)
	Entry(ctx context.Context, id string) (*domain.Entry, bool, error)
	// Clawbacks returns the clawbacks of an earn entry.
	Clawbacks(ctx context.Context, entryID string) ([]*domain.Entry, error)
}

// Tx is a write transaction: it loads Books and saves what changed.
type Tx interface {
	Books
	Save(ctx context.Context, w *Writes) error
}

// Reader is a read-only snapshot of the ledger.
type Reader interface {
	Books
	// Entries returns a member's entries with sequence > afterSeq, in order.
	Entries(ctx context.Context, memberID string, afterSeq int64, limit int) ([]*domain.Entry, error)
	// Holds returns a page of a member's holds (see HoldQuery).
	Holds(ctx context.Context, q HoldQuery) ([]*domain.Hold, error)
	// DueMembers returns, in id order after the given id, members of a
	// programme (all when empty) with a hold, pending lot or lot due by t.
	DueMembers(ctx context.Context, programmeID string, t time.Time, afterID string, limit int) ([]string, error)
}

// Writes is everything one transaction adds (New*) or changes.
type Writes struct {
	NewMembers []*domain.Member
	Members    []*domain.Member
	Entries    []*domain.Entry
	NewLots    []*domain.Lot
	Lots       []*domain.Lot
	Moves      []domain.LotMove
	NewHolds   []*domain.Hold
	Holds      []*domain.Hold
	Idem       []idem.Record
}
