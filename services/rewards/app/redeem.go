package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/jobs"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// ledgerKey is the idempotency key of one ledger call of a redemption:
// retrying a redemption retries its ledger calls without repeating them.
func ledgerKey(r *domain.Redemption, step string) string { return "redemption:" + r.ID + ":" + step }

// Redemption request and result.
type (
	// RedeemRequest asks to redeem a reward.
	RedeemRequest struct {
		MemberID string
		RewardID string
		Channel  domain.Channel
		StoreID  string
	}
	// RedeemResult is a completed redemption and its voucher.
	RedeemResult struct {
		Redemption *domain.Redemption
		Voucher    *domain.Voucher
	}
)

// Redeem redeems a reward: it checks eligibility, holds the points on the
// ledger, allocates stock and reserves a voucher, captures the points and
// activates the voucher. Any failure releases the hold and the stock. A
// retry with the same key resumes an unfinished redemption or replays the
// outcome of a finished one, success or refusal (see idem.Claim).
//
// The ledger is called with the caller's context: the rewards service's
// credential carries who the redemption is for, so the ledger holds the
// points only of a member of that principal's programmes.
func (s *Service) Redeem(ctx context.Context, who principal.Principal, key string, req RedeemRequest) (*RedeemResult, error) {
	ir, err := redeemRequest(req)
	if err != nil {
		return nil, err
	}
	return idem.Claim(ctx, s.flow, idem.Key{Caller: who.ID, Key: key}, ir, idem.Steps[Tx, *domain.Redemption, *RedeemResult]{
		Check: func(ctx context.Context) error { return s.mayRedeem(ctx, who, req) },
		Create: func(ctx context.Context, tx Tx) (*domain.Redemption, string, error) {
			reward, err := rewardOf(ctx, tx, who, req.RewardID)
			if err != nil {
				return nil, "", err
			}
			now := s.clock()
			r := &domain.Redemption{
				ID: s.newID(), RewardID: reward.ID, MemberID: req.MemberID, ProgrammeID: reward.ProgrammeID,
				Status: domain.RedemptionStarted, Points: reward.PointsCost, PeriodKey: reward.LimitPeriod.Key(now),
				CreatedAt: now, UpdatedAt: now,
			}
			return r, r.ID, tx.InsertRedemption(ctx, r)
		},
		Load: loadRedemption,
		Advance: func(ctx context.Context, r *domain.Redemption) (*RedeemResult, error) {
			res, err := s.advance(ctx, r, req)
			return outcome(r, res, err)
		},
	})
}

// loadRedemption reads the redemption a key claimed.
func loadRedemption(ctx context.Context, tx Tx, id string) (*domain.Redemption, error) {
	r, err := tx.Redemption(ctx, id)
	if err == nil && r == nil {
		err = fmt.Errorf("redemption %s, claimed by an idempotency key, not found", id)
	}
	return r, err
}

// outcome is what the caller of a redemption gets once advancing it
// stopped: a refusal only for a failed redemption, the one it keeps, as
// its key stores it. A refusal of a step that the redemption retries (the
// refund of a lost capture) leaves it unfinished, and is no refusal of the
// redemption.
func outcome(r *domain.Redemption, res *RedeemResult, err error) (*RedeemResult, error) {
	switch {
	case err == nil:
		return res, nil
	case !isRule(err):
		return nil, err
	case r.Status != domain.RedemptionFailed:
		return nil, &unfinishedError{id: r.ID, status: r.Status, cause: err}
	}
	return nil, failure(r)
}

// failure is the refusal a failed redemption gives every caller: the one
// it failed with, with its reason, metadata and resource; REDEMPTION_FAILED
// for a redemption failed before refusals were kept.
func failure(r *domain.Redemption) error {
	if r.Refusal != nil {
		f := *r.Refusal
		return &f
	}
	return fault.Precondition(fault.RedemptionFailed, "%s", r.Failure)
}

