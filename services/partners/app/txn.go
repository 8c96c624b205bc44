package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/jobs"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// EarnRequest is a partner-funded earn.
type EarnRequest struct {
	MemberRef string
	// Amount in Unit: a currency's code, or domain.UnitMiles.
	Amount      decimal.Decimal
	Unit        string
	Reference   string
	OccurredAt  time.Time
	OfferID     string
	ProgrammeID string
}

// Earn credits partner-funded points at the partner's rate, with the
// offer's bonus if one is applied. The offer's budget and caps are taken in
// the same transaction that records the earn, and given back if the ledger
// refuses it: the bonus is applied if and only if the earn is.
func (s *Service) Earn(ctx context.Context, p *domain.Partner, key string, r EarnRequest) (*domain.Txn, error) {
	if r.Unit != p.EarnUnit {
		field := "money.currency_code" // another currency
		switch {
		case r.Unit == domain.UnitMiles:
			field = "miles"
		case p.EarnUnit == domain.UnitMiles:
			field = "money"
		}
		return nil, fault.Invalid(field, "partner %s earns in %s", p.ID, p.EarnUnit)
	}
	if !r.Amount.IsPositive() {
		field := "money.amount"
		if r.Unit == domain.UnitMiles {
			field = "miles"
		}
		return nil, fault.Invalid(field, "must be positive")
	}
	now := s.clock()
	occurred := r.OccurredAt // r is hashed as sent: a retry without occurred_at is the same request
	if occurred.IsZero() {
		occurred = now
	}
	if occurred.After(now.Add(5 * time.Minute)) {
		return nil, fault.Invalid("occurred_at", "is in the future")
	}
	req, err := earnRequest(r)
	if err != nil {
		return nil, err
	}
	var member string
	var target domain.Target
	check := func(ctx context.Context) error {
		if err := ownProgramme(p, r.ProgrammeID); err != nil {
			return err
		}
		var err error
		if member, err = s.member(ctx, p, r.MemberRef); err != nil || r.OfferID == "" {
			return err
		}
		target, err = s.target(ctx, member)
		return err
	}
	return s.start(ctx, idem.Key{Caller: p.ID, Key: key}, req, check, func(ctx context.Context, tx Tx) (*domain.Txn, error) {
		base := p.Points(r.Amount)
		t := &domain.Txn{
			ID: s.newID(), PartnerID: p.ID, MemberID: member, ProgrammeID: p.ProgrammeID, Kind: domain.TxnEarn,
			Status: domain.TxnPending, Amount: r.Amount, Unit: r.Unit, Points: base, Reference: r.Reference,
			Currency: p.PricePerPoint.Currency, OccurredAt: occurred.UTC().Truncate(time.Microsecond), CreatedAt: now, UpdatedAt: now,
		}
		if r.OfferID != "" {
			if err := s.applyOffer(ctx, tx, p, t, r.OfferID, target, now); err != nil {
				return nil, err
			}
		}
		if t.Points+t.BonusPoints == 0 {
			return nil, fault.Precondition(fault.NoPointsEarned, "%s %s earns no points at %s points per unit", r.Amount, r.Unit, p.EarnRate)
		}
		t.MoneyMicros = money.Micros(decimal.NewFromInt(t.Points + t.BonusPoints).Mul(p.PricePerPoint.Amount))
		return t, tx.InsertTxn(ctx, t)
	})
}

