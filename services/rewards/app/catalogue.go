package app

import (
	"context"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// CreateReward adds a reward to a programme's catalogue.
func (s *Service) CreateReward(ctx context.Context, who principal.Principal, key, programmeID string, t domain.Terms) (*domain.Reward, error) {
	req, err := createRewardRequest(programmeID, t)
	if err != nil {
		return nil, err
	}
	id := s.newID()
	return idempotent(ctx, s, idem.Key{Caller: who.ID, Key: key}, req,
		func(ctx context.Context) error {
			if err := who.CheckProgramme(programmeID); err != nil {
				return err
			}
			tiers, err := s.ledger.Tiers(ctx, programmeID)
			if err != nil {
				return err
			}
			return t.Validate(tiers)
		},
		func(ctx context.Context, tx Tx) (*domain.Reward, error) {
			now := s.clock()
			r := &domain.Reward{ID: id, ProgrammeID: programmeID, Terms: t, Active: true, CreatedAt: now, UpdatedAt: now}
			return r, tx.InsertReward(ctx, r)
		})
}

// UpdateReward replaces a reward's terms.
func (s *Service) UpdateReward(ctx context.Context, who principal.Principal, key, rewardID string, t domain.Terms) (*domain.Reward, error) {
	req, err := updateRewardRequest(rewardID, t)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, s, idem.Key{Caller: who.ID, Key: key}, req,
		func(ctx context.Context) error {
			current, err := s.Reward(ctx, who, rewardID)
			if err != nil {
				return err
			}
			tiers, err := s.ledger.Tiers(ctx, current.ProgrammeID)
			if err != nil {
				return err
			}
			return t.Validate(tiers)
		},
		func(ctx context.Context, tx Tx) (*domain.Reward, error) {
			r, err := tx.Reward(ctx, rewardID)
			if err != nil {
				return nil, err
			}
			if t.StockTotal < r.StockAllocated {
				return nil, fault.Precondition(fault.StockBelowIssued, "stock_total %d is below the %d vouchers already issued", t.StockTotal, r.StockAllocated)
			}
			r.Terms, r.UpdatedAt = t, s.clock()
			return r, tx.UpdateReward(ctx, r)
		})
}

// DeactivateReward withdraws a reward from redemption.
func (s *Service) DeactivateReward(ctx context.Context, who principal.Principal, key, rewardID string) (*domain.Reward, error) {
	req, err := deactivateRewardRequest(rewardID)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, s, idem.Key{Caller: who.ID, Key: key}, req,
		func(ctx context.Context) error {
			_, err := s.Reward(ctx, who, rewardID)
			return err
		},
		func(ctx context.Context, tx Tx) (*domain.Reward, error) {
			r, err := tx.Reward(ctx, rewardID)
			if err != nil {
				return nil, err
			}
			r.Active, r.UpdatedAt = false, s.clock()
			return r, tx.UpdateReward(ctx, r)
		})
}

// Reward returns a reward.
func (s *Service) Reward(ctx context.Context, who principal.Principal, id string) (*domain.Reward, error) {
	var r *domain.Reward
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		r, err = rewardOf(ctx, tx, who, id)
		return err
	})
	return r, err
}

// rewardOf reads a reward of a programme who is bound to.
func rewardOf(ctx context.Context, tx Catalogue, who principal.Principal, id string) (*domain.Reward, error) {
	r, err := tx.Reward(ctx, id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fault.NotFound(fault.RewardNotFound, "reward %s not found", id)
	}
	return r, who.CheckProgramme(r.ProgrammeID)
}

// Rewards lists a programme's catalogue.
func (s *Service) Rewards(ctx context.Context, who principal.Principal, programmeID string, includeInactive bool) ([]*domain.Reward, error) {
	if err := who.CheckProgramme(programmeID); err != nil {
		return nil, err
	}
	var rs []*domain.Reward
	err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		rs, err = tx.Rewards(ctx, programmeID, includeInactive)
		return err
	})
	return rs, err
}

// Option is a reward and what stops the member from redeeming it now.
type Option struct {
	Reward  *domain.Reward
	Missing domain.Missing
}

// Eligibility is what a member can redeem now, and what is missing for the
// rest.
type Eligibility struct {
	Member      domain.MemberView
	Eligible    []*domain.Reward
	Unavailable []Option
}