// refusalOf is the refusal a redemption that failed because of why keeps:
// why itself if it is a business refusal (one an idempotency key stores);
// otherwise (the ledger's limits on holds refused it as invalid, say)
// REDEMPTION_FAILED with why's message.
func refusalOf(why error) *fault.Error {
	f, ok := fault.As(why)
	if !ok {
		return fault.Precondition(fault.RedemptionFailed, "%s", why.Error())
	}
	if idem.Storable(f) {
		return &fault.Error{Kind: f.Kind, Reason: fault.ReasonOf(f), Msg: f.Msg, Resource: f.Resource, Metadata: f.Metadata}
	}
	return fault.Precondition(fault.RedemptionFailed, "%s", f.Error())
}

// unfinishedError is a refusal of a step that leaves a redemption
// unfinished, for a retry or recovery to try again. It is no refusal of
// the request: it does not unwrap to the step's fault, so that it is not
// stored under the request's key.
type unfinishedError struct {
	id     string
	status domain.RedemptionStatus
	cause  error
}

func (e *unfinishedError) Error() string {
	return fmt.Sprintf("redemption %s is still %s: %v", e.id, e.status, e.cause)
}

// mayRedeem refuses, before anything is written, a redemption of a reward
// or for a member of a programme the caller is not bound to (the ledger
// checks the member for the caller, whom this service acts for), or of a
// member of another programme than the reward's. It runs while the key is
// free only: a request already under way goes on.
func (s *Service) mayRedeem(ctx context.Context, who principal.Principal, req RedeemRequest) error {
	var reward *domain.Reward
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		reward, err = rewardOf(ctx, tx, who, req.RewardID)
		return err
	})
	if err != nil {
		return err
	}
	p, err := s.ledger.MemberProgramme(ctx, req.MemberID)
	if err != nil {
		return err
	}
	if p != reward.ProgrammeID {
		return fault.Precondition(fault.MemberNotInProgramme, "member %s is in programme %s, the reward in %s", req.MemberID, p, reward.ProgrammeID)
	}
	return nil
}

// advance moves a redemption on from its current status to completed or
// failed. Every step is idempotent, so advancing again after an
// interruption is safe.
func (s *Service) advance(ctx context.Context, r *domain.Redemption, req RedeemRequest) (*RedeemResult, error) {
	for {
		var err error
		switch r.Status {
		case domain.RedemptionStarted:
			err = s.holdAndAllocate(ctx, r, req)
		case domain.RedemptionPending:
			err = s.capture(ctx, r)
		case domain.RedemptionCompleted, domain.RedemptionCancelling, domain.RedemptionCancelled:
			return s.result(ctx, r)
		case domain.RedemptionFailed:
			return nil, failure(r)
		}
		if errors.Is(err, ErrConflict) {
			// Another call advanced it meanwhile: read it again.
			fresh, err := s.redemption(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			*r = *fresh
			continue
		}
		if err != nil {
			return nil, err
		}
	}
}

func (s *Service) redemption(ctx context.Context, id string) (*domain.Redemption, error) {
	var r *domain.Redemption
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if r, err = tx.Redemption(ctx, id); err == nil && r == nil {
			err = fault.NotFound(fault.RedemptionNotFound, "redemption %s not found", id)
		}
		return err
	})
	return r, err
}

