package grpcapi_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/rewardstest"
)

// errorInfo is the ErrorInfo of a refusal, as a client reads it.
func errorInfo(t testing.TB, err error) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetDomain() != "fidelis-loyalty.github.io" {
				t.Fatalf("ErrorInfo of domain %q", info.GetDomain())
			}
			return info
		}
	}
	t.Fatalf("%v has no ErrorInfo", err)
	return nil
}

// wantReason checks a refusal's code and ErrorInfo reason (a value of
// fidelis.type.v1.ErrorReason), and returns its metadata.
func wantReason(t testing.TB, err error, c codes.Code, reason typev1.ErrorReason) map[string]string {
	t.Helper()
	if status.Code(err) != c {
		t.Fatalf("error %v, want %s %s", err, c, reason)
	}
	info := errorInfo(t, err)
	if info.GetReason() != reason.String() {
		t.Fatalf("error %v: reason %s, want %s", err, info.GetReason(), reason)
	}
	return info.GetMetadata()
}

// Every refusal of a redemption names its cause, and a retry with the
// key replays it, reason and metadata, even once the cause is gone.
func TestRedeemRefusalReasons(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		poor := member(t, env, "tiered", 100)
		rich := member(t, env, "tiered", 5000)

		// Points short: the ledger's hold refuses, with the points.
		cheap := createReward(t, env, "tiered", voucherTerms(200, 10))
		req := &rewardsv1.RedeemRequest{IdempotencyKey: key(), MemberId: poor, RewardId: cheap.GetRewardId(),
			Channel: typev1.Channel_CHANNEL_POS}
		_, err := env.Rewards.Redeem(ctx(t), req)
		md := wantReason(t, err, codes.FailedPrecondition, typev1.ErrorReason_INSUFFICIENT_POINTS)
		if md["available"] != "100" || md["requested"] != "200" {
			t.Fatalf("insufficient points metadata %v", md)
		}
		if b := balance(t, env, poor); b.GetAvailable() != 100 || b.GetHeld() != 0 {
			t.Fatalf("refused redemption touched the balance: %v", b)
		}
		// The member earns enough: the key still replays its refusal.
		if _, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: poor,
			Basis: &ledgerv1.EarnRequest_Points{Points: 500}, Channel: typev1.Channel_CHANNEL_POS}); err != nil {
			t.Fatal(err)
		}
		_, again := env.Rewards.Redeem(ctx(t), req)
		if md := wantReason(t, again, codes.FailedPrecondition, typev1.ErrorReason_INSUFFICIENT_POINTS); md["available"] != "100" {
			t.Fatalf("replayed metadata %v", md)
		}
		if status.Convert(again).Message() != status.Convert(err).Message() {
			t.Fatalf("replayed %v, want %v", again, err)
		}

		// Out of stock, in the transaction that allocates: a replay says
		// so after a restock.
		one := createReward(t, env, "tiered", voucherTerms(10, 1))
		if _, err := redeem(t, env, rich, one.GetRewardId()); err != nil {
			t.Fatal(err)
		}
		req = &rewardsv1.RedeemRequest{IdempotencyKey: key(), MemberId: poor, RewardId: one.GetRewardId(), Channel: typev1.Channel_CHANNEL_POS}
		_, err = env.Rewards.Redeem(ctx(t), req)
		wantReason(t, err, codes.FailedPrecondition, typev1.ErrorReason_REWARD_OUT_OF_STOCK)
		restock := voucherTerms(10, 5)
		if _, err := updateReward(t, env, one.GetRewardId(), restock); err != nil {
			t.Fatal(err)
		}
		_, err = env.Rewards.Redeem(ctx(t), req)
		wantReason(t, err, codes.FailedPrecondition, typev1.ErrorReason_REWARD_OUT_OF_STOCK)

		// The member's limit.
		limited := voucherTerms(10, 10)
		limited.MemberLimit, limited.LimitPeriod = 1, rewardsv1.LimitPeriod_LIMIT_PERIOD_MONTH
		once := createReward(t, env, "tiered", limited)
		if _, err := redeem(t, env, rich, once.GetRewardId()); err != nil {
			t.Fatal(err)
		}
		_, err = redeem(t, env, rich, once.GetRewardId())
		md = wantReason(t, err, codes.FailedPrecondition, typev1.ErrorReason_REDEMPTION_LIMIT_REACHED)
		_ = md

		// Not for this member, or not now.
		goldOnly := voucherTerms(10, 10)
		goldOnly.MinTier = "gold"
		later := voucherTerms(10, 10)
		later.ValidFrom = timestamppb.New(env.Clock.Now().Add(24 * time.Hour))
		inactive := createReward(t, env, "tiered", voucherTerms(10, 10))
		if _, err := env.Rewards.DeactivateReward(ctx(t), &rewardsv1.DeactivateRewardRequest{IdempotencyKey: key(),
			RewardId: inactive.GetRewardId()}); err != nil {
			t.Fatal(err)
		}
		for name, id := range map[string]string{
			"gold only": createReward(t, env, "tiered", goldOnly).GetRewardId(),
			"not yet":   createReward(t, env, "tiered", later).GetRewardId(),
			"inactive":  inactive.GetRewardId(),
		} {
			_, err := redeem(t, env, rich, id)
			if status.Code(err) != codes.FailedPrecondition || errorInfo(t, err).GetReason() != "REWARD_NOT_REDEEMABLE" {
				t.Errorf("%s: %v, want REWARD_NOT_REDEEMABLE", name, err)
			}
		}

		// Unknown reward, member of another programme.
		_, err = redeem(t, env, rich, "0190c8a4-0000-7000-8000-000000000000")
		wantReason(t, err, codes.NotFound, typev1.ErrorReason_REWARD_NOT_FOUND)
		elsewhere := member(t, env, "test", 1000)
		_, err = redeem(t, env, elsewhere, cheap.GetRewardId())
		wantReason(t, err, codes.FailedPrecondition, typev1.ErrorReason_MEMBER_NOT_IN_PROGRAMME)
		env.Check(t)
	})
}

