package status

import (
	"context"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Store is the status projections' persistence.
type Store interface {
	// UpdateProjections runs fn, which takes the stream lock first, in a
	// read-write transaction that may see a snapshot older than concurrent
	// ledger commits (see sqldb.UpdateSnapshot): the entries it does not see
	// stay queued for the next run.
	UpdateProjections(ctx context.Context, fn func(ctx context.Context, tx ProjectionTx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(ctx context.Context, tx Reader) error) error
}

// statusReads reads members' projected status, in either kind of
// transaction.
type statusReads interface {
	Statuses(ctx context.Context, memberIDs []string) (map[string]*domain.MemberStatus, error)
	Purchases(ctx context.Context, memberIDs []string) (map[string][]domain.Purchase, error)
}

// ProjectionTx is a projection transaction.
type ProjectionTx interface {
	statusReads
	// LockStream takes the lock of the member event stream, which orders
	// projection transactions, and returns its head position.
	LockStream(ctx context.Context) (int64, error)
	// StatusesPage returns a programme's statuses in member id order.
	StatusesPage(ctx context.Context, programmeID, afterID string, limit int) ([]*domain.MemberStatus, error)
	// EntriesAfter returns, per member, the entries after a sequence number.
	EntriesAfter(ctx context.Context, after map[string]int64) ([]*domain.Entry, error)
	// Clawbacks returns the clawbacks of an earn entry.
	Clawbacks(ctx context.Context, entryID string) ([]*domain.Entry, error)
	// KnownEvents returns which event ids the stream holds already.
	KnownEvents(ctx context.Context, ids []string) (map[string]bool, error)
	SaveStatus(ctx context.Context, w *StatusWrites) error
	// A rebuild resets the projections in chunks (see ResetProjections):
	// NewEpoch starts a new epoch of the event stream at at;
	// DropDerivedEvents deletes the derived events (not the time-driven
	// ones) among the next limit positions in (after, upTo] and returns
	// the last position it covered (upTo when none is left); ResetMembers
	// drops the projected state of the next limit members (in member id
	// order, all programmes) after afterID — statuses, purchases,
	// transitions — and queues all their entries for projection again, and
	// returns the last member id it covered ("" once it covered every
	// member id after afterID).
	NewEpoch(ctx context.Context, at time.Time) error
	DropDerivedEvents(ctx context.Context, after, upTo int64, limit int) (int64, error)
	ResetMembers(ctx context.Context, afterID string, limit int) (string, error)
}

// Reader is a read-only snapshot of the projections and of what the
// time-driven moments read.
type Reader interface {
	statusReads
	// OutboxMembers returns members with entries not yet projected, oldest first.
	OutboxMembers(ctx context.Context, limit int) ([]string, error)
	// OutboxBacklog returns how many entries wait in the outbox and when
	// the oldest of them was recorded (zero when none waits).
	OutboxBacklog(ctx context.Context) (int64, time.Time, error)
	// TierDue returns members whose tier validity ends by t.
	TierDue(ctx context.Context, t time.Time, afterID string, limit int) ([]string, error)
	// Transitions returns a member's transitions of a kind after a
	// position, in (at, id) order.
	Transitions(ctx context.Context, memberID, kind string, after TransitionPos, limit int) ([]domain.Transition, error)
	// RFMInputs summarises a programme's purchases that occurred in
	// (from, to] and were recorded by recordedBy.
	RFMInputs(ctx context.Context, programmeID string, from, to, recordedBy time.Time) ([]domain.RFMInput, error)
	RFMRuns(ctx context.Context) ([]RFMRun, error)
	// Expiring sums, per member and expiry time, available lot points of a
	// programme expiring in (from, to].
	Expiring(ctx context.Context, programmeID string, from, to time.Time) ([]Expiring, error)
	// Inactive returns members of a programme whose last purchase was by t.
	Inactive(ctx context.Context, programmeID string, t time.Time) ([]*domain.MemberStatus, error)
	// Birthdays returns members of a programme born on a month and day ("MM-DD").
	Birthdays(ctx context.Context, programmeID, monthDay string) ([]*domain.Member, error)
	// StreamHead returns the event stream's epoch and head position.
	StreamHead(ctx context.Context) (StreamHead, error)
	// FirstEventRecorded returns the first position of an event recorded
	// at or after t, 0 when there is none.
	FirstEventRecorded(ctx context.Context, t time.Time) (int64, error)
	// Events returns the events in (after, upTo] that f keeps, in
	// position order.
	Events(ctx context.Context, after, upTo int64, f EventFilter, limit int) ([]StreamEvent, error)
}

// StatusWrites is what one projection transaction adds or changes.
type StatusWrites struct {
	NewStatuses []*domain.MemberStatus
	Statuses    []*domain.MemberStatus
	Purchases   []MemberPurchase
	Transitions []domain.Transition
	// Events get the stream positions after Head, in order.
	Events []domain.MemberEvent
	Head   int64
	// Projected are outbox entries now projected.
	Projected []string
	RFMRun    *RFMRun
	At        time.Time
}

// MemberPurchase is a member's purchase row.
type MemberPurchase struct {
	MemberID    string
	ProgrammeID string
	domain.Purchase
}

// RFMRun is one RFM computation.
type RFMRun struct {
	ID          string
	ProgrammeID string
	AsOf        time.Time
	ComputedAt  time.Time
	Scored      int64
	Changed     int64
}

// Expiring is points of a member expiring at a time.
type Expiring struct {
	MemberID  string
	ExpiresAt time.Time
	Points    int64
}

// EventFilter narrows the event stream.
type EventFilter struct {
	Types       []string
	ProgrammeID string
	// Programmes, when not empty, keeps the events of these programmes.
	Programmes []string
	MemberID   string
}

// StreamHead is the event stream's epoch and last position.
type StreamHead struct {
	// Epoch is bumped by each rebuild, which re-appends the derived events
	// at new positions.
	Epoch    int64
	Position int64
	// EpochStartedAt is when the epoch began; zero for the first.
	EpochStartedAt time.Time
}

// TransitionPos is a position in a member's transitions: after (At, ID).
type TransitionPos struct {
	At time.Time
	ID string
}

// StreamEvent is an event at its stream position.
type StreamEvent struct {
	Position int64
	domain.MemberEvent
	RecordedAt time.Time
}
