package analytics

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/ledger/churn"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

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
// each member's risk.
//
// It streams: a first pass over the members' histories, a page at a time,
// accumulates the member figures, the matrices and the churn model's
// sample; a second pass scores every buyer under the fitted model. Memory
// is bounded by the page, the months and the sample, not by the members.
// The rows are written under a new run, a chunk per transaction, which
// then becomes the current one in one small transaction (BI reads the
// whole of one run or of the next); the superseded runs are deleted last.
func (s *Service) RefreshKPIs(ctx context.Context, programmeID string, asOf time.Time) (*RefreshResult, error) {
	started, refreshedAt := time.Now(), s.clock()
	prog, err := s.cfg.Find(programmeID)
	if err != nil {
		return nil, err
	}
	if asOf, err = domain.AsOf(asOf, s.clock()); err != nil {
		return nil, err
	}
	if _, err := s.projections.Project(ctx); err != nil {
		return nil, err
	}
	// The months run from the earliest enrolment; the fit's even sample
	// needs the number of buyers.
	var first time.Time
	var buyers int64
	if err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		var err error
		if first, err = tx.FirstEnrolment(ctx, prog.ID); err != nil {
			return err
		}
		buyers, err = tx.Buyers(ctx, prog.ID, asOf)
		return err
	}); err != nil {
		return nil, err
	}
	var run int64
	if err := s.store.Update(ctx, func(ctx context.Context, tx Writer) error {
		var err error
		run, err = tx.NewKPIRun(ctx, prog.ID)
		return err
	}); err != nil {
		return nil, err
	}
	out := &rowWriter{s: s, rows: KPIRows{ProgrammeID: prog.ID, Run: run}}
	res := &RefreshResult{}
	var months []domain.Period
	if !first.IsZero() {
		months = domain.Months(first, asOf)
	}
	acc := domain.NewMemberKPIs(months, inactiveAfter(prog), asOf)
	moves := map[string]*matrices{domain.TransitionSegment: newMatrices(months), domain.TransitionTier: newMatrices(months)}
	sample := newEvenSample(buyers, fitSample)
	if err := s.eachHistory(ctx, prog.ID, func(page []MemberHistory) error {
		for _, h := range page {
			acc.Add(h.MemberHistory)
			if c, ok := churnCustomer(h.Purchases, asOf); ok {
				sample.offer(c)
			}
		}
		res.Members += int64(len(page))
		return s.store.View(ctx, func(ctx context.Context, tx Reader) error {
			for kind, m := range moves {
				hs, err := stateHistories(ctx, tx, prog, kind, page)
				if err != nil {
					return err
				}
				m.add(hs, transitionExit(kind))
			}
			return nil
		})
	}); err != nil {
		return nil, err
	}
	for _, f := range acc.Periods {
		if err := out.add(ctx, func(r *KPIRows) { r.Periods = append(r.Periods, f) }); err != nil {
			return nil, err
		}
	}
	for _, c := range acc.Cohorts() {
		if err := out.add(ctx, func(r *KPIRows) { r.Cohorts = append(r.Cohorts, c) }); err != nil {
			return nil, err
		}
	}
	for _, kind := range []string{domain.TransitionSegment, domain.TransitionTier} {
		for _, t := range moves[kind].cells(kind) {
			if err := out.add(ctx, func(r *KPIRows) { r.Transitions = append(r.Transitions, t) }); err != nil {
				return nil, err
			}
		}
	}
	if len(sample.customers) > 0 {
		model, err := fitChurnSample(prog, sample.customers, asOf, refreshedAt)
		if err != nil {
			return nil, err
		}
		if err := out.add(ctx, func(r *KPIRows) { r.Model = model }); err != nil {
			return nil, err
		}
		if err := s.scoreMembers(ctx, prog, model, asOf, out); err != nil {
			return nil, err
		}
		res.Model = model
	}
	if err := out.flush(ctx); err != nil {
		return nil, err
	}
	current := &KPIRun{ProgrammeID: prog.ID, Run: run, Currency: prog.Currency, PointValue: prog.PointValue,
		InactiveDays: prog.KPI.InactiveDays, RefreshedAt: refreshedAt, HasModel: res.Model != nil}
	var switched bool
	if err := s.store.Update(ctx, func(ctx context.Context, tx Writer) error {
		var err error
		switched, err = tx.SwitchKPIRun(ctx, current)
		return err
	}); err != nil {
		return nil, err
	}
	if !switched {
		s.log.InfoContext(ctx, "KPI refresh superseded by a later one", "programme", prog.ID, "run", run)
	}
	if err := s.dropKPIRuns(ctx, prog.ID); err != nil {
		return nil, err
	}
	res.Periods, res.Duration = len(months), time.Since(started)
	return res, nil
}

