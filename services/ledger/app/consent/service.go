// Package consent keeps members' consents and the programmes' contact
// pressure: consent changes per purpose and channel (append-only, with the
// current state beside them), exclusions, and contact claims, which check a
// member's consent and the programme's contact policy and record the
// contact in the same transaction, serialised per member. It holds member
// ids only, never personal data.
package consent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// ErrConflict is a key or row taken by a concurrent transaction: the
// request runs again.
var ErrConflict = errors.New("consent: concurrent write")

// Store runs the consent transactions.
type Store interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// UpdateLocked runs fn in a read-write transaction that may see a
	// snapshot older than concurrent commits (sqldb.UpdateSnapshot): for
	// claims, which take their members' contact locks (LockContacts) before
	// they read, so that a claim that waited for a concurrent one on the
	// same member runs again on a snapshot that sees it. Claims of other
	// members never fail each other, as SERIALIZABLE's page-granular
	// tracking would make them.
	UpdateLocked(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	View(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// Current is a member's current consent for a key.
type Current struct {
	Granted   bool
	ChangeID  string
	ChangedAt time.Time
}

// Exclusion is a reason a member is not contacted, until EndsAt (zero:
// until cleared).
type Exclusion struct {
	MemberID string
	Reason   string
	EndsAt   time.Time
}

// Tx is a consent transaction.
type Tx interface {
	idem.Tx
	// Programmes returns the programme of each member that exists.
	Programmes(ctx context.Context, memberIDs []string) (map[string]string, error)
	// AddConsent appends a change and makes it the current consent for its
	// key; partner marketing also sets the member's partner consent.
	AddConsent(ctx context.Context, c domain.ConsentChange) error
	// Consents returns a member's current consents.
	Consents(ctx context.Context, memberID string) (map[domain.ConsentKey]Current, error)
	// ConsentHistory returns a member's changes after (at, id) in
	// (recorded_at, change_id) order.
	ConsentHistory(ctx context.Context, memberID string, afterAt time.Time, afterID string, limit int) ([]domain.ConsentChange, error)
	// LockContacts takes the contact lock of each member (sorted), for the
	// rest of the transaction: concurrent claims for a member wait.
	LockContacts(ctx context.Context, programmeID string, memberIDs []string, at time.Time) error
	// ContactStates reads what a claim on a channel by a campaign decides
	// on, for each member: consent, exclusions in force at now, the last
	// purchase (when withPurchases), contacts since since and the
	// campaign's own.
	ContactStates(ctx context.Context, memberIDs []string, c domain.ContactClaim, now, since time.Time, withPurchases bool) (map[string]*domain.ContactState, error)
	// AddContacts records contacts.
	AddContacts(ctx context.Context, cs []domain.Contact, actor string) error
	// SetExclusion sets or replaces an exclusion.
	SetExclusion(ctx context.Context, e Exclusion, at time.Time, actor string) error
	// ClearExclusion deletes an exclusion; false when there was none.
	ClearExclusion(ctx context.Context, memberID, reason string) (bool, error)
}

// Options tune a Service.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ClaimChunk is how many members one claim transaction decides
	// (default 500).
	ClaimChunk int
	Logger     *slog.Logger
}

// Service is the consent and contact pressure use cases.
type Service struct {
	store Store
	cfg   *domain.Config
	flow  idem.Flow[Tx]
	now   func() time.Time
	chunk int
	newID func() string
	log   *slog.Logger
}

// New builds a Service.
func New(store Store, cfg *domain.Config, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClaimChunk <= 0 {
		o.ClaimChunk = 500
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Service{store: store, cfg: cfg, now: o.Now, chunk: o.ClaimChunk, log: o.Logger,
		newID: func() string { return uuid.Must(uuid.NewV7()).String() }}
	s.flow = idem.Flow[Tx]{Store: store, Conflict: ErrConflict, Now: s.clock}
	return s
}

// clock is the service's time, to the microsecond the stores keep.
func (s *Service) clock() time.Time { return domain.Micro(s.now()) }
