package analytics

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// KPIReport is a programme's figures for a period.
type KPIReport struct {
	ProgrammeID string
	Members     domain.PeriodFacts
	Points      []PointsRow
	Liability   Liability
	Currency    string
	// LiabilityValue is the outstanding points at the programme's point value.
	LiabilityValue string
	Segments       map[string]int64
	Tiers          map[string]int64
	// SegmentMoves and TierMoves are the transition matrices from the
	// period's start to its end.
	SegmentMoves []domain.TransitionCell
	TierMoves    []domain.TransitionCell
}

// KPIs computes a programme's figures for [from, to), live.
func (s *Service) KPIs(ctx context.Context, programmeID string, from, to time.Time) (*KPIReport, error) {
	prog, err := s.cfg.Find(programmeID)
	if err != nil {
		return nil, err
	}
	if !from.Before(to) {
		return nil, fault.Invalid("period_end", "must be after period_start")
	}
	if _, err := s.projections.Project(ctx); err != nil {
		return nil, err
	}
	rep := &KPIReport{ProgrammeID: prog.ID, Currency: prog.Currency}
	acc := domain.NewMemberKPIs([]domain.Period{{Key: "period", Start: from, End: to}}, inactiveAfter(prog), to)
	// The moves are counted a page at a time: no member's history is held
	// beyond its page.
	segs, tiers := moveCounts{}, moveCounts{}
	if err := s.eachHistory(ctx, prog.ID, func(page []MemberHistory) error {
		for _, h := range page {
			acc.Add(h.MemberHistory)
		}
		return s.store.View(ctx, func(ctx context.Context, tx Reader) error {
			sg, err := stateHistories(ctx, tx, prog, domain.TransitionSegment, page)
			if err != nil {
				return err
			}
			tr, err := stateHistories(ctx, tx, prog, domain.TransitionTier, page)
			segs.add(domain.TransitionMatrix(sg, from, to, domain.SegmentInactive))
			tiers.add(domain.TransitionMatrix(tr, from, to, ""))
			return err
		})
	}); err != nil {
		return nil, err
	}
	rep.Members = acc.Periods[0]
	rep.SegmentMoves, rep.TierMoves = segs.cells(), tiers.cells()
	err = s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		var err error
		if rep.Points, err = tx.Points(ctx, prog.ID, from, to); err != nil {
			return err
		}
		if rep.Liability, err = tx.Liability(ctx, prog.ID); err != nil {
			return err
		}
		if rep.Segments, err = tx.Distribution(ctx, prog.ID, domain.TransitionSegment); err != nil {
			return err
		}
		rep.Tiers, err = tx.Distribution(ctx, prog.ID, domain.TransitionTier)
		return err
	})
	value := prog.PointValue.Mul(decimal.NewFromInt(rep.Liability.Outstanding()))
	rep.LiabilityValue = value.StringFixed(2)
	return rep, err
}

// stateHistories reads the segment or tier histories of a page of
// members. Every member of a programme with tiers is in its first tier from
// enrolment until their first tier change; segments start unscored.
func stateHistories(ctx context.Context, tx Reader, prog *domain.Programme, kind string, page []MemberHistory) (map[string]domain.StateHistory, error) {
	ids := make([]string, len(page))
	for i, h := range page {
		ids[i] = h.MemberID
	}
	ts, err := tx.TransitionsOf(ctx, kind, ids)
	if err != nil {
		return nil, err
	}
	initial := ""
	if kind == domain.TransitionTier && prog.Tiers != nil {
		initial = prog.Tiers.Levels[0].ID
	}
	out := make(map[string]domain.StateHistory, len(page))
	for _, h := range page {
		out[h.MemberID] = domain.StateHistory{Since: h.Enrolled, Initial: initial, Transitions: ts[h.MemberID]}
	}
	return out, nil
}

// moveCounts sums transition matrices of pages of members.
type moveCounts map[[2]string]int64

func (m moveCounts) add(cells []domain.TransitionCell) {
	for _, c := range cells {
		m[[2]string{c.From, c.To}] += c.Members
	}
}

// cells is the matrix of every member, as domain.TransitionMatrix makes
// it: by from and to state, with row shares.
func (m moveCounts) cells() []domain.TransitionCell {
	rows := map[string]int64{}
	for k, n := range m {
		rows[k[0]] += n
	}
	out := make([]domain.TransitionCell, 0, len(m))
	for _, k := range slices.SortedFunc(maps.Keys(m), func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	}) {
		out = append(out, domain.TransitionCell{From: k[0], To: k[1], Members: m[k], RowShare: domain.Ratio(m[k], rows[k[0]])})
	}
	return out
}

func inactiveAfter(p *domain.Programme) time.Duration {
	return time.Duration(p.KPI.InactiveDays) * 24 * time.Hour
}
