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
	// Distribution counts a programme's members per segment or tier.
	Distribution(ctx context.Context, programmeID, kind string) (map[string]int64, error)
	ChurnRisk(ctx context.Context, programmeID, memberID string) (*ChurnRisk, error)
	ChurnModel(ctx context.Context, programmeID string) (*ChurnModel, error)
	// ProgrammeStats fills st's figures for (st.From, st.To]; anonymous
	// sales are those of business days in (fromDay, toDay].
	ProgrammeStats(ctx context.Context, st *ProgrammeStats, fromDay, toDay string) error
}

// Writer stores what the analytics compute and receive.
type Writer interface {
	SaveKPIs(ctx context.Context, w *KPIWrites) error
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