// holdAndAllocate checks eligibility, holds the points, then in one
// transaction allocates the stock, counts the member's limit, reserves the
// voucher and marks the redemption pending.
func (s *Service) holdAndAllocate(ctx context.Context, r *domain.Redemption, req RedeemRequest) error {
	var reward *domain.Reward
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		reward, err = tx.Reward(ctx, r.RewardID)
		return err
	}); err != nil {
		return err
	}
	if err := s.eligible(ctx, r, reward); err != nil {
		return s.refuse(ctx, r, err)
	}
	holdID, err := s.ledger.Hold(ctx, ledgerKey(r, "hold"), HoldRequest{
		MemberID: r.MemberID, Points: r.Points, TTL: s.holdTTL, Reference: "redemption:" + r.ID, Channel: req.Channel,
	})
	if err != nil {
		return s.refuse(ctx, r, err)
	}
	code, err := domain.NewVoucherCode()
	if err != nil {
		return err
	}
	unlock := s.rewardLocks.lock(r.RewardID)
	defer unlock()
	next := *r
	var refusal error
	err = s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		refusal = nil
		reward, err := tx.Reward(ctx, r.RewardID)
		if err != nil {
			return err
		}
		now := s.clock()
		if m := reward.Check(domain.MemberView{Available: r.Points}, nil, 0, now); m.Inactive || m.OutsideValidity {
			refusal = m.Err()
			return nil
		}
		ok, err := tx.AllocateStock(ctx, r.RewardID, 1)
		if err != nil || !ok {
			refusal = fault.Precondition(fault.RewardOutOfStock, "cannot redeem: out of stock").About(rewardResource, r.RewardID)
			return err
		}
		if ok, err := tx.UseLimit(ctx, r.MemberID, r.RewardID, r.PeriodKey, reward.MemberLimit); err != nil || !ok {
			refusal = fault.Precondition(fault.RedemptionLimitReached, "cannot redeem: the member's redemption limit is reached").
				With("member_limit", strconv.Itoa(reward.MemberLimit)).With("limit_period", string(reward.LimitPeriod))
			if err == nil {
				err = errRefused // undo the stock allocation
			}
			return err
		}
		v := &domain.Voucher{
			Code: code, RedemptionID: r.ID, RewardID: r.RewardID, MemberID: r.MemberID, Status: domain.VoucherPending,
			IssuedAt: now, ExpiresAt: now.Add(reward.VoucherValidity), Offer: reward.Offer(),
		}
		if err := tx.InsertVoucher(ctx, v); err != nil {
			return err
		}
		next.Status, next.HoldID, next.VoucherCode, next.UpdatedAt = domain.RedemptionPending, holdID, code, now
		return tx.UpdateRedemption(ctx, &next, domain.RedemptionStarted)
	})
	if errors.Is(err, errRefused) {
		err = nil
	}
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("allocate redemption %s: %w", r.ID, err)
	}
	if refusal != nil {
		r.HoldID = holdID
		return s.fail(ctx, r, refusal)
	}
	*r = next
	return nil
}

// eligible checks what the ledger knows of the member against the
// reward: tier, segment, and the reward's window, stock and limit. Not the
// balance: the ledger's hold enforces it, and refuses with
// INSUFFICIENT_POINTS and the points available.
func (s *Service) eligible(ctx context.Context, r *domain.Redemption, reward *domain.Reward) error {
	m, tiers, err := s.memberView(ctx, r.MemberID, reward.ProgrammeID, false, reward.MinTier != "", len(reward.Segments) > 0)
	if err != nil {
		return err
	}
	var used map[string]int
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		used, err = tx.Usage(ctx, r.MemberID, map[string]string{reward.ID: r.PeriodKey})
		return err
	}); err != nil {
		return err
	}
	m.Available = reward.PointsCost // the balance is the hold's to check
	if missing := reward.Check(m, tiers, used[reward.ID], s.clock()); !missing.OK() {
		return missing.Err()
	}
	return nil
}

// memberView reads from the ledger what eligibility needs.
func (s *Service) memberView(ctx context.Context, memberID, programmeID string, needPoints, needTier, needSegment bool) (domain.MemberView, []string, error) {
	var m domain.MemberView
	programme, err := s.ledger.MemberProgramme(ctx, memberID)
	if err != nil {
		return m, nil, err
	}
	if programme != programmeID {
		return m, nil, fault.Precondition(fault.MemberNotInProgramme, "member %s is not in programme %s", memberID, programmeID)
	}
	if needPoints {
		if m.Available, err = s.ledger.Available(ctx, memberID); err != nil {
			return m, nil, err
		}
	}
	var tiers []string
	if needTier {
		if tiers, err = s.ledger.Tiers(ctx, programmeID); err != nil {
			return m, nil, err
		}
		if m.Tier, err = s.ledger.Tier(ctx, memberID); err != nil {
			return m, nil, err
		}
	}
	if needSegment {
		// A reward targeted at segments is a personalised offer: only for
		// a member who consents to profiling now. Without it the member is
		// in no segment, as far as rewards know.
		consents, err := s.ledger.Profiling(ctx, memberID)
		if err != nil {
			return m, nil, err
		}
		if consents {
			if m.Segment, err = s.ledger.Segment(ctx, memberID); err != nil {
				return m, nil, err
			}
		}
	}
	return m, tiers, nil
}

