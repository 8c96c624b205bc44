package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/churn"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

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

// evenSample keeps an even sample of at most size of the n customers
// offered to it in order, without holding them all: the i-th kept is the
// (i*n/size)-th offered. With n at most size, it keeps every one. If more
// or fewer than n come (members who bought since they were counted), the
// sample is a little uneven, never larger than size.
type evenSample struct {
	n, size, offered int64
	customers        []churn.Customer
}

func newEvenSample(n int64, size int) *evenSample {
	return &evenSample{n: n, size: int64(size), customers: make([]churn.Customer, 0, min(n, int64(size)))}
}

// offer considers the next customer.
func (e *evenSample) offer(c churn.Customer) {
	defer func() { e.offered++ }()
	k := int64(len(e.customers))
	switch {
	case e.n <= e.size:
		if k < e.size {
			e.customers = append(e.customers, c)
		}
	case k < e.size && e.offered == k*e.n/e.size:
		e.customers = append(e.customers, c)
	}
}

// fitChurnSample fits BG/NBD to a sample of the customers' calibration
// histories. The log-likelihood reported is the sample's.
func fitChurnSample(prog *domain.Programme, sample []churn.Customer, calEnd, now time.Time) (*ChurnModel, error) {
	p, ll, err := churn.Fit(sample)
	if err != nil {
		return nil, fmt.Errorf("fit churn model for %s: %w", prog.ID, err)
	}
	return &ChurnModel{ProgrammeID: prog.ID, FittedAt: now, CalibrationEnd: calEnd, Customers: int64(len(sample)),
		R: p.R, Alpha: p.Alpha, A: p.A, B: p.B, LogLikelihood: ll, HorizonWeeks: prog.KPI.HorizonWeeks}, nil
}

// FitChurnModel fits the churn model on a programme's purchases up to
// calEnd without storing it (for validation and what-if runs).
func (s *Service) FitChurnModel(ctx context.Context, programmeID string, calEnd time.Time) (*ChurnModel, error) {
	prog, err := s.cfg.Find(programmeID)
	if err != nil {
		return nil, err
	}
	if _, err := s.projections.Project(ctx); err != nil {
		return nil, err
	}
	var buyers int64
	if err := s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		var err error
		buyers, err = tx.Buyers(ctx, prog.ID, calEnd)
		return err
	}); err != nil {
		return nil, err
	}
	sample := newEvenSample(buyers, fitSample)
	if err := s.eachHistory(ctx, prog.ID, func(page []MemberHistory) error {
		for _, h := range page {
			if c, ok := churnCustomer(h.Purchases, calEnd); ok {
				sample.offer(c)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(sample.customers) == 0 {
		return nil, fault.Precondition(fault.NoPurchaseHistory, "programme %s has no purchases before %s", prog.ID, calEnd.Format(time.DateOnly))
	}
	return fitChurnSample(prog, sample.customers, calEnd, s.clock())
}

// MemberChurn is a member's churn risk under the programme's last model.
type MemberChurn struct {
	Risk  *ChurnRisk
	Model *ChurnModel
}

// ChurnRiskOf returns a member's churn risk as of the last KPI refresh.
func (s *Service) ChurnRiskOf(ctx context.Context, who principal.Principal, memberID string) (*MemberChurn, error) {
	m, err := s.members.Member(ctx, who, memberID)
	if err != nil {
		return nil, err
	}
	var out MemberChurn
	err = s.store.View(ctx, func(ctx context.Context, tx Reader) error {
		if out.Model, err = tx.ChurnModel(ctx, m.ProgrammeID); err != nil || out.Model == nil {
			if err == nil {
				err = fault.Precondition(fault.ChurnModelNotFitted, "no churn model for programme %s yet: refresh the KPIs", m.ProgrammeID)
			}
			return err
		}
		if out.Risk, err = tx.ChurnRisk(ctx, m.ProgrammeID, memberID); err == nil && out.Risk == nil {
			err = fault.NotFound(fault.MemberNotInModel, "member %s had no purchase before the model's calibration end", memberID)
		}
		return err
	})
	return &out, err
}
