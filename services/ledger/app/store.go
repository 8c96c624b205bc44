package app

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Store is the ledger's persistence, owned by the app layer.
type Store interface {
	// Update runs fn in a read-write transaction. It may run fn again after a
	// serialization conflict, so fn must rebuild all of its state each time.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// UpdateProjections runs fn, which takes the stream lock first, in a
	// read-write transaction that may see a snapshot older than concurrent
	// ledger commits (see sqldb.UpdateSnapshot): the entries it does not see
	// stay queued for the next run.
	UpdateProjections(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Replies reads stored idempotent replies outside any transaction.
	Replies(ctx context.Context, keys []IdemKey) (map[IdemKey]IdemRecord, error)
}

// IdemKey scopes an idempotency key to its caller.
type IdemKey struct {
	Caller string
	Key    string
}

// IdemRecord is a stored reply to an idempotent request.
type IdemRecord struct {
	IdemKey
	Method    string
	Hash      []byte
	Response  []byte
	CreatedAt time.Time
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
	Idem       []IdemRecord
}

// Tx is the ledger's view of one database transaction.
type Tx interface {
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
	// Entries returns a member's entries with sequence > afterSeq, in order.
	Entries(ctx context.Context, memberID string, afterSeq int64, limit int) ([]*domain.Entry, error)
	// DueMembers returns, in id order after the given id, members of a
	// programme (all when empty) with a hold, pending lot or lot due by t.
	DueMembers(ctx context.Context, programmeID string, t time.Time, afterID string, limit int) ([]string, error)
	Save(ctx context.Context, w *Writes) error

	// Projections (see projection.go).

	// OutboxMembers returns members with entries not yet projected, oldest first.
	OutboxMembers(ctx context.Context, limit int) ([]string, error)
	// LockStream takes the lock of the member event stream, which orders
	// projection transactions, and returns its head position.
	LockStream(ctx context.Context) (int64, error)
	Statuses(ctx context.Context, memberIDs []string) (map[string]*domain.MemberStatus, error)
	// StatusesPage returns a programme's statuses in member id order.
	StatusesPage(ctx context.Context, programmeID, afterID string, limit int) ([]*domain.MemberStatus, error)
	Purchases(ctx context.Context, memberIDs []string) (map[string][]domain.Purchase, error)
	// EntriesAfter returns, per member, the entries after a sequence number.
	EntriesAfter(ctx context.Context, after map[string]int64) ([]*domain.Entry, error)
	// TierDue returns members whose tier validity ends by t.
	TierDue(ctx context.Context, t time.Time, afterID string, limit int) ([]string, error)
	Transitions(ctx context.Context, memberID, kind string) ([]domain.Transition, error)
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
	// KnownEvents returns which event ids the stream holds already.
	KnownEvents(ctx context.Context, ids []string) (map[string]bool, error)
	Events(ctx context.Context, after int64, f EventFilter, limit int) ([]StreamEvent, error)
	SaveStatus(ctx context.Context, w *StatusWrites) error
	// ResetProjections drops the projected state (not the time-driven
	// events) and queues every entry for projection again.
	ResetProjections(ctx context.Context) error

	// KPIs (see kpi.go).

	// Histories returns, in member id order after afterID, a page of a
	// programme's members with their purchase times.
	Histories(ctx context.Context, programmeID, afterID string, limit int) ([]MemberHistory, error)
	// TransitionsOf returns the transitions of a kind of the given members.
	TransitionsOf(ctx context.Context, kind string, memberIDs []string) (map[string][]domain.Transition, error)
	// Points sums a programme's entries in [from, to) per channel and partner.
	Points(ctx context.Context, programmeID string, from, to time.Time) ([]PointsRow, error)
	Liability(ctx context.Context, programmeID string) (Liability, error)
	// FirstEnrolment is when a programme's first member enrolled (zero: none).
	FirstEnrolment(ctx context.Context, programmeID string) (time.Time, error)
	// Distribution counts a programme's members per segment or tier.
	Distribution(ctx context.Context, programmeID, kind string) (map[string]int64, error)
	SaveKPIs(ctx context.Context, w *KPIWrites) error
	// Secret returns the named secret, storing fresh as it if there is none.
	Secret(ctx context.Context, name string, fresh []byte) ([]byte, error)
	ChurnRisk(ctx context.Context, programmeID, memberID string) (*ChurnRisk, error)
	ChurnModel(ctx context.Context, programmeID string) (*ChurnModel, error)

	// SaveAnonymousSales stores a count unless the stored one for the same
	// store and day was counted later, and returns the stored count.
	SaveAnonymousSales(ctx context.Context, s AnonymousSales) (AnonymousSales, error)
	// ProgrammeStats fills st's figures for (st.From, st.To]; anonymous
	// sales are those of business days in (fromDay, toDay].
	ProgrammeStats(ctx context.Context, st *ProgrammeStats, fromDay, toDay string) error
}

// MemberHistory is a member and the times of their purchases, in order.
type MemberHistory struct {
	MemberID string
	domain.MemberHistory
}

// PointsRow is points by channel and partner over a period.
type PointsRow struct {
	Channel    string
	PartnerID  string
	Issued     int64
	Burned     int64
	Refunded   int64
	Expired    int64
	ClawedBack int64
}

// Liability is a programme's outstanding points.
type Liability struct {
	Members   int64
	Available int64
	Pending   int64
	Held      int64 // owed until captured
}

// Outstanding is every point the programme owes.
func (l Liability) Outstanding() int64 { return l.Available + l.Pending + l.Held }

// ChurnModel is a fitted BG/NBD model.
type ChurnModel struct {
	ProgrammeID    string
	FittedAt       time.Time
	CalibrationEnd time.Time
	Customers      int64
	R, Alpha, A, B float64
	LogLikelihood  float64
	HorizonWeeks   float64
}

// ChurnRisk is a member's churn figures under a model.
type ChurnRisk struct {
	MemberID          string
	MemberKey         string
	RepeatPurchases   int
	TxWeeks, TWeeks   float64
	PAlive            float64
	ExpectedPurchases float64
}

// KPIWrites replaces a programme's refreshed KPIs.
type KPIWrites struct {
	ProgrammeID  string
	Currency     string
	PointValue   decimal.Decimal
	InactiveDays int
	RefreshedAt  time.Time
	Periods      []domain.PeriodFacts
	Cohorts      []domain.CohortCell
	// Transitions are monthly matrices by kind ("segment", "tier").
	Transitions map[string]map[string][]domain.TransitionCell
	Model       *ChurnModel
	Risks       []ChurnRisk
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

// StreamEvent is an event at its stream position.
type StreamEvent struct {
	Position int64
	domain.MemberEvent
	RecordedAt time.Time
}
