package app

import (
	"context"
	"errors"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
)

// ErrConflict is a key taken or a row changed by a concurrent request;
// reading again and retrying resolves it.
var ErrConflict = errors.New("access: concurrent conflict")

// Store is the access service's persistence.
type Store interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	View(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// AppendAudit writes audit records, in one statement.
	AppendAudit(ctx context.Context, recs []audit.Record) error
	// AddFailures adds to the failed-authentication counts.
	AddFailures(ctx context.Context, counts []audit.FailureCount) error
	// PurgeIdem deletes the idempotency records written before before,
	// and returns how many.
	PurgeIdem(ctx context.Context, before time.Time) (int, error)
}

// AuditFilter narrows the audit log.
type AuditFilter struct {
	// Principal: calls made by it or on its behalf.
	Principal string
	// Method: a full method "pkg.Service/Method", a service "pkg.Service",
	// or a package "pkg." (its trailing dot).
	Method string
	// Since and Until, unless zero, bound the records' times: at or after
	// Since, before Until.
	Since, Until time.Time
}

// FailureFilter narrows the failed-authentication counts: Since and
// Until, unless zero, bound their minutes (at or after Since, before
// Until).
type FailureFilter struct {
	Since, Until time.Time
}

// Tx is one database transaction: the idempotency table and the
// service's tables, each through a role of its own.
type Tx interface {
	idem.Tx
	Principals
	Keys
	AuditLog
}

// Principals are the callers registered.
type Principals interface {
	// Principal is nil when id is not registered.
	Principal(ctx context.Context, id string) (*domain.Principal, error)
	// InsertPrincipal fails with ErrConflict when the id is taken.
	InsertPrincipal(ctx context.Context, p *domain.Principal) error
	UpdatePrincipal(ctx context.Context, p *domain.Principal) error
	// Principals lists principals in id order, after afterID.
	Principals(ctx context.Context, afterID string, limit int) ([]*domain.Principal, error)
}

// Keys are principals' API keys.
type Keys interface {
	// Key is nil when id is not registered.
	Key(ctx context.Context, id string) (*domain.Key, error)
	// InsertKey fails with ErrConflict when the id is taken.
	InsertKey(ctx context.Context, k *domain.Key) error
	// EndKey sets a key's expiry, revocation and successor.
	EndKey(ctx context.Context, k *domain.Key) error
	// Keys lists keys newest first (of one principal unless empty), after
	// the key after (nil: from the newest).
	Keys(ctx context.Context, principalID string, after *domain.Key, limit int) ([]*domain.Key, error)
}

// AuditLog reads the audit log and the failed-authentication counts.
type AuditLog interface {
	// Audit lists audit records newest first, older than beforeID unless
	// it is empty.
	Audit(ctx context.Context, f AuditFilter, beforeID string, limit int) ([]audit.Record, error)
	// Failures lists failed-authentication counts of f newest first, after
	// the count after (nil: from the newest).
	Failures(ctx context.Context, f FailureFilter, after *audit.FailureCount, limit int) ([]audit.FailureCount, error)
}
