package analytics

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// Store is the analytics' persistence.
type Store interface {
	// Update runs fn in a read-write transaction; it may run fn again.
	Update(ctx context.Context, fn func(ctx context.Context, tx Writer) error) error
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(ctx context.Context, tx Reader) error) error
}

// Reader reads what the KPIs, the churn model and the programme's
// figures are computed from, and what they stored.
type Reader interface {
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
	// Buyers counts a programme's members who bought (returns aside) by
	// calEnd: the churn model's customers.
	Buyers(ctx context.Context, programmeID string, calEnd time.Time) (int64, error)
	// Distribution counts a programme's members per segment or tier.
	Distribution(ctx context.Context, programmeID, kind string) (map[string]int64, error)
	ChurnRisk(ctx context.Context, programmeID, memberID string) (*ChurnRisk, error)
	ChurnModel(ctx context.Context, programmeID string) (*ChurnModel, error)
	// ProgrammeStats fills st's figures for (st.From, st.To]; anonymous
	// sales are those of business days in (fromDay, toDay].
	ProgrammeStats(ctx context.Context, st *ProgrammeStats, fromDay, toDay string) error
}

// Writer stores what the analytics compute and receive.
//
// A KPI refresh writes its rows under a new run, a chunk per transaction,
// while BI reads the current run; SwitchKPIRun then makes it current in one
// small transaction, and DropKPIRuns deletes the superseded runs, a chunk
// at a time.
type Writer interface {
	// NewKPIRun returns a programme's next run id, larger than any it
	// returned before.
	NewKPIRun(ctx context.Context, programmeID string) (int64, error)
	// SaveKPIRows adds rows to a run.
	SaveKPIRows(ctx context.Context, rows *KPIRows) error
	// SwitchKPIRun makes a run the programme's current one, and its churn
	// model current if it has one, unless a later run is current already
	// (false: the run was superseded).
	SwitchKPIRun(ctx context.Context, run *KPIRun) (bool, error)
	// DropKPIRuns deletes up to limit rows of each of a programme's KPI
	// tables that belong to runs older than the current one, and returns
	// how many it deleted.
	DropKPIRuns(ctx context.Context, programmeID string, limit int) (int, error)
	// Secret returns the named secret, storing fresh as it if there is none.
	Secret(ctx context.Context, name string, fresh []byte) ([]byte, error)
	// SaveAnonymousSales stores a count unless the stored one for the same
	// store and day was counted later, and returns the stored count.
	SaveAnonymousSales(ctx context.Context, s AnonymousSales) (AnonymousSales, error)
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

// KPIRows are rows of a KPI run.
type KPIRows struct {
	ProgrammeID string
	Run         int64
	Periods     []domain.PeriodFacts
	Cohorts     []domain.CohortCell
	Transitions []KPITransition
	Model       *ChurnModel
	Risks       []ChurnRisk
}

// Len is the number of rows.
func (r *KPIRows) Len() int {
	n := len(r.Periods) + len(r.Cohorts) + len(r.Transitions) + len(r.Risks)
	if r.Model != nil {
		n++
	}
	return n
}

// KPITransition is a cell of a monthly transition matrix.
type KPITransition struct {
	Kind   string // "segment" or "tier"
	Period string
	domain.TransitionCell
}

// KPIRun is a complete KPI run and the programme's configuration it was
// computed with.
type KPIRun struct {
	ProgrammeID  string
	Run          int64
	Currency     string
	PointValue   decimal.Decimal
	InactiveDays int
	RefreshedAt  time.Time
	// HasModel says the run fitted a churn model: it becomes the current
	// model. Without one the last model stays.
	HasModel bool
}