// applyOffer checks an offer for the member and takes its bonus from the
// budget and its use from the member's cap.
func (s *Service) applyOffer(ctx context.Context, tx Tx, p *domain.Partner, t *domain.Txn, offerID string, target domain.Target, now time.Time) error {
	o, err := tx.Offer(ctx, offerID)
	if err != nil {
		return err
	}
	if o == nil {
		return fault.NotFound(fault.OfferNotFound, "offer %s not found", offerID)
	}
	if o.PartnerID != p.ID {
		return fault.Denied(fault.OtherPartners, "offer %s is not the partner's", offerID)
	}
	t.OfferID, t.PeriodKey, t.BonusPoints = o.ID, o.CapPeriod.Key(now), o.Bonus(t.Points, p.Rounding)
	u, err := tx.Usage(ctx, o, t.MemberID, t.PeriodKey)
	if err != nil {
		return err
	}
	if err := o.Check(target, u, t.BonusPoints, now); err != nil {
		return err
	}
	ok, err := tx.SpendBudget(ctx, o.ID, t.BonusPoints)
	if err != nil {
		return err
	}
	if !ok {
		return fault.Precondition(fault.OfferBudgetExhausted, "offer %s: budget exhausted", o.ID)
	}
	return tx.CountUse(ctx, o.ID, t.MemberID, t.PeriodKey, now)
}

// Burn spends a member's points with the partner.
func (s *Service) Burn(ctx context.Context, p *domain.Partner, key, ref string, points int64, reference string) (*domain.Txn, error) {
	req, err := burnRequest(ref, reference, points)
	if err != nil {
		return nil, err
	}
	var member string
	check := func(ctx context.Context) error {
		var err error
		member, err = s.member(ctx, p, ref)
		return err
	}
	return s.start(ctx, idem.Key{Caller: p.ID, Key: key}, req, check, func(ctx context.Context, tx Tx) (*domain.Txn, error) {
		now := s.clock()
		t := &domain.Txn{
			ID: s.newID(), PartnerID: p.ID, MemberID: member, ProgrammeID: p.ProgrammeID, Kind: domain.TxnBurn,
			Status: domain.TxnPending, Points: points, Reference: reference, Currency: p.ValuePerPoint.Currency,
			MoneyMicros: money.Micros(decimal.NewFromInt(points).Mul(p.ValuePerPoint.Amount)),
			OccurredAt:  now, CreatedAt: now, UpdatedAt: now,
		}
		return t, tx.InsertTxn(ctx, t)
	})
}

// start records a partner transaction (or finds the one its key recorded)
// and carries it to the ledger (see idem.Claim): check runs first, while
// the key is free; create records the transaction with the key's claim. A
// retry with the same key resumes an unfinished transaction or replays the
// outcome of a finished one; a refusal before the ledger (check, create)
// writes nothing but the stored refusal.
func (s *Service) start(ctx context.Context, k idem.Key, req idem.Request, check func(ctx context.Context) error,
	create func(ctx context.Context, tx Tx) (*domain.Txn, error)) (*domain.Txn, error) {
	return idem.Claim(ctx, s.flow, k, req, idem.Steps[Tx, *domain.Txn, *domain.Txn]{
		Check: check,
		Create: func(ctx context.Context, tx Tx) (*domain.Txn, string, error) {
			t, err := create(ctx, tx)
			if err != nil {
				return nil, "", err
			}
			return t, t.ID, nil
		},
		Load: func(ctx context.Context, tx Tx, id string) (*domain.Txn, error) {
			t, err := tx.Txn(ctx, id)
			if err == nil && t == nil {
				err = fmt.Errorf("partner transaction %s, claimed by an idempotency key, not found", id)
			}
			return t, err
		},
		Advance: func(ctx context.Context, t *domain.Txn) (*domain.Txn, error) {
			if err := s.post(ctx, t); err != nil && !isRule(err) {
				return nil, err // unfinished: a retry, or recovery, carries on
			}
			if err := failure(t); err != nil {
				return nil, err
			}
			return t, nil
		},
	})
}

// failure is the refusal of a failed transaction, the same in the reply
// that failed it and in every replay: FAILED_PRECONDITION (the transaction
// is recorded, and failed) with the ledger's reason, PARTNER_TXN_FAILED
// when the ledger gave none of its own (or the transaction failed before
// reasons were stored).
func failure(t *domain.Txn) error {
	if t.Status != domain.TxnFailed {
		return nil
	}
	reason := t.FailureReason
	if reason == "" {
		reason = fault.PartnerTxnFailed
	}
	return fault.Precondition(reason, "%s", t.Failure).With("transaction_id", t.ID)
}

