package app_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
	"github.com/fidelis-loyalty/fidelis/services/rewards/rewardstest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/store"
)

// A redemption left pending (the process stopped between the stock and the
// capture) is failed by recovery: hold released, stock returned, voucher
// void, no points burned.
func TestRecoverFailsAbandonedRedemptions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		env := rewardstest.Start(t, db)
		m, rewardID, stuck := stuckRedemption(t, env, db)
		if n, err := env.RewardsApp.Recover(ctx); err != nil || n != 0 {
			t.Fatalf("recovered a fresh redemption: %d %v", n, err)
		}
		env.Clock.Advance(11 * time.Minute)
		recoverFailed(t, env, m, rewardID, stuck)
	})
}

// A redemption whose capture reached the ledger but whose reply was lost
// is still pending: recovery finds the hold captured, refunds the capture
// and fails the redemption, so the member keeps the points.
func TestRecoverRefundsALostCapture(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		env := rewardstest.Start(t, db)
		m, rewardID, stuck := stuckRedemption(t, env, db)
		// The capture, as the rewards service makes it (its principal).
		asRewards := ledgerv1.NewLedgerServiceClient(env.ServiceConn(t, env.Addr, "fidelis-rewards"))
		if _, err := asRewards.Capture(ctx, &ledgerv1.CaptureRequest{IdempotencyKey: app.LedgerKey(stuck, "capture"),
			HoldId: stuck.HoldID}); err != nil {
			t.Fatal(err)
		}
		if bal, err := env.Client.GetBalance(ctx, &ledgerv1.GetBalanceRequest{MemberId: m}); err != nil || bal.GetBalance().GetAvailable() != 300 {
			t.Fatalf("balance after the capture: %v %v", bal, err)
		}
		env.Clock.Advance(11 * time.Minute)
		recoverFailed(t, env, m, rewardID, stuck)
		if n, err := env.RewardsApp.Recover(ctx); err != nil || n != 0 {
			t.Fatalf("recovered twice: %d %v", n, err)
		}
	})
}

// stuckRedemption is a member with 500 points and a redemption of 200 of
// them left pending: points held, stock allocated, voucher reserved.
func stuckRedemption(t *testing.T, env *rewardstest.Env, db *sqldb.DB) (string, string, *domain.Redemption) {
	t.Helper()
	ctx := context.Background()
	enrolled, err := env.Client.EnrolMember(ctx, &ledgerv1.EnrolMemberRequest{IdempotencyKey: "e", ProgrammeId: "test", ExternalRef: "c"})
	if err != nil {
		t.Fatal(err)
	}
	m := enrolled.GetMember().GetMemberId()
	if _, err := env.Client.Earn(ctx, &ledgerv1.EarnRequest{IdempotencyKey: "earn", MemberId: m,
		Basis: &ledgerv1.EarnRequest_Points{Points: 500}, Channel: typev1.Channel_CHANNEL_POS}); err != nil {
		t.Fatal(err)
	}
	reward, err := env.RewardsApp.CreateReward(ctx, principal.System("admin"), "r1", "test", domain.Terms{
		Name: "Mug", PointsCost: 200, Type: domain.TypeFreeProduct, ProductSKU: "MUG-1", VoucherValidity: time.Hour, StockTotal: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	hold, err := env.Client.Hold(ctx, &ledgerv1.HoldRequest{IdempotencyKey: "h", MemberId: m, Points: 200,
		Ttl: durationpb.New(5 * time.Minute), Channel: typev1.Channel_CHANNEL_POS})
	if err != nil {
		t.Fatal(err)
	}
	now := env.Clock.Now()
	code, _ := domain.NewVoucherCode()
	stuck := &domain.Redemption{ID: "0190c8a4-0000-7000-8000-00000000a001", RewardID: reward.ID, MemberID: m, ProgrammeID: "test",
		Status: domain.RedemptionPending, Points: 200, HoldID: hold.GetHold().GetHoldId(), VoucherCode: code,
		PeriodKey: "lifetime", CreatedAt: now, UpdatedAt: now}
	if err := store.New(db).Update(ctx, func(ctx context.Context, tx app.Tx) error {
		if _, err := tx.AllocateStock(ctx, reward.ID, 1); err != nil {
			return err
		}
		if err := tx.InsertRedemption(ctx, stuck); err != nil {
			return err
		}
		return tx.InsertVoucher(ctx, &domain.Voucher{Code: code, RedemptionID: stuck.ID, RewardID: reward.ID, MemberID: m,
			Status: domain.VoucherPending, IssuedAt: now, ExpiresAt: now.Add(time.Hour), Offer: reward.Offer()})
	}); err != nil {
		t.Fatal(err)
	}
	return m, reward.ID, stuck
}

// recoverFailed recovers the stuck redemption and checks it failed with
// nothing burned: all 500 points available, none held, the stock returned,
// the voucher void.
func recoverFailed(t *testing.T, env *rewardstest.Env, m, rewardID string, stuck *domain.Redemption) {
	t.Helper()
	ctx := context.Background()
	if n, err := env.RewardsApp.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recover: %d %v", n, err)
	}
	r, err := env.RewardsApp.Reward(ctx, principal.System("test"), rewardID)
	if err != nil || r.StockAllocated != 0 {
		t.Fatalf("stock after recovery: %+v %v", r, err)
	}
	bal, err := env.Client.GetBalance(ctx, &ledgerv1.GetBalanceRequest{MemberId: m})
	if err != nil || bal.GetBalance().GetAvailable() != 500 || bal.GetBalance().GetHeld() != 0 {
		t.Fatalf("balance after recovery: %v %v", bal, err)
	}
	if c, err := env.RewardsApp.ValidateVoucher(ctx, principal.System("test"), stuck.VoucherCode, "", domain.ChannelPOS); err != nil || c.Problem != domain.ProblemCancelled {
		t.Fatalf("the void voucher: %+v %v", c, err)
	}
	env.Check(t)
}