// capture burns the held points and activates the voucher. If the ledger
// refuses (the hold expired meanwhile), the redemption fails and returns
// its stock.
func (s *Service) capture(ctx context.Context, r *domain.Redemption) error {
	captureID, err := s.ledger.Capture(ctx, ledgerKey(r, "capture"), r.HoldID)
	if isRule(err) {
		// The hold ended (expired) before the capture: the ledger's
		// reason is about a hold the caller never saw.
		f, _ := fault.As(err)
		err = fault.Precondition(fault.RedemptionFailed, "the points could not be captured: %s", f.Msg)
	}
	if err != nil {
		return s.refuse(ctx, r, err)
	}
	next := *r
	return s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		v, err := tx.Voucher(ctx, r.VoucherCode)
		if err != nil {
			return err
		}
		active := *v
		active.Status = domain.VoucherActive
		if err := tx.UpdateVoucher(ctx, &active, domain.VoucherPending); err != nil {
			return err
		}
		next.Status, next.CaptureEntryID, next.UpdatedAt = domain.RedemptionCompleted, captureID, s.clock()
		if err := tx.UpdateRedemption(ctx, &next, domain.RedemptionPending); err != nil {
			return err
		}
		*r = next
		return nil
	})
}

// refuse fails the redemption when err is a refusal (a rule broken here or
// at the ledger). Any other error leaves the redemption as it is, for a
// retry of the same key, or recovery, to carry on.
func (s *Service) refuse(ctx context.Context, r *domain.Redemption, err error) error {
	if isRule(err) {
		return s.fail(ctx, r, err)
	}
	return err
}

// fail ends a redemption that cannot complete: the held points go back to
// the member, the stock and the member's limit are returned, the voucher is
// void. The redemption keeps the refusal (refusalOf why) it replays to
// every retry. It returns that refusal once the redemption is failed, and
// otherwise an error that is not a refusal.
func (s *Service) fail(ctx context.Context, r *domain.Redemption, why error) error {
	refusal := refusalOf(why)
	msg := refusal.Msg
	from := r.Status
	next := *r
	if r.HoldID != "" {
		if err := s.unhold(ctx, &next); err != nil {
			return err
		}
	}
	err := s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		if from == domain.RedemptionPending {
			if err := returnAllocation(ctx, tx, r); err != nil {
				return err
			}
			v, err := tx.Voucher(ctx, r.VoucherCode)
			if err != nil {
				return err
			}
			void := *v
			void.Status = domain.VoucherCancelled
			if err := tx.UpdateVoucher(ctx, &void, domain.VoucherPending); err != nil {
				return err
			}
		}
		next.Status, next.Failure, next.Refusal, next.UpdatedAt = domain.RedemptionFailed, msg, refusal, s.clock()
		return tx.UpdateRedemption(ctx, &next, from)
	})
	if err != nil {
		return err
	}
	*r = next
	return failure(r)
}

// rewardResource is the type of a reward in a ResourceInfo.
const rewardResource = "fidelis.rewards.v1.Reward"

// unhold gives a failing redemption's held points back: it releases the
// hold; a hold the ledger will not release (no longer active) was either
// released or expired already, or captured by a capture whose reply was
// lost. Replaying the capture tells which: if it succeeds, the capture is
// refunded in full and both entries recorded on r. (The refund's reason is
// fixed: a retry must send the ledger the same request under its key.)
func (s *Service) unhold(ctx context.Context, r *domain.Redemption) error {
	err := s.ledger.Release(ctx, ledgerKey(r, "release"), r.HoldID)
	if err == nil {
		return nil
	}
	if !isRule(err) {
		return err
	}
	capture, err := s.ledger.Capture(ctx, ledgerKey(r, "capture"), r.HoldID)
	if err != nil {
		if !isRule(err) {
			return err
		}
		return nil // never captured: nothing was burned
	}
	refund, err := s.reverseCapture(ctx, r, capture, "undo-capture", "redemption failed")
	if err != nil {
		// Not a refusal of the redemption, even if the ledger refused:
		// the redemption stays unfinished and recovery tries again.
		return fmt.Errorf("ledger: refund capture %s of redemption %s: %w", capture, r.ID, err)
	}
	r.CaptureEntryID, r.RefundEntryID = capture, refund
	return nil
}

