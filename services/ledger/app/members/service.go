// Package members keeps the members' personal data (profile and
// identifiers) in the vault, apart from the ledger, sealed with each
// member's data key (see services/internal/pii), and erases it by
// destroying that key (crypto-shredding). The ledger keeps only
// pseudonyms: a member's enrolment card as its lookup hash, its birth date
// as month and day (what the birthday moments need).
package members

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/pii"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/posting"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Identifier kinds.
const (
	KindCard  = "card"
	KindApp   = "app"
	KindEmail = "email"
	KindPhone = "phone"
)

// Kinds are the identifier kinds, in their listing order.
var Kinds = []string{KindCard, KindApp, KindEmail, KindPhone}

// Profile is a member's personal data.
type Profile struct {
	Name           string   `json:"name,omitempty"`
	Emails         []string `json:"emails,omitempty"`
	Phones         []string `json:"phones,omitempty"`
	BirthDate      string   `json:"birth_date,omitempty"`
	PreferredStore string   `json:"preferred_store,omitempty"`
	Language       string   `json:"language,omitempty"`
}

// Identifier is one of a member's identifiers.
type Identifier struct {
	ID, Kind, Value string
	CreatedAt       time.Time
	// ReplacedAt is when it stopped resolving (zero: it resolves).
	ReplacedAt time.Time
}

// Member is a member's personal data as the vault holds it.
type Member struct {
	ID, ProgrammeID string
	Profile         Profile
	// Version counts the profile's updates.
	Version     int64
	Identifiers []Identifier
	// Erased: the member's personal data is gone.
	Erased bool
}

// StoredIdentifier is an identifier's row.
type StoredIdentifier struct {
	ID, MemberID, ProgrammeID, Kind string
	Lookup, Sealed                  []byte
	CreatedAt, ReplacedAt           time.Time
}

// Ref is a member's row in the ledger as the vault sees it.
type Ref struct {
	ProgrammeID string
	// ExternalRef and BirthDate are the ledger's columns: pseudonyms, or
	// the plaintext of rows written before the vault.
	ExternalRef, BirthDate string
	Erased                 bool
	ErasedAt               time.Time
}

// Tx is a transaction on the vault (and the ledger's idempotency table).
type Tx interface {
	idem.Tx
	// Member is the member's ledger row; false if there is none.
	Member(ctx context.Context, memberID string) (Ref, bool, error)
	Key(ctx context.Context, memberID string) (*pii.WrappedKey, error)
	PutKey(ctx context.Context, memberID string, w pii.WrappedKey, at time.Time) error
	// Profile is the sealed profile and its version; nil if none.
	Profile(ctx context.Context, memberID string) ([]byte, int64, error)
	PutProfile(ctx context.Context, memberID string, sealed []byte, version int64, at time.Time) error
	Identifiers(ctx context.Context, memberID string) ([]StoredIdentifier, error)
	// ByLookup is the identifier a lookup hash resolves to, nil if none.
	ByLookup(ctx context.Context, programmeID string, lookup []byte) (*StoredIdentifier, error)
	PutIdentifier(ctx context.Context, id StoredIdentifier) error
	// ReplaceIdentifier stops an identifier resolving, keeping its row.
	ReplaceIdentifier(ctx context.Context, identifierID string, at time.Time) error
	DeleteIdentifier(ctx context.Context, identifierID string) error
	// Pseudonymise sets the member's ledger row's external ref and birth
	// date columns.
	Pseudonymise(ctx context.Context, memberID, externalRef, birthDate string) error
	// Erase deletes the member's key, profile and identifiers, blanks its
	// personal columns in the ledger and marks it erased.
	Erase(ctx context.Context, memberID string, at time.Time) error
}

// Store runs the vault's transactions.
type Store interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	View(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// KeysNotWrappedBy are up to limit members, after the member id after,
	// whose data keys are wrapped by another master key than master.
	KeysNotWrappedBy(ctx context.Context, master, after string, limit int) ([]string, error)
	// PlaintextMembers are up to limit members, after the member id after,
	// whose ledger row holds a plain external ref.
	PlaintextMembers(ctx context.Context, after string, limit int) ([]string, error)
	// RedactEnrolReplies rewrites the stored replies of EnrolMember with
	// redact; it returns how many it changed.
	RedactEnrolReplies(ctx context.Context, redact func([]byte) ([]byte, bool)) (int, error)
}

// Posting is the ledger's write path, as the vault uses it.
type Posting interface {
	Enrol(ctx context.Context, who principal.Principal, key string, r posting.Enrolment) (*domain.Member, error)
}

// ErrConflict is a row taken by a concurrent transaction: the flow runs
// again.
var ErrConflict = errors.New("members: conflict")

// Options tune New.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the members' personal data.
type Service struct {
	keys    *pii.Keyring
	store   Store
	posting Posting
	now     func() time.Time
	log     *slog.Logger
	digest  []byte
	newID   func() string
}

// New makes the service over the keyring and the store.
func New(keys *pii.Keyring, store Store, p Posting, o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d, err := keys.DeriveKey("idempotency digest")
	if err != nil {
		return nil, err
	}
	return &Service{keys: keys, store: store, posting: p, now: func() time.Time { return domain.Micro(o.Now()) }, log: o.Logger, digest: d,
		newID: func() string { return uuid.Must(uuid.NewV7()).String() }}, nil
}
