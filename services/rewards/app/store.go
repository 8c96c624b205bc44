package app

import (
	"context"
	"errors"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// ErrConflict is a row changed or a key taken by a concurrent request;
// reading again and retrying resolves it.
var ErrConflict = errors.New("rewards: concurrent conflict")

// Store is the rewards service's persistence.
type Store interface {
	// Update runs fn in a read-write transaction, perhaps more than once.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	View(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// PurgeIdem deletes the idempotency records written before before,
	// and returns how many.
	PurgeIdem(ctx context.Context, before time.Time) (int, error)
}

// Tx is one database transaction: the idempotency table and the
// service's tables, each through a role of its own (a function that needs
// one role takes only it).
type Tx interface {
	// Idem, PutIdem (a key already taken is ErrConflict) and FinishIdem:
	// the idempotency table (see idem.Tx).
	idem.Tx
	Catalogue
	Stock
	Redemptions
	Vouchers
}

// Catalogue is the rewards on offer.
type Catalogue interface {
	InsertReward(ctx context.Context, r *domain.Reward) error
	// UpdateReward writes r's terms, state and version if the reward is
	// still at version from; otherwise ErrConflict. It never writes the
	// stock allocated.
	UpdateReward(ctx context.Context, r *domain.Reward, from int64) error
	Reward(ctx context.Context, id string) (*domain.Reward, error)
	// Rewards returns a programme's rewards in catalogue order (points
	// cost, name, id), after q.After if set, at most q.Limit.
	Rewards(ctx context.Context, q RewardsQuery) ([]*domain.Reward, error)
}

// RewardsQuery asks for a page of a programme's rewards.
type RewardsQuery struct {
	ProgrammeID     string
	IncludeInactive bool
	After           *RewardCursor
	Limit           int
}

// RewardCursor is a reward's place in catalogue order.
type RewardCursor struct {
	PointsCost int64  `json:"c"`
	Name       string `json:"n"`
	ID         string `json:"i"`
}

// Stock is what can still be redeemed: rewards' stock and members' limits.
type Stock interface {
	// AllocateStock takes n from a reward's stock, if that much is left.
	AllocateStock(ctx context.Context, rewardID string, n int64) (bool, error)
	ReturnStock(ctx context.Context, rewardID string, n int64) error
	// UseLimit counts a redemption against a member's limit, if under it
	// (limit 0: no limit).
	UseLimit(ctx context.Context, memberID, rewardID, period string, limit int) (bool, error)
	ReturnLimit(ctx context.Context, memberID, rewardID, period string) error
	// Usage returns a member's redemptions per reward in the given periods.
	Usage(ctx context.Context, memberID string, periods map[string]string) (map[string]int, error)
}

// Redemptions are redemptions and their progress.
type Redemptions interface {
	InsertRedemption(ctx context.Context, r *domain.Redemption) error
	// UpdateRedemption writes r if it is still in status from; otherwise
	// ErrConflict.
	UpdateRedemption(ctx context.Context, r *domain.Redemption, from domain.RedemptionStatus) error
	Redemption(ctx context.Context, id string) (*domain.Redemption, error)
	// Unfinished returns redemptions in a transient status since a time
	// after after and before before, the longest unfinished first.
	Unfinished(ctx context.Context, after, before time.Time, limit int) ([]*domain.Redemption, error)
	// MemberRedemptions returns a member's redemptions, newest first
	// (created_at, then id, descending), after after if set, at most
	// limit.
	MemberRedemptions(ctx context.Context, memberID string, after *RedemptionCursor, limit int) ([]*domain.Redemption, error)
}

// RedemptionCursor is a redemption's place in a member's list: its
// creation time (microseconds) and id.
type RedemptionCursor struct {
	CreatedAt int64  `json:"t"`
	ID        string `json:"i"`
}

// Vouchers are the vouchers redemptions issue.
type Vouchers interface {
	InsertVoucher(ctx context.Context, v *domain.Voucher) error
	// UpdateVoucher writes v if it is still in status from; otherwise
	// ErrConflict.
	UpdateVoucher(ctx context.Context, v *domain.Voucher, from domain.VoucherStatus) error
	Voucher(ctx context.Context, code string) (*domain.Voucher, error)
}
