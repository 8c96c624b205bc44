package analytics

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
// each member's risk. One pass over every member's history.
func (s *Service) RefreshKPIs(ctx context.Context, programmeID string, asOf time.Time) (*RefreshResult, error) {
	started := time.Now()
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
	// The months run from the earliest enrolment.
	var first time.Time
	if err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
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
		return s.store.View(ctx, func(ctx context.Context, tx Reader) error {
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
	if err := s.store.Update(ctx, func(ctx context.Context, tx Writer) error { return tx.SaveKPIs(ctx, w) }); err != nil {
		return nil, err
	}
	res.Periods, res.Duration = len(months), time.Since(started)
	return res, nil
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