// A voucher that cannot be used is VOUCHER_NOT_USABLE, its problem in the
// metadata; ValidateVoucher says the same problem without an error.
func TestVoucherNotUsableReasons(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		m := member(t, env, "test", 1000)
		terms := voucherTerms(100, 5)
		terms.VoucherValidity = durationpb.New(time.Hour)
		rw := createReward(t, env, "test", terms)
		consume := func(code, store string, ch typev1.Channel) error {
			_, err := env.Rewards.ConsumeVoucher(ctx(t), &rewardsv1.ConsumeVoucherRequest{IdempotencyKey: key(), Code: code,
				StoreId: store, Channel: ch})
			return err
		}
		notUsable := func(err error, problem rewardsv1.VoucherProblem) {
			t.Helper()
			md := wantReason(t, err, codes.FailedPrecondition, typev1.ErrorReason_VOUCHER_NOT_USABLE)
			if "VOUCHER_PROBLEM_"+md["problem"] != problem.String() {
				t.Fatalf("problem %q, want %s", md["problem"], problem)
			}
		}
		validate := func(code, store string, ch typev1.Channel, problem rewardsv1.VoucherProblem) {
			t.Helper()
			r, err := env.Rewards.ValidateVoucher(ctx(t), &rewardsv1.ValidateVoucherRequest{Code: code, StoreId: store, Channel: ch})
			if err != nil || r.GetProblem() != problem || r.GetValid() != (problem == rewardsv1.VoucherProblem_VOUCHER_PROBLEM_UNSPECIFIED) {
				t.Fatalf("validate at %s on %s: %v %v, want %s", store, ch, r, err, problem)
			}
		}
		res, err := redeem(t, env, m, rw.GetRewardId())
		if err != nil {
			t.Fatal(err)
		}
		code := res.GetVoucher().GetCode()
		validate(code, "paris-01", typev1.Channel_CHANNEL_POS, rewardsv1.VoucherProblem_VOUCHER_PROBLEM_UNSPECIFIED)
		validate(code, "nice-03", typev1.Channel_CHANNEL_POS, rewardsv1.VoucherProblem_VOUCHER_PROBLEM_WRONG_STORE)
		notUsable(consume(code, "nice-03", typev1.Channel_CHANNEL_POS), rewardsv1.VoucherProblem_VOUCHER_PROBLEM_WRONG_STORE)
		notUsable(consume(code, "paris-01", typev1.Channel_CHANNEL_ECOMMERCE), rewardsv1.VoucherProblem_VOUCHER_PROBLEM_WRONG_CHANNEL)
		if err := consume(code, "paris-01", typev1.Channel_CHANNEL_POS); err != nil {
			t.Fatal(err)
		}
		validate(code, "paris-01", typev1.Channel_CHANNEL_POS, rewardsv1.VoucherProblem_VOUCHER_PROBLEM_ALREADY_USED)
		notUsable(consume(code, "paris-01", typev1.Channel_CHANNEL_POS), rewardsv1.VoucherProblem_VOUCHER_PROBLEM_ALREADY_USED)

		res, err = redeem(t, env, m, rw.GetRewardId())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Rewards.CancelRedemption(ctx(t), &rewardsv1.CancelRedemptionRequest{IdempotencyKey: key(),
			RedemptionId: res.GetVoucher().GetRedemptionId()}); err != nil {
			t.Fatal(err)
		}
		notUsable(consume(res.GetVoucher().GetCode(), "paris-01", typev1.Channel_CHANNEL_POS), rewardsv1.VoucherProblem_VOUCHER_PROBLEM_CANCELLED)
		_, err = env.Rewards.CancelRedemption(ctx(t), &rewardsv1.CancelRedemptionRequest{IdempotencyKey: key(),
			RedemptionId: "0190c8a4-0000-7000-8000-000000000000"})
		wantReason(t, err, codes.NotFound, typev1.ErrorReason_REDEMPTION_NOT_FOUND)

		res, err = redeem(t, env, m, rw.GetRewardId())
		if err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(time.Hour)
		validate(res.GetVoucher().GetCode(), "paris-01", typev1.Channel_CHANNEL_POS, rewardsv1.VoucherProblem_VOUCHER_PROBLEM_EXPIRED)
		notUsable(consume(res.GetVoucher().GetCode(), "paris-01", typev1.Channel_CHANNEL_POS), rewardsv1.VoucherProblem_VOUCHER_PROBLEM_EXPIRED)
		_, err = env.Rewards.ValidateVoucher(ctx(t), &rewardsv1.ValidateVoucherRequest{Code: "0000-0000-0000-0000-0",
			Channel: typev1.Channel_CHANNEL_POS})
		wantReason(t, err, codes.NotFound, typev1.ErrorReason_VOUCHER_NOT_FOUND)
	})
}

