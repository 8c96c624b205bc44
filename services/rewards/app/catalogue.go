package app

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/paging"
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
			r := &domain.Reward{ID: id, ProgrammeID: programmeID, Terms: t, State: domain.StateActive, Version: 1, CreatedAt: now, UpdatedAt: now}
			return r, tx.InsertReward(ctx, r)
		})
}

// RewardUpdate is a change of a reward's terms.
type RewardUpdate struct {
	RewardID string
	// Terms holds the new values of Fields.
	Terms domain.Terms
	// Fields are the fields of Terms to change; none for all of them.
	Fields []domain.TermsField
	// Etag, if not empty, is the reward's etag as the caller read it: the
	// update is ABORTED (ETAG_MISMATCH) if the reward changed since.
	Etag string
}

// UpdateReward changes the fields of a reward's terms that u names, if the
// reward is still at u's etag. The result is checked as a whole.
func (s *Service) UpdateReward(ctx context.Context, who principal.Principal, key string, u RewardUpdate) (*domain.Reward, error) {
	req, err := updateRewardRequest(u)
	if err != nil {
		return nil, err
	}
	var tiers []string
	return idempotent(ctx, s, idem.Key{Caller: who.ID, Key: key}, req,
		func(ctx context.Context) error {
			current, err := s.Reward(ctx, who, u.RewardID)
			if err != nil {
				return err
			}
			if err := current.CheckEtag(u.Etag); err != nil {
				return err
			}
			if tiers, err = s.ledger.Tiers(ctx, current.ProgrammeID); err != nil {
				return err
			}
			t := current.Terms.With(u.Terms, u.Fields)
			return t.Validate(tiers)
		},
		func(ctx context.Context, tx Tx) (*domain.Reward, error) {
			r, err := rewardOf(ctx, tx, who, u.RewardID)
			if err != nil {
				return nil, err
			}
			// Checked again in the transaction: the reward may have
			// changed since the check, and then the etag is stale, or,
			// without one, the fields not in the mask are those of now.
			if err := r.CheckEtag(u.Etag); err != nil {
				return nil, err
			}
			t := r.Terms.With(u.Terms, u.Fields)
			if err := t.Validate(tiers); err != nil {
				return nil, err
			}
			if t.StockTotal < r.StockAllocated {
				return nil, fault.Precondition(fault.StockBelowIssued, "stock_total %d is below the %d vouchers already issued", t.StockTotal, r.StockAllocated).
					With("stock_allocated", strconv.FormatInt(r.StockAllocated, 10))
			}
			next := *r
			next.Terms, next.Version, next.UpdatedAt = t, r.Version+1, s.clock()
			return &next, tx.UpdateReward(ctx, &next, r.Version)
		})
}