// reverseCapture refunds a redemption's capture entry in full on the
// ledger, with the redemption's idempotency key for step, and returns the
// refund entry.
func (s *Service) reverseCapture(ctx context.Context, r *domain.Redemption, entryID, step, reason string) (string, error) {
	return s.ledger.RefundInFull(ctx, ledgerKey(r, step), entryID, reason)
}

// isRule tells whether err is a rule broken here or at the ledger: a
// fault, but not one that says a service is unavailable or a caller
// unauthenticated, which refuse nothing.
func isRule(err error) bool {
	f, ok := fault.As(err)
	return ok && f.Kind != fault.KindUnavailable && f.Kind != fault.KindUnauthenticated
}

func (s *Service) result(ctx context.Context, r *domain.Redemption) (*RedeemResult, error) {
	res := &RedeemResult{Redemption: r}
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		res.Voucher, err = tx.Voucher(ctx, r.VoucherCode)
		return err
	})
	return res, err
}

// CancelRedemption voids an unused voucher, refunds its points to their
// original lots on the ledger and returns the stock. A redemption already
// cancelled (by another key) is replayed; a retry with the key resumes an
// unfinished refund or replays the outcome (see idem.Claim).
func (s *Service) CancelRedemption(ctx context.Context, who principal.Principal, key, redemptionID, reason string) (*RedeemResult, error) {
	ir, err := cancelRedemptionRequest(redemptionID, reason)
	if err != nil {
		return nil, err
	}
	return idem.Claim(ctx, s.flow, idem.Key{Caller: who.ID, Key: key}, ir, idem.Steps[Tx, *domain.Redemption, *RedeemResult]{
		Create: func(ctx context.Context, tx Tx) (*domain.Redemption, string, error) {
			r, err := tx.Redemption(ctx, redemptionID)
			if err != nil {
				return nil, "", err
			}
			if r == nil {
				return nil, "", fault.NotFound(fault.RedemptionNotFound, "redemption %s not found", redemptionID)
			}
			if err := who.CheckProgramme(r.ProgrammeID); err != nil {
				return nil, "", err
			}
			if r.Status == domain.RedemptionCancelling || r.Status == domain.RedemptionCancelled {
				return r, r.ID, nil // resume or replay
			}
			if r.Status != domain.RedemptionCompleted {
				return nil, "", fault.Precondition(fault.RedemptionNotCancellable, "redemption %s is %s", r.ID, r.Status)
			}
			v, err := tx.Voucher(ctx, r.VoucherCode)
			if err != nil {
				return nil, "", err
			}
			if v.Status != domain.VoucherActive {
				return nil, "", fault.Precondition(fault.RedemptionNotCancellable, "the voucher is %s: it cannot be cancelled", v.Status)
			}
			void := *v
			void.Status = domain.VoucherCancelled
			if err := tx.UpdateVoucher(ctx, &void, domain.VoucherActive); err != nil {
				return nil, "", err
			}
			next := *r
			next.Status, next.Failure, next.UpdatedAt = domain.RedemptionCancelling, reason, s.clock()
			if err := tx.UpdateRedemption(ctx, &next, domain.RedemptionCompleted); err != nil {
				return nil, "", err
			}
			return &next, next.ID, nil
		},
		Load: loadRedemption,
		Advance: func(ctx context.Context, r *domain.Redemption) (*RedeemResult, error) {
			if r.Status == domain.RedemptionCancelling {
				err := s.refund(ctx, r)
				if errors.Is(err, ErrConflict) {
					// Finished meanwhile by a retry or by recovery.
					fresh, ferr := s.redemption(ctx, r.ID)
					if ferr != nil {
						return nil, ferr
					}
					*r, err = *fresh, nil
				}
				if isRule(err) {
					return nil, &unfinishedError{id: r.ID, status: r.Status, cause: err}
				}
				if err != nil {
					return nil, err
				}
			}
			return s.result(ctx, r)
		},
	})
}