// post sends a pending transaction to the ledger (with a key derived from
// it, so sending again never posts twice) and records the outcome.
func (s *Service) post(ctx context.Context, t *domain.Txn) error {
	if t.Status != domain.TxnPending {
		return nil
	}
	entryID, err := s.ledger.Post(ctx, "partner-txn:"+t.ID+":"+string(t.Kind), t)
	if err != nil && !isRule(err) {
		return err
	}
	next := *t
	next.UpdatedAt = s.clock()
	if err != nil {
		f, _ := fault.As(err)
		next.Status, next.Failure, next.FailureReason = domain.TxnFailed, f.Msg, f.Reason
		if f.Reason == fault.ReasonOf(&fault.Error{Kind: f.Kind}) {
			next.FailureReason = "" // the reason of its status code, none of its own
		}
	} else {
		next.Status, next.EntryID = domain.TxnCompleted, entryID
	}
	uerr := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		if next.Status == domain.TxnFailed && next.OfferID != "" {
			if err := tx.ReturnBudget(ctx, next.OfferID, next.BonusPoints); err != nil {
				return err
			}
			if err := tx.ReturnUse(ctx, next.OfferID, next.MemberID, next.PeriodKey); err != nil {
				return err
			}
		}
		return tx.UpdateTxn(ctx, &next, domain.TxnPending)
	})
	if errors.Is(uerr, ErrConflict) {
		// Finished meanwhile by a retry or by recovery: take its outcome.
		return s.store.View(ctx, func(ctx context.Context, tx Tx) error {
			cur, err := tx.Txn(ctx, t.ID)
			if err == nil {
				*t = *cur
			}
			return err
		})
	}
	if uerr != nil {
		return uerr
	}
	*t = next
	return err
}

// Recover sends to the ledger again the transactions left pending for more
// than ten minutes (the process stopped, or the ledger was unreachable);
// the ledger's idempotency makes this safe whether or not it saw them. It
// sends only transactions pending for less than idem.RecoveryWindow: the
// ledger keeps their keys longer than that (idem.Retention), so a
// transaction it posted is replayed, never posted twice. Older pending
// transactions are logged for review, and left as they are: their ledger
// key may be purged.
func (s *Service) Recover(ctx context.Context) (int, error) {
	now := s.clock()
	horizon := now.Add(-idem.RecoveryWindow)
	var stuck, stale []*domain.Txn
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if stuck, err = tx.PendingTxns(ctx, horizon, now.Add(-10*time.Minute), 100); err != nil {
			return err
		}
		stale, err = tx.PendingTxns(ctx, time.Time{}, horizon.Add(time.Microsecond), 100)
		return err
	}); err != nil {
		return 0, err
	}
	if len(stale) > 0 {
		ids := make([]string, len(stale))
		for i, t := range stale {
			ids[i] = t.ID
		}
		s.log.WarnContext(ctx, "partner transactions pending for longer than the recovery window need review: their ledger keys may be purged, so recovery does not post them",
			slog.Duration("recovery_window", idem.RecoveryWindow), slog.Int("count", len(stale)), slog.Any("transactions", ids))
	}
	for i, t := range stuck {
		if err := s.post(ctx, t); err != nil && !isRule(err) {
			return i, fmt.Errorf("recover partner transaction %s: %w", t.ID, err)
		}
	}
	return len(stuck), nil
}

// RunRecovery recovers pending transactions every interval until ctx ends.
func (s *Service) RunRecovery(ctx context.Context, every time.Duration) {
	jobs.Every(ctx, every, s.log, "partners-recovery", func(ctx context.Context) error {
		_, err := s.Recover(ctx)
		return err
	})
}
