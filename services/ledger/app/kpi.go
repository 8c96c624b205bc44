package app

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/churn"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// historyPage bounds the members one KPI read takes.
const historyPage = 5000

// eachHistory streams a programme's member histories, a page at a time.
func (s *Service) eachHistory(ctx context.Context, programmeID string, f func([]MemberHistory) error) error {
	for after := ""; ; {
		var page []MemberHistory
		if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
			var err error
			page, err = tx.Histories(ctx, programmeID, after, historyPage)
			return err
		}); err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if err := f(page); err != nil {
			return err
		}
		after = page[len(page)-1].MemberID
	}
}

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
	prog, err := s.Programme(programmeID)
	if err != nil {
		return nil, err
	}
	if !from.Before(to) {
		return nil, fault.Invalid("period_end", "must be after period_start")
	}
	if _, err := s.Project(ctx); err != nil {
		return nil, err
	}
	rep := &KPIReport{ProgrammeID: prog.ID, Currency: prog.Currency}
	acc := domain.NewMemberKPIs([]domain.Period{{Key: "period", Start: from, End: to}}, inactiveAfter(prog), to)
	segs, tiers := map[string]domain.StateHistory{}, map[string]domain.StateHistory{}
	if err := s.eachHistory(ctx, prog.ID, func(page []MemberHistory) error {
		for _, h := range page {
			acc.Add(h.MemberHistory)
		}
		return s.store.View(ctx, func(ctx context.Context, tx Tx) error {
			sg, err := stateHistories(ctx, tx, prog, domain.TransitionSegment, page)
			if err != nil {
				return err
			}
			tr, err := stateHistories(ctx, tx, prog, domain.TransitionTier, page)
			maps.Copy(segs, sg)
			maps.Copy(tiers, tr)
			return err
		})
	}); err != nil {
		return nil, err
	}
	rep.Members = acc.Periods[0]
	rep.SegmentMoves = domain.TransitionMatrix(segs, from, to, domain.SegmentInactive)
	rep.TierMoves = domain.TransitionMatrix(tiers, from, to, "")
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
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
func stateHistories(ctx context.Context, tx Tx, prog *domain.Programme, kind string, page []MemberHistory) (map[string]domain.StateHistory, error) {
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

func inactiveAfter(p *domain.Programme) time.Duration {
	return time.Duration(p.KPI.InactiveDays) * 24 * time.Hour
}

// RefreshResult is what a KPI refresh did.
type RefreshResult struct {
	Members  int64
	Periods  int
	Model    *ChurnModel
	Duration time.Duration
}

// RefreshKPIs recomputes, as of asOf, a programme's refreshed KPIs: the
// monthly member figures and cohorts since the first enrolment, the
// monthly segment and tier transition matrices, and the churn model with
// each member's risk. One pass over every member's history.
func (s *Service) RefreshKPIs(ctx context.Context, programmeID string, asOf time.Time) (*RefreshResult, error) {
	started := time.Now()
	prog, err := s.Programme(programmeID)
	if err != nil {
		return nil, err
	}
	if asOf, _, err = s.asOf(asOf); err != nil {
		return nil, err
	}
	if _, err := s.Project(ctx); err != nil {
		return nil, err
	}
	// The months run from the earliest enrolment.
	var first time.Time
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		first, err = tx.FirstEnrolment(ctx, prog.ID)
		return err
	}); err != nil {
		return nil, err
	}
	res := &RefreshResult{}
	w := &KPIWrites{
		ProgrammeID: prog.ID, Currency: prog.Currency, PointValue: prog.PointValue, InactiveDays: prog.KPI.InactiveDays,
		RefreshedAt: s.clock(), Transitions: map[string]map[string][]domain.TransitionCell{},
	}
	var months []domain.Period
	if !first.IsZero() {
		months = domain.Months(first, asOf)
	}
	acc := domain.NewMemberKPIs(months, inactiveAfter(prog), asOf)
	moves := map[string]map[string]map[[2]string]int64{domain.TransitionSegment: {}, domain.TransitionTier: {}}
	var customers []churn.Customer
	var members []string
	if err := s.eachHistory(ctx, prog.ID, func(page []MemberHistory) error {
		for _, h := range page {
			acc.Add(h.MemberHistory)
			if c, ok := churnCustomer(h.Purchases, asOf); ok {
				customers, members = append(customers, c), append(members, h.MemberID)
			}
		}
		res.Members += int64(len(page))
		return s.store.View(ctx, func(ctx context.Context, tx Tx) error {
			for kind, byPeriod := range moves {
				hs, err := stateHistories(ctx, tx, prog, kind, page)
				if err != nil {
					return err
				}
				exit := ""
				if kind == domain.TransitionSegment {
					exit = domain.SegmentInactive
				}
				for _, m := range months {
					if byPeriod[m.Key] == nil {
						byPeriod[m.Key] = map[[2]string]int64{}
					}
					for _, c := range domain.TransitionMatrix(hs, m.Start, m.End, exit) {
						byPeriod[m.Key][[2]string{c.From, c.To}] += c.Members
					}
				}
			}
			return nil
		})
	}); err != nil {
		return nil, err
	}
	w.Periods, w.Cohorts = acc.Periods, acc.Cohorts()
	for kind, byPeriod := range moves {
		w.Transitions[kind] = map[string][]domain.TransitionCell{}
		for period, counts := range byPeriod {
			for _, k := range slices.SortedFunc(maps.Keys(counts), func(a, b [2]string) int {
				return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
			}) {
				w.Transitions[kind][period] = append(w.Transitions[kind][period], domain.TransitionCell{From: k[0], To: k[1], Members: counts[k]})
			}
		}
	}
	if len(customers) > 0 {
		model, err := fitChurn(prog, customers, asOf, w.RefreshedAt)
		if err != nil {
			return nil, err
		}
		w.Model = model
		p := churn.Params{R: model.R, Alpha: model.Alpha, A: model.A, B: model.B}
		secret, err := s.pseudonymSecret(ctx)
		if err != nil {
			return nil, err
		}
		w.Risks = make([]ChurnRisk, len(customers))
		for i, c := range customers {
			w.Risks[i] = ChurnRisk{MemberID: members[i], MemberKey: memberKey(secret, members[i]), RepeatPurchases: c.X,
				TxWeeks: c.TX, TWeeks: c.T, PAlive: p.PAlive(c), ExpectedPurchases: p.ExpectedPurchases(c, model.HorizonWeeks)}
		}
		res.Model = model
	}
	if err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error { return tx.SaveKPIs(ctx, w) }); err != nil {
		return nil, err
	}
	res.Periods, res.Duration = len(months), time.Since(started)
	return res, nil
}