// ListRewards pages: every reward once, in catalogue order, whatever the
// page size; a page size over the maximum is capped; a token is bound to
// its programme and filter.
func TestListRewardsPages(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		var want []string
		for i, cost := range []int64{300, 100, 200, 100, 100, 50, 400} {
			terms := voucherTerms(cost, 5)
			terms.Name = fmt.Sprintf("Reward %d", i%3)
			want = append(want, createReward(t, env, "test", terms).GetRewardId())
		}
		gone := createReward(t, env, "test", voucherTerms(150, 5))
		if _, err := env.Rewards.DeactivateReward(ctx(t), &rewardsv1.DeactivateRewardRequest{IdempotencyKey: key(),
			RewardId: gone.GetRewardId()}); err != nil {
			t.Fatal(err)
		}
		createReward(t, env, "tiered", voucherTerms(1, 1))
		all, err := env.Rewards.ListRewards(ctx(t), &rewardsv1.ListRewardsRequest{ProgrammeId: "test", PageSize: 5000})
		if err != nil || len(all.GetRewards()) != len(want) || all.GetNextPageToken() != "" {
			t.Fatalf("one page over the maximum: %v %v", all, err)
		}
		var order []string
		for i, r := range all.GetRewards() {
			order = append(order, r.GetRewardId())
			if i > 0 {
				prev, cur := all.GetRewards()[i-1].GetTerms(), r.GetTerms()
				if prev.GetPointsCost() > cur.GetPointsCost() ||
					prev.GetPointsCost() == cur.GetPointsCost() && prev.GetName() > cur.GetName() {
					t.Fatalf("not in catalogue order: %v then %v", prev, cur)
				}
			}
		}
		for _, size := range []int32{1, 2, 3, 7} {
			var got []string
			req := &rewardsv1.ListRewardsRequest{ProgrammeId: "test", PageSize: size}
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatalf("page size %d: no end", size)
				}
				page, err := env.Rewards.ListRewards(ctx(t), req)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.GetRewards()) > int(size) {
					t.Fatalf("page size %d: %d rewards", size, len(page.GetRewards()))
				}
				for _, r := range page.GetRewards() {
					got = append(got, r.GetRewardId())
				}
				if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
					break
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(order) {
				t.Fatalf("page size %d: %v, want %v", size, got, order)
			}
		}
		first, err := env.Rewards.ListRewards(ctx(t), &rewardsv1.ListRewardsRequest{ProgrammeId: "test", PageSize: 2})
		if err != nil || first.GetNextPageToken() == "" {
			t.Fatalf("first page %v %v", first, err)
		}
		inactive, err := env.Rewards.ListRewards(ctx(t), &rewardsv1.ListRewardsRequest{ProgrammeId: "test", IncludeInactive: true,
			PageSize: 100})
		if err != nil || len(inactive.GetRewards()) != len(want)+1 {
			t.Fatalf("with the inactive ones: %v %v", inactive, err)
		}
		for name, req := range map[string]*rewardsv1.ListRewardsRequest{
			"another programme":  {ProgrammeId: "tiered", PageToken: first.GetNextPageToken()},
			"another filter":     {ProgrammeId: "test", IncludeInactive: true, PageToken: first.GetNextPageToken()},
			"not a token":        {ProgrammeId: "test", PageToken: "garbage"},
			"a token of another": {ProgrammeId: "test", PageToken: eligibleToken(t, env)},
		} {
			_, err := env.Rewards.ListRewards(ctx(t), req)
			wantReason(t, err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
			if v := badField(t, err); v != "page_token" {
				t.Errorf("%s: field %q, want page_token", name, v)
			}
		}
	})
}