// EligibleRewards says what a member can redeem now.
func (s *Service) EligibleRewards(ctx context.Context, who principal.Principal, memberID string) (*Eligibility, error) {
	programme, err := s.ledger.MemberProgramme(ctx, memberID)
	if err != nil {
		return nil, err
	}
	rewards, err := s.Rewards(ctx, who, programme, false)
	if err != nil {
		return nil, err
	}
	needTier, needSegment := false, false
	now := s.clock()
	periods := map[string]string{}
	for _, r := range rewards {
		needTier = needTier || r.MinTier != ""
		needSegment = needSegment || len(r.Segments) > 0
		periods[r.ID] = r.LimitPeriod.Key(now)
	}
	m, tiers, err := s.memberView(ctx, memberID, programme, needTier, needSegment)
	if err != nil {
		return nil, err
	}
	var used map[string]int
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		used, err = tx.Usage(ctx, memberID, periods)
		return err
	}); err != nil {
		return nil, err
	}
	out := &Eligibility{Member: m}
	for _, r := range rewards {
		if missing := r.Check(m, tiers, used[r.ID], now); missing.OK() {
			out.Eligible = append(out.Eligible, r)
		} else {
			out.Unavailable = append(out.Unavailable, Option{Reward: r, Missing: missing})
		}
	}
	return out, nil
}

// VoucherCheck is a voucher and whether it can be used.
type VoucherCheck struct {
	Valid   bool
	Reason  string
	Voucher *domain.Voucher
}

// voucher reads an issued voucher of a programme who is bound to.
func voucher(ctx context.Context, tx interface {
	Vouchers
	Catalogue
}, who principal.Principal, code string) (*domain.Voucher, error) {
	v, err := tx.Voucher(ctx, code)
	if err == nil && (v == nil || v.Status == domain.VoucherPending) {
		err = fault.NotFound(fault.VoucherNotFound, "voucher %s not found", code)
	}
	if err != nil {
		return nil, err
	}
	if _, err := rewardOf(ctx, tx, who, v.RewardID); err != nil {
		return nil, err
	}
	return v, nil
}

// ValidateVoucher says whether a voucher can be used at a store and
// channel now.
func (s *Service) ValidateVoucher(ctx context.Context, who principal.Principal, code, store string, ch domain.Channel) (*VoucherCheck, error) {
	code, err := domain.NormalizeVoucherCode(code)
	if err != nil {
		return nil, err
	}
	var out VoucherCheck
	err = s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if out.Voucher, err = voucher(ctx, tx, who, code); err != nil {
			return err
		}
		out.Valid, out.Reason = out.Voucher.Usable(store, ch, s.clock())
		return nil
	})
	return &out, err
}

// Consumption is a request to use a voucher.
type Consumption struct {
	Code     string
	StoreID  string
	Channel  domain.Channel
	OrderRef string
}

// ConsumeVoucher uses a voucher, once: the same key replays the use, any
// other use of a used voucher is refused.
func (s *Service) ConsumeVoucher(ctx context.Context, who principal.Principal, key string, c Consumption) (*VoucherCheck, error) {
	code, err := domain.NormalizeVoucherCode(c.Code)
	if err != nil {
		return nil, err
	}
	c.Code = code
	req, err := consumeVoucherRequest(c)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, s, idem.Key{Caller: who.ID, Key: key}, req, nil, func(ctx context.Context, tx Tx) (*VoucherCheck, error) {
		v, err := voucher(ctx, tx, who, code)
		if err != nil {
			return nil, err
		}
		now := s.clock()
		if ok, why := v.Usable(c.StoreID, c.Channel, now); !ok {
			return nil, fault.Precondition(fault.VoucherNotUsable, "voucher cannot be used: %s", why)
		}
		used := *v
		used.Status, used.ConsumedAt, used.ConsumedStore = domain.VoucherConsumed, now, c.StoreID
		used.ConsumedChannel, used.ConsumedOrderRef, used.ConsumeKey = c.Channel, c.OrderRef, who.ID+"/"+key
		if err := tx.UpdateVoucher(ctx, &used, domain.VoucherActive); err != nil {
			return nil, err
		}
		return &VoucherCheck{Valid: false, Reason: "used", Voucher: &used}, nil
	})
}