// DeactivateReward withdraws a reward from redemption, if it is still at
// etag (when not empty). An inactive reward stays as it is.
func (s *Service) DeactivateReward(ctx context.Context, who principal.Principal, key, rewardID, etag string) (*domain.Reward, error) {
	req, err := deactivateRewardRequest(rewardID, etag)
	if err != nil {
		return nil, err
	}
	return idempotent(ctx, s, idem.Key{Caller: who.ID, Key: key}, req,
		func(ctx context.Context) error {
			r, err := s.Reward(ctx, who, rewardID)
			if err != nil {
				return err
			}
			return r.CheckEtag(etag)
		},
		func(ctx context.Context, tx Tx) (*domain.Reward, error) {
			r, err := rewardOf(ctx, tx, who, rewardID)
			if err != nil {
				return nil, err
			}
			if err := r.CheckEtag(etag); err != nil {
				return nil, err
			}
			if r.State == domain.StateInactive {
				return r, nil
			}
			next := *r
			next.State, next.Version, next.UpdatedAt = domain.StateInactive, r.Version+1, s.clock()
			return &next, tx.UpdateReward(ctx, &next, r.Version)
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

// Page sizes of the listings.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// Page is a page of a listing: its size as requested (0 for the default)
// and the token of the previous page ("" for the first).
type Page struct {
	Size  int
	Token string
}

// RewardsPage is a page of rewards and the token of the next ("" after
// the last).
type RewardsPage struct {
	Rewards []*domain.Reward
	Next    string
}

// Rewards lists a page of a programme's catalogue.
func (s *Service) Rewards(ctx context.Context, who principal.Principal, programmeID string, includeInactive bool, p Page) (*RewardsPage, error) {
	if err := who.CheckProgramme(programmeID); err != nil {
		return nil, err
	}
	return s.rewardsPage(ctx, paging.Scope("rewards", programmeID, strconv.FormatBool(includeInactive)), programmeID, includeInactive, p)
}

// rewardsPage reads a page of a programme's rewards, in catalogue order,
// for a listing of scope.
func (s *Service) rewardsPage(ctx context.Context, scope, programmeID string, includeInactive bool, p Page) (*RewardsPage, error) {
	pos, err := paging.Position(scope, p.Token)
	if err != nil {
		return nil, err
	}
	var after *RewardCursor
	if pos != "" {
		after = &RewardCursor{}
		if json.Unmarshal([]byte(pos), after) != nil {
			return nil, fault.Invalid("page_token", "is not a page token of this listing")
		}
	}
	size := paging.Size(p.Size, defaultPageSize, maxPageSize)
	var rs []*domain.Reward
	if err := s.store.View(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		rs, err = tx.Rewards(ctx, RewardsQuery{ProgrammeID: programmeID, IncludeInactive: includeInactive, After: after, Limit: size + 1})
		return err
	}); err != nil {
		return nil, err
	}
	out := &RewardsPage{Rewards: rs}
	if len(rs) > size {
		out.Rewards = rs[:size]
		last := rs[size-1]
		b, err := json.Marshal(RewardCursor{PointsCost: last.PointsCost, Name: last.Name, ID: last.ID})
		if err != nil {
			return nil, err
		}
		out.Next = paging.Token(scope, string(b))
	}
	return out, nil
}

// Option is a reward and what stops the member from redeeming it now.
type Option struct {
	Reward  *domain.Reward
	Missing domain.Missing
}

// Eligibility is a page of a programme's active rewards, each with what
// stops the member from redeeming it now (nothing, if it can), and the
// token of the next page.
type Eligibility struct {
	Member  domain.MemberView
	Options []Option
	Next    string
}

// EligibleRewards says what a member can redeem now, a page of the
// programme's active rewards at a time.
func (s *Service) EligibleRewards(ctx context.Context, who principal.Principal, memberID string, p Page) (*Eligibility, error) {
	programme, err := s.ledger.MemberProgramme(ctx, memberID)
	if err != nil {
		return nil, err
	}
	if err := who.CheckProgramme(programme); err != nil {
		return nil, err
	}
	page, err := s.rewardsPage(ctx, paging.Scope("eligible-rewards", memberID), programme, false, p)
	if err != nil {
		return nil, err
	}
	needTier, needSegment := false, false
	now := s.clock()
	periods := map[string]string{}
	for _, r := range page.Rewards {
		needTier = needTier || r.MinTier != ""
		needSegment = needSegment || len(r.Segments) > 0
		periods[r.ID] = r.LimitPeriod.Key(now)
	}
	m, tiers, err := s.memberView(ctx, memberID, programme, true, needTier, needSegment)
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
	out := &Eligibility{Member: m, Next: page.Next}
	for _, r := range page.Rewards {
		out.Options = append(out.Options, Option{Reward: r, Missing: r.Check(m, tiers, used[r.ID], now)})
	}
	return out, nil
}

// VoucherCheck is a voucher and whether it can be used.
type VoucherCheck struct {
	// Problem is why the voucher cannot be used ("" if it can), Reason
	// the same in words.
	Problem domain.VoucherProblem
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
		out.Problem, out.Reason = out.Voucher.Usable(store, ch, s.clock())
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
		if problem, why := v.Usable(c.StoreID, c.Channel, now); problem != "" {
			return nil, fault.Precondition(fault.VoucherNotUsable, "voucher cannot be used: %s", why).With("problem", string(problem))
		}
		used := *v
		used.Status, used.ConsumedAt, used.ConsumedStore = domain.VoucherConsumed, now, c.StoreID
		used.ConsumedChannel, used.ConsumedOrderRef, used.ConsumeKey = c.Channel, c.OrderRef, who.ID+"/"+key
		if err := tx.UpdateVoucher(ctx, &used, domain.VoucherActive); err != nil {
			return nil, err
		}
		return &VoucherCheck{Problem: domain.ProblemAlreadyUsed, Reason: "used", Voucher: &used}, nil
	})
}