// scoreMembers reads the histories again and writes every buyer's risk
// under the model.
func (s *Service) scoreMembers(ctx context.Context, prog *domain.Programme, model *ChurnModel, calEnd time.Time, out *rowWriter) error {
	p := churn.Params{R: model.R, Alpha: model.Alpha, A: model.A, B: model.B}
	secret, err := s.pseudonymSecret(ctx)
	if err != nil {
		return err
	}
	return s.eachHistory(ctx, prog.ID, func(page []MemberHistory) error {
		for _, h := range page {
			c, ok := churnCustomer(h.Purchases, calEnd)
			if !ok {
				continue
			}
			risk := ChurnRisk{MemberID: h.MemberID, MemberKey: memberKey(secret, h.MemberID), RepeatPurchases: c.X,
				TxWeeks: c.TX, TWeeks: c.T, PAlive: p.PAlive(c), ExpectedPurchases: p.ExpectedPurchases(c, model.HorizonWeeks)}
			if err := out.add(ctx, func(r *KPIRows) { r.Risks = append(r.Risks, risk) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// kpiChunk bounds the rows of one KPI write transaction.
const kpiChunk = 5000

// rowWriter writes a run's rows, kpiChunk to a transaction.
type rowWriter struct {
	s    *Service
	rows KPIRows
}

// add adds a row with f, writing the rows held once they make a chunk.
func (w *rowWriter) add(ctx context.Context, f func(*KPIRows)) error {
	f(&w.rows)
	if w.rows.Len() < kpiChunk {
		return nil
	}
	return w.flush(ctx)
}

// flush writes the rows held.
func (w *rowWriter) flush(ctx context.Context) error {
	if w.rows.Len() == 0 {
		return nil
	}
	if err := w.s.store.Update(ctx, func(ctx context.Context, tx Writer) error { return tx.SaveKPIRows(ctx, &w.rows) }); err != nil {
		return err
	}
	w.rows = KPIRows{ProgrammeID: w.rows.ProgrammeID, Run: w.rows.Run,
		Periods: w.rows.Periods[:0], Cohorts: w.rows.Cohorts[:0], Transitions: w.rows.Transitions[:0], Risks: w.rows.Risks[:0]}
	return nil
}

// dropKPIRuns deletes a programme's superseded KPI runs, kpiChunk rows per
// table and transaction.
func (s *Service) dropKPIRuns(ctx context.Context, programmeID string) error {
	for {
		var n int
		if err := s.store.Update(ctx, func(ctx context.Context, tx Writer) error {
			var err error
			n, err = tx.DropKPIRuns(ctx, programmeID, kpiChunk)
			return err
		}); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// transitionExit is the state that counts as leaving: the inactive
// segment; tiers have none.
func transitionExit(kind string) string {
	if kind == domain.TransitionSegment {
		return domain.SegmentInactive
	}
	return ""
}

// matrices accumulates monthly transition matrices of one kind over pages
// of members.
type matrices struct {
	months []domain.Period
	counts map[string]moveCounts // by period key
}

func newMatrices(months []domain.Period) *matrices {
	return &matrices{months: months, counts: map[string]moveCounts{}}
}

// add counts a page of members' moves in every month.
func (m *matrices) add(hs map[string]domain.StateHistory, exit string) {
	for _, p := range m.months {
		cells := domain.TransitionMatrix(hs, p.Start, p.End, exit)
		if len(cells) == 0 {
			continue
		}
		if m.counts[p.Key] == nil {
			m.counts[p.Key] = moveCounts{}
		}
		m.counts[p.Key].add(cells)
	}
}

// cells returns the matrices' cells, by period, from and to state.
func (m *matrices) cells(kind string) []KPITransition {
	var out []KPITransition
	for _, period := range slices.Sorted(maps.Keys(m.counts)) {
		for _, c := range m.counts[period].cells() {
			c.RowShare = decimal.Decimal{} // the views compute it
			out = append(out, KPITransition{Kind: kind, Period: period, TransitionCell: c})
		}
	}
	return out
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
	err := s.store.Update(ctx, func(ctx context.Context, tx Writer) error {
		var err error
		secret, err = tx.Secret(ctx, "bi_pseudonyms", fresh)
		return err
	})
	return secret, err
}