// returnAllocation gives back what a redemption allocated: its unit of
// stock and, if the reward has one, its use of the member's limit.
func returnAllocation(ctx context.Context, tx interface {
	Stock
	Catalogue
}, r *domain.Redemption) error {
	if err := tx.ReturnStock(ctx, r.RewardID, 1); err != nil {
		return err
	}
	reward, err := tx.Reward(ctx, r.RewardID)
	if err != nil {
		return err
	}
	if reward.MemberLimit > 0 {
		return tx.ReturnLimit(ctx, r.MemberID, r.RewardID, r.PeriodKey)
	}
	return nil
}

// refund finishes a cancellation: the ledger refunds the capture, and the
// stock and the member's limit return.
func (s *Service) refund(ctx context.Context, r *domain.Redemption) error {
	ref, err := s.reverseCapture(ctx, r, r.CaptureEntryID, "refund", "redemption cancelled: "+r.Failure)
	if err != nil {
		return err
	}
	next := *r
	return s.store.Update(ctx, func(ctx context.Context, tx Tx) error {
		if err := returnAllocation(ctx, tx, r); err != nil {
			return err
		}
		next.Status, next.RefundEntryID, next.UpdatedAt = domain.RedemptionCancelled, ref, s.clock()
		if err := tx.UpdateRedemption(ctx, &next, domain.RedemptionCancelling); err != nil {
			return err
		}
		*r = next
		return nil
	})
}

// Recover finishes redemptions left unfinished (the process stopped, or
// the caller gave up) for longer than twice the hold TTL: a cancellation is
// completed; a redemption whose caller never got its voucher is failed,
// releasing its hold and stock. It returns how many it finished.
//
// Recovery replays the redemption's ledger calls under their keys (the
// capture, to learn whether a lost one went through), so it touches only
// redemptions unfinished for less than idem.RecoveryWindow: the ledger
// keeps its keys longer than that. Older ones are logged for review, and
// left as they are.
func (s *Service) Recover(ctx context.Context) (int, error) {
	now := s.clock()
	horizon := now.Add(-idem.RecoveryWindow)
	var stuck, stale []*domain.Redemption
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if stuck, err = tx.Unfinished(ctx, horizon, now.Add(-2*s.holdTTL), 100); err != nil {
			return err
		}
		stale, err = tx.Unfinished(ctx, time.Time{}, horizon.Add(time.Microsecond), 100)
		return err
	}); err != nil {
		return 0, err
	}
	if len(stale) > 0 {
		ids := make([]string, len(stale))
		for i, r := range stale {
			ids[i] = r.ID
		}
		s.log.WarnContext(ctx, "redemptions unfinished for longer than the recovery window need review: their ledger keys may be purged, so recovery leaves them",
			slog.Duration("recovery_window", idem.RecoveryWindow), slog.Int("count", len(stale)), slog.Any("redemptions", ids))
	}
	n := 0
	for _, r := range stuck {
		var err error
		if r.Status == domain.RedemptionCancelling {
			err = s.refund(ctx, r)
		} else {
			err = s.fail(ctx, r, fault.Precondition(fault.RedemptionFailed, "redemption abandoned unfinished"))
			if r.Status == domain.RedemptionFailed {
				err = nil // fail returns its reason once the redemption is failed
			}
		}
		if errors.Is(err, ErrConflict) {
			continue // moved on meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("recover redemption %s: %w", r.ID, err)
		}
		n++
	}
	return n, nil
}

// RunRecovery recovers unfinished redemptions every interval until ctx ends.
func (s *Service) RunRecovery(ctx context.Context, every time.Duration) {
	jobs.Every(ctx, every, s.log, "rewards-recovery", func(ctx context.Context) error {
		_, err := s.Recover(ctx)
		return err
	})
}