// eligibleToken is a page token of ListEligibleRewards.
func eligibleToken(t testing.TB, env *rewardstest.Env) string {
	t.Helper()
	m := member(t, env, "test", 10)
	r, err := env.Rewards.ListEligibleRewards(ctx(t), &rewardsv1.ListEligibleRewardsRequest{MemberId: m, PageSize: 1})
	if err != nil || r.GetNextPageToken() == "" {
		t.Fatalf("eligible rewards %v %v", r, err)
	}
	return r.GetNextPageToken()
}

// badField is the first field of an InvalidArgument's BadRequest.
func badField(t testing.TB, err error) string {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	t.Fatalf("%v has no BadRequest", err)
	return ""
}

// ListEligibleRewards pages through the active rewards, each with whether
// the member can redeem it; its token is bound to the member.
func TestListEligibleRewardsPages(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		m := member(t, env, "test", 250)
		other := member(t, env, "test", 250)
		for _, cost := range []int64{100, 200, 300, 400, 500} {
			createReward(t, env, "test", voucherTerms(cost, 5))
		}
		var redeemable, not int
		req := &rewardsv1.ListEligibleRewardsRequest{MemberId: m, PageSize: 2}
		var first string
		for pages := 0; ; pages++ {
			page, err := env.Rewards.ListEligibleRewards(ctx(t), req)
			if err != nil || len(page.GetOptions()) > 2 || page.GetAvailablePoints() != 250 {
				t.Fatalf("page %d: %v %v", pages, page, err)
			}
			for _, o := range page.GetOptions() {
				if o.GetRedeemable() {
					redeemable++
				} else if o.GetMissing().GetPointsShort() != o.GetReward().GetTerms().GetPointsCost()-250 {
					t.Fatalf("option %v", o)
				} else {
					not++
				}
			}
			if pages == 0 {
				first = page.GetNextPageToken()
			}
			if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
				break
			}
		}
		if redeemable != 2 || not != 3 {
			t.Fatalf("%d redeemable, %d not; want 2 and 3", redeemable, not)
		}
		_, err := env.Rewards.ListEligibleRewards(ctx(t), &rewardsv1.ListEligibleRewardsRequest{MemberId: other, PageToken: first})
		wantReason(t, err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
		_, err = env.Rewards.ListEligibleRewards(ctx(t), &rewardsv1.ListEligibleRewardsRequest{MemberId: "0190c8a4-0000-7000-8000-000000000000"})
		wantReason(t, err, codes.NotFound, typev1.ErrorReason_MEMBER_NOT_FOUND)
	})
}

