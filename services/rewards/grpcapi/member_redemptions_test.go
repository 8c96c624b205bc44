package grpcapi_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/rewardstest"
)

// Customer service sees a member's redemptions, newest first, a page at a
// time: each with its status, its voucher as it is now, and why it failed;
// and only that member's.
func TestListMemberRedemptions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		m := member(t, env, "test", 1000)
		other := member(t, env, "test", 1000)
		mug := createReward(t, env, "test", voucherTerms(100, 10))
		car := createReward(t, env, "test", voucherTerms(50000, 1))

		var ids []string // oldest first
		for range 3 {
			res, err := redeem(t, env, m, mug.GetRewardId())
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.GetVoucher().GetRedemptionId())
			env.Clock.Advance(time.Minute)
		}
		if _, err := redeem(t, env, other, mug.GetRewardId()); err != nil {
			t.Fatal(err)
		}
		_, err := redeem(t, env, m, car.GetRewardId())
		wantCode(t, err, codes.FailedPrecondition)
		env.Clock.Advance(time.Minute)
		if _, err := env.Rewards.CancelRedemption(ctx(t), &rewardsv1.CancelRedemptionRequest{IdempotencyKey: key(), RedemptionId: ids[0],
			Reason: "changed mind"}); err != nil {
			t.Fatal(err)
		}

		var got []*rewardsv1.Redemption
		token := ""
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("more pages than redemptions")
			}
			page, err := env.Rewards.ListMemberRedemptions(ctx(t), &rewardsv1.ListMemberRedemptionsRequest{MemberId: m, PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.GetRedemptions()) > 2 {
				t.Fatalf("page of %d, asked 2", len(page.GetRedemptions()))
			}
			got = append(got, page.GetRedemptions()...)
			if token = page.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(got) != 4 {
			t.Fatalf("%d redemptions listed, want the member's 4: %v", len(got), got)
		}
		failed, newest := got[0], got[1:]
		if failed.GetStatus() != rewardsv1.RedemptionStatus_REDEMPTION_STATUS_FAILED ||
			failed.GetFailureReason() != typev1.ErrorReason_INSUFFICIENT_POINTS || failed.GetVoucher() != nil ||
			failed.GetRewardId() != car.GetRewardId() {
			t.Errorf("the refused redemption, newest: %v", failed)
		}
		for i, r := range newest {
			want := ids[len(ids)-1-i]
			if r.GetRedemptionId() != want || r.GetMemberId() != m || r.GetPoints() != 100 || r.GetEntryId() == "" ||
				r.GetVoucher().GetRedemptionId() != want {
				t.Errorf("redemption %d: %v, want %s with its voucher", i, r, want)
			}
		}
		if c := newest[2]; c.GetStatus() != rewardsv1.RedemptionStatus_REDEMPTION_STATUS_CANCELLED || c.GetRefundEntryId() == "" ||
			c.GetVoucher().GetStatus() != rewardsv1.VoucherStatus_VOUCHER_STATUS_CANCELLED {
			t.Errorf("the cancelled redemption: %v", c)
		}
		if a := newest[0]; a.GetStatus() != rewardsv1.RedemptionStatus_REDEMPTION_STATUS_COMPLETED ||
			a.GetVoucher().GetStatus() != rewardsv1.VoucherStatus_VOUCHER_STATUS_ACTIVE {
			t.Errorf("a completed redemption: %v", a)
		}

		first, err := env.Rewards.ListMemberRedemptions(ctx(t), &rewardsv1.ListMemberRedemptionsRequest{MemberId: m, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.Rewards.ListMemberRedemptions(ctx(t), &rewardsv1.ListMemberRedemptionsRequest{MemberId: other,
			PageToken: first.GetNextPageToken()})
		wantCode(t, err, codes.InvalidArgument) // a token of another member's list
		_, err = env.Rewards.ListMemberRedemptions(ctx(t), &rewardsv1.ListMemberRedemptionsRequest{MemberId: uuid.NewString()})
		wantCode(t, err, codes.NotFound)
		env.Check(t)
	})
}