// churnCustomer summarises purchases up to the calibration end for the
// BG/NBD model, in weeks: x = distinct purchase days - 1, t_x = last
// purchase day - first, T = calibration end - first (whole UTC days / 7).
func churnCustomer(purchases []time.Time, calEnd time.Time) (churn.Customer, bool) {
	day := func(t time.Time) int64 { return t.UTC().Unix() / 86400 }
	var firstDay, lastDay int64
	days := 0
	for _, p := range purchases {
		if p.After(calEnd) {
			break
		}
		d := day(p)
		switch {
		case days == 0:
			firstDay, lastDay, days = d, d, 1
		case d != lastDay:
			lastDay = d
			days++
		}
	}
	if days == 0 {
		return churn.Customer{}, false
	}
	return churn.Customer{X: days - 1, TX: float64(lastDay-firstDay) / 7, T: float64(day(calEnd)-firstDay) / 7}, true
}

// fitSample bounds the customers the churn model is fitted on: beyond it an
// even sample estimates the four parameters as well, and every member is
// still scored.
const fitSample = 50_000

// fitChurn fits BG/NBD to the customers' calibration histories. The
// log-likelihood reported is the sample's.
func fitChurn(prog *domain.Programme, cs []churn.Customer, calEnd, now time.Time) (*ChurnModel, error) {
	sample := cs
	if len(cs) > fitSample {
		sample = make([]churn.Customer, 0, fitSample)
		for i := range fitSample {
			sample = append(sample, cs[i*len(cs)/fitSample])
		}
	}
	p, ll, err := churn.Fit(sample)
	if err != nil {
		return nil, fmt.Errorf("fit churn model for %s: %w", prog.ID, err)
	}
	return &ChurnModel{ProgrammeID: prog.ID, FittedAt: now, CalibrationEnd: calEnd, Customers: int64(len(sample)),
		R: p.R, Alpha: p.Alpha, A: p.A, B: p.B, LogLikelihood: ll, HorizonWeeks: prog.KPI.HorizonWeeks}, nil
}

// memberKey is the pseudonym of a member in the BI views: keyed with the
// installation's secret, so that nobody who knows member ids (every POS
// does) can compute it.
func memberKey(secret []byte, memberID string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(memberID))
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// pseudonymSecret is the installation's secret for BI pseudonyms, created
// at its first use.
func (s *Service) pseudonymSecret(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("pseudonym secret: %w", err)
	}
	var secret []byte
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		secret, err = tx.Secret(ctx, "bi_pseudonyms", fresh)
		return err
	})
	return secret, err
}

// FitChurnModel fits the churn model on a programme's purchases up to
// calEnd without storing it (for validation and what-if runs).
func (s *Service) FitChurnModel(ctx context.Context, programmeID string, calEnd time.Time) (*ChurnModel, error) {
	prog, err := s.Programme(programmeID)
	if err != nil {
		return nil, err
	}
	if _, err := s.Project(ctx); err != nil {
		return nil, err
	}
	var cs []churn.Customer
	if err := s.eachHistory(ctx, prog.ID, func(page []MemberHistory) error {
		for _, h := range page {
			if c, ok := churnCustomer(h.Purchases, calEnd); ok {
				cs = append(cs, c)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fault.Precondition("programme %s has no purchases before %s", prog.ID, calEnd.Format(time.DateOnly))
	}
	return fitChurn(prog, cs, calEnd, s.clock())
}

// MemberChurn is a member's churn risk under the programme's last model.
type MemberChurn struct {
	Risk  *ChurnRisk
	Model *ChurnModel
}

// ChurnRiskOf returns a member's churn risk as of the last KPI refresh.
func (s *Service) ChurnRiskOf(ctx context.Context, who principal.Principal, memberID string) (*MemberChurn, error) {
	m, err := s.Member(ctx, who, memberID)
	if err != nil {
		return nil, err
	}
	var out MemberChurn
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		if out.Model, err = tx.ChurnModel(ctx, m.ProgrammeID); err != nil || out.Model == nil {
			if err == nil {
				err = fault.Precondition("no churn model for programme %s yet: refresh the KPIs", m.ProgrammeID)
			}
			return err
		}
		if out.Risk, err = tx.ChurnRisk(ctx, m.ProgrammeID, memberID); err == nil && out.Risk == nil {
			err = fault.NotFound("member %s had no purchase before the model's calibration end", memberID)
		}
		return err
	})
	return &out, err
}