// UpdateReward changes only the fields its mask names, and with an etag
// only the reward as it was read: a stale etag is ABORTED.
func TestUpdateRewardMaskAndEtag(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		terms := voucherTerms(300, 5)
		terms.Description = "Ten euros off"
		rw := createReward(t, env, "test", terms)
		if rw.GetEtag() == "" || rw.GetState() != rewardsv1.RewardState_REWARD_STATE_ACTIVE {
			t.Fatalf("created %v", rw)
		}
		update := func(etag string, partial *rewardsv1.RewardTerms, paths ...string) (*rewardsv1.Reward, error) {
			t.Helper()
			req := &rewardsv1.UpdateRewardRequest{IdempotencyKey: key(), Reward: &rewardsv1.Reward{RewardId: rw.GetRewardId(),
				Etag: etag, Terms: partial}}
			if paths != nil {
				req.UpdateMask = &fieldmaskpb.FieldMask{Paths: paths}
			}
			r, err := env.Rewards.UpdateReward(ctx(t), req)
			return r.GetReward(), err
		}
		// Only the name and the cost: the rest of the partial terms
		// (empty, and so invalid on their own) is ignored.
		up, err := update(rw.GetEtag(), &rewardsv1.RewardTerms{Name: "Ten off", PointsCost: 250}, "terms.name", "terms.points_cost")
		if err != nil {
			t.Fatal(err)
		}
		want := proto.Clone(terms).(*rewardsv1.RewardTerms)
		want.Name, want.PointsCost = "Ten off", 250
		want.Benefit = amountOff("10") // as stored: a decimal
		if !proto.Equal(up.GetTerms(), want) || up.GetEtag() == rw.GetEtag() {
			t.Fatalf("masked update\n%v\nwant\n%v (etag %q, was %q)", up.GetTerms(), want, up.GetEtag(), rw.GetEtag())
		}
		// The etag read before: ABORTED, nothing written.
		_, err = update(rw.GetEtag(), &rewardsv1.RewardTerms{Name: "Lost"}, "terms.name")
		wantReason(t, err, codes.Aborted, typev1.ErrorReason_ETAG_MISMATCH)
		_, err = env.Rewards.DeactivateReward(ctx(t), &rewardsv1.DeactivateRewardRequest{IdempotencyKey: key(),
			RewardId: rw.GetRewardId(), Etag: rw.GetEtag()})
		wantReason(t, err, codes.Aborted, typev1.ErrorReason_ETAG_MISMATCH)
		got, err := env.Rewards.GetReward(ctx(t), &rewardsv1.GetRewardRequest{RewardId: rw.GetRewardId()})
		if err != nil || !proto.Equal(got.GetReward(), up) {
			t.Fatalf("after refused updates %v %v, want %v", got, err, up)
		}
		// A redemption does not change the etag.
		m := member(t, env, "test", 1000)
		if _, err := redeem(t, env, m, rw.GetRewardId()); err != nil {
			t.Fatal(err)
		}
		got, err = env.Rewards.GetReward(ctx(t), &rewardsv1.GetRewardRequest{RewardId: rw.GetRewardId()})
		if err != nil || got.GetReward().GetEtag() != up.GetEtag() || got.GetReward().GetStockAllocated() != 1 {
			t.Fatalf("after a redemption %v %v", got, err)
		}

		// The named fields follow the schema's rules; the others are not
		// read; a mask names terms' fields only.
		_, err = update(up.GetEtag(), &rewardsv1.RewardTerms{Name: ""}, "terms.name")
		wantReason(t, err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
		if f := badField(t, err); f != "reward.terms.name" {
			t.Fatalf("bad field %q", f)
		}
		_, err = update(up.GetEtag(), &rewardsv1.RewardTerms{StockTotal: 0}, "terms.stock_total")
		if f := badField(t, err); f != "reward.terms.stock_total" {
			t.Fatalf("bad field %q", f)
		}
		// Cross-field rules on the result: a limit without its period.
		_, err = update(up.GetEtag(), &rewardsv1.RewardTerms{MemberLimit: 2}, "terms.member_limit")
		if f := badField(t, err); f != "reward.terms.limit_period" {
			t.Fatalf("bad field %q", f)
		}
		for _, path := range []string{"state", "etag", "terms.nope", "terms.benefit.amount_off", "nope"} {
			_, err = update(up.GetEtag(), &rewardsv1.RewardTerms{}, path)
			if f := badField(t, err); f != "update_mask" {
				t.Fatalf("mask %q: bad field %q", path, f)
			}
		}
		// No terms without a mask: every term would be replaced.
		_, err = update(up.GetEtag(), nil)
		wantReason(t, err, codes.InvalidArgument, typev1.ErrorReason_INVALID_ARGUMENT)
		// "*" replaces every term; no etag: whatever the reward is now.
		full := voucherTerms(120, 9)
		full.Benefit = percentOff("12.5")
		up2, err := update("", full, "*")
		if err != nil || up2.GetTerms().GetBenefit().GetPercentOff() != "12.5" || up2.GetTerms().GetDescription() != "" ||
			up2.GetStockLeft() != 8 || up2.GetEtag() == up.GetEtag() {
			t.Fatalf("full update %v %v", up2, err)
		}
		// Deactivated, with its etag: the state changes, and the etag.
		d, err := env.Rewards.DeactivateReward(ctx(t), &rewardsv1.DeactivateRewardRequest{IdempotencyKey: key(),
			RewardId: rw.GetRewardId(), Etag: up2.GetEtag()})
		if err != nil || d.GetReward().GetState() != rewardsv1.RewardState_REWARD_STATE_INACTIVE || d.GetReward().GetEtag() == up2.GetEtag() {
			t.Fatalf("deactivate %v %v", d, err)
		}
	})
}

// Concurrent updates of a reward with the same etag: exactly one wins, the
// others are ABORTED, and the reward is the winner's.
func TestConcurrentUpdatesWithTheSameEtag(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		rw := createReward(t, env, "test", voucherTerms(300, 5))
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = env.Rewards.UpdateReward(ctx(t), &rewardsv1.UpdateRewardRequest{IdempotencyKey: key(),
					Reward: &rewardsv1.Reward{RewardId: rw.GetRewardId(), Etag: rw.GetEtag(),
						Terms: &rewardsv1.RewardTerms{Name: fmt.Sprintf("Writer %d", i)}},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"terms.name"}}})
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Fatalf("writers %d and %d both won", winner, i)
				}
				winner = i
				continue
			}
			wantReason(t, err, codes.Aborted, typev1.ErrorReason_ETAG_MISMATCH)
		}
		if winner < 0 {
			t.Fatal("no writer won")
		}
		got, err := env.Rewards.GetReward(ctx(t), &rewardsv1.GetRewardRequest{RewardId: rw.GetRewardId()})
		if err != nil || got.GetReward().GetTerms().GetName() != fmt.Sprintf("Writer %d", winner) {
			t.Fatalf("reward %v %v, want writer %d's", got, err, winner)
		}
	})
}
