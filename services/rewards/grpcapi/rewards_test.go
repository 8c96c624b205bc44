package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
	"github.com/fidelis-loyalty/fidelis/services/rewards/rewardstest"
)

var keys atomic.Int64

func key() string { return fmt.Sprintf("rk-%d", keys.Add(1)) }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func wantCode(t testing.TB, err error, c codes.Code) {
	t.Helper()
	if got := status.Code(err); got != c {
		t.Fatalf("error %v, want %s", err, c)
	}
}

func member(t testing.TB, env *rewardstest.Env, programme string, points int64) string {
	t.Helper()
	r, err := env.Client.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: programme, ExternalRef: key()})
	if err != nil {
		t.Fatal(err)
	}
	m := r.GetMember().GetMemberId()
	if points > 0 {
		if _, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m,
			Basis: &ledgerv1.EarnRequest_Points{Points: points}, Channel: typev1.Channel_CHANNEL_POS}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func balance(t testing.TB, env *rewardstest.Env, m string) *ledgerv1.Balance {
	t.Helper()
	r, err := env.Client.GetBalance(ctx(t), &ledgerv1.GetBalanceRequest{MemberId: m})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetBalance()
}

func voucherTerms(cost, stock int64) *rewardsv1.RewardTerms {
	return &rewardsv1.RewardTerms{
		Name: "10 EUR off", PointsCost: cost, Benefit: amountOff("10.00"), VoucherValidity: durationpb.New(30 * 24 * time.Hour),
		StockTotal: stock, StoreIds: []string{"paris-01", "lyon-02"},
		Channels: []typev1.Channel{typev1.Channel_CHANNEL_POS},
	}
}

func amountOff(amount string) *rewardsv1.Benefit {
	return &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_AmountOff{AmountOff: &typev1.Money{Amount: amount, CurrencyCode: "EUR"}}}
}

func percentOff(p string) *rewardsv1.Benefit {
	return &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_PercentOff{PercentOff: p}}
}

func createReward(t testing.TB, env *rewardstest.Env, programme string, terms *rewardsv1.RewardTerms) *rewardsv1.Reward {
	t.Helper()
	r, err := env.Rewards.CreateReward(ctx(t), &rewardsv1.CreateRewardRequest{IdempotencyKey: key(), ProgrammeId: programme, Terms: terms})
	if err != nil {
		t.Fatalf("create reward: %v", err)
	}
	return r.GetReward()
}

// updateReward replaces every term of a reward (no mask, no etag).
func updateReward(t testing.TB, env *rewardstest.Env, id string, terms *rewardsv1.RewardTerms) (*rewardsv1.UpdateRewardResponse, error) {
	t.Helper()
	return env.Rewards.UpdateReward(ctx(t), &rewardsv1.UpdateRewardRequest{IdempotencyKey: key(),
		Reward: &rewardsv1.Reward{RewardId: id, Terms: terms}})
}

func redeem(t testing.TB, env *rewardstest.Env, m, reward string) (*rewardsv1.RedeemResponse, error) {
	t.Helper()
	return env.Rewards.Redeem(ctx(t), &rewardsv1.RedeemRequest{IdempotencyKey: key(), MemberId: m, RewardId: reward,
		Channel: typev1.Channel_CHANNEL_ECOMMERCE})
}

// A redemption burns the points and returns a voucher usable at once; a
// retry replays it; the voucher is valid where the reward allows, and used
// once.
func TestRedeemAndUseAVoucher(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		m := member(t, env, "test", 1000)
		rw := createReward(t, env, "test", voucherTerms(300, 5))
		req := &rewardsv1.RedeemRequest{IdempotencyKey: "checkout-77", MemberId: m, RewardId: rw.GetRewardId(),
			Channel: typev1.Channel_CHANNEL_ECOMMERCE}
		res, err := env.Rewards.Redeem(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		v := res.GetVoucher()
		if v.GetStatus() != rewardsv1.VoucherStatus_VOUCHER_STATUS_ACTIVE || v.GetBenefit().GetAmountOff().GetAmount() != "10" || res.GetPoints() != 300 {
			t.Fatalf("redeem reply %v", res)
		}
		if _, err := domain.NormalizeVoucherCode(v.GetCode()); err != nil {
			t.Fatalf("voucher code %q: %v", v.GetCode(), err)
		}
		if b := balance(t, env, m); b.GetAvailable() != 700 || b.GetHeld() != 0 {
			t.Fatalf("balance after redeeming %v", b)
		}
		again, err := env.Rewards.Redeem(ctx(t), req)
		if err != nil || !proto.Equal(again, res) {
			t.Fatalf("retry %v %v, want the same reply", again, err)
		}
		if b := balance(t, env, m); b.GetAvailable() != 700 {
			t.Fatalf("retry burned again: %v", b)
		}
		got, err := env.Rewards.GetReward(ctx(t), &rewardsv1.GetRewardRequest{RewardId: rw.GetRewardId()})
		if err != nil || got.GetReward().GetStockLeft() != 4 {
			t.Fatalf("stock %v %v", got, err)
		}

		validate := func(code, store string, ch typev1.Channel) *rewardsv1.ValidateVoucherResponse {
			t.Helper()
			r, err := env.Rewards.ValidateVoucher(ctx(t), &rewardsv1.ValidateVoucherRequest{Code: code, StoreId: store, Channel: ch})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := validate(v.GetCode(), "paris-01", typev1.Channel_CHANNEL_POS); !r.GetValid() {
			t.Fatalf("validate at paris-01: %v", r)
		}
		if r := validate(v.GetCode(), "nice-03", typev1.Channel_CHANNEL_POS); r.GetValid() || r.GetProblem() != rewardsv1.VoucherProblem_VOUCHER_PROBLEM_WRONG_STORE {
			t.Fatalf("validate at another store: %v", r)
		}
		if r := validate(v.GetCode(), "paris-01", typev1.Channel_CHANNEL_ECOMMERCE); r.GetValid() {
			t.Fatalf("validate online: %v", r)
		}
		// Typed by hand: lower case, no dashes, O for zero.
		if r := validate(lowerNoDashes(v.GetCode()), "lyon-02", typev1.Channel_CHANNEL_POS); !r.GetValid() {
			t.Fatalf("validate as typed: %v", r)
		}
		_, err = env.Rewards.ValidateVoucher(ctx(t), &rewardsv1.ValidateVoucherRequest{Code: mistype(v.GetCode()), Channel: typev1.Channel_CHANNEL_POS})
		wantCode(t, err, codes.InvalidArgument)

		consume := &rewardsv1.ConsumeVoucherRequest{IdempotencyKey: "till-3-sale-9", Code: v.GetCode(), StoreId: "paris-01",
			Channel: typev1.Channel_CHANNEL_POS, OrderRef: "R-5501"}
		used, err := env.Rewards.ConsumeVoucher(ctx(t), consume)
		if err != nil || used.GetVoucher().GetStatus() != rewardsv1.VoucherStatus_VOUCHER_STATUS_CONSUMED {
			t.Fatalf("consume %v %v", used, err)
		}
		if again, err := env.Rewards.ConsumeVoucher(ctx(t), consume); err != nil || !proto.Equal(again, used) {
			t.Fatalf("consume retry %v %v", again, err)
		}
		consume.IdempotencyKey = "till-4-sale-1"
		_, err = env.Rewards.ConsumeVoucher(ctx(t), consume)
		wantCode(t, err, codes.FailedPrecondition)
		if r := validate(v.GetCode(), "paris-01", typev1.Channel_CHANNEL_POS); r.GetValid() {
			t.Fatalf("a used voucher validates: %v", r)
		}
		// A used voucher cannot be cancelled.
		_, err = env.Rewards.CancelRedemption(ctx(t), &rewardsv1.CancelRedemptionRequest{IdempotencyKey: key(),
			RedemptionId: v.GetRedemptionId()})
		wantCode(t, err, codes.FailedPrecondition)
		env.Check(t)
	})
}

func lowerNoDashes(code string) string {
	out := []byte{}
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == '-':
			continue
		case c == '0':
			c = 'O'
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

func mistype(code string) string {
	b := []byte(code)
	if b[0] == '7' {
		b[0] = '8'
	} else {
		b[0] = '7'
	}
	return string(b)
}

// 100 concurrent redemptions of a reward with stock 10: exactly 10 succeed;
// every refused one has its hold released, so no points stay held and only
// the successful ones are burned.
func TestConcurrentRedemptionsNeverOversell(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		const n, stock, cost = 100, 10, 50
		members := make([]string, n)
		for i := range members {
			members[i] = member(t, env, "test", 200)
		}
		rw := createReward(t, env, "test", voucherTerms(cost, stock))
		var wg sync.WaitGroup
		reqs := make([]*rewardsv1.RedeemRequest, n)
		errs := make([]error, n)
		for i := range n {
			reqs[i] = &rewardsv1.RedeemRequest{IdempotencyKey: key(), MemberId: members[i], RewardId: rw.GetRewardId(),
				Channel: typev1.Channel_CHANNEL_ECOMMERCE}
			wg.Go(func() { _, errs[i] = env.Rewards.Redeem(ctx(t), reqs[i]) })
		}
		wg.Wait()
		ok, refused := 0, -1
		for i, err := range errs {
			switch status.Code(err) {
			case codes.OK:
				ok++
			case codes.FailedPrecondition:
				// Seen out of stock before the hold, or when allocating.
				wantReason(t, err, codes.FailedPrecondition, typev1.ErrorReason_REWARD_OUT_OF_STOCK)
				refused = i
			default:
				t.Fatalf("redemption %d: %v", i, err)
			}
		}
		// A refused redemption's key replays its reason.
		_, err := env.Rewards.Redeem(ctx(t), reqs[refused])
		wantReason(t, err, codes.FailedPrecondition, typev1.ErrorReason_REWARD_OUT_OF_STOCK)
		if ok != stock {
			t.Fatalf("%d redemptions succeeded, want %d", ok, stock)
		}
		got, err := env.Rewards.GetReward(ctx(t), &rewardsv1.GetRewardRequest{RewardId: rw.GetRewardId()})
		if err != nil || got.GetReward().GetStockAllocated() != stock || got.GetReward().GetStockLeft() != 0 {
			t.Fatalf("stock %v %v", got, err)
		}
		var burned int64
		for _, m := range members {
			b := balance(t, env, m)
			if b.GetHeld() != 0 {
				t.Fatalf("member %s still has %d points held", m, b.GetHeld())
			}
			burned += 200 - b.GetAvailable()
		}
		if burned != stock*cost {
			t.Fatalf("%d points burned, want %d", burned, stock*cost)
		}
		env.Check(t)
	})
}

// Redemptions the member may not make are refused with the reason, and
// write nothing: no points held or burned, no stock taken.
func TestRedemptionRefusals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		poor := member(t, env, "tiered", 100)
		rich := member(t, env, "tiered", 5000)
		cheap := createReward(t, env, "tiered", voucherTerms(200, 10))
		limited := voucherTerms(10, 10)
		limited.MemberLimit, limited.LimitPeriod = 1, rewardsv1.LimitPeriod_LIMIT_PERIOD_MONTH
		once := createReward(t, env, "tiered", limited)
		goldOnly := voucherTerms(10, 10)
		goldOnly.MinTier = "gold"
		gold := createReward(t, env, "tiered", goldOnly)
		champs := voucherTerms(10, 10)
		champs.Segments = []string{"champions"}
		champions := createReward(t, env, "tiered", champs)
		later := voucherTerms(10, 10)
		later.ValidFrom = timestamppb.New(env.Clock.Now().Add(24 * time.Hour))
		future := createReward(t, env, "tiered", later)

		_, err := redeem(t, env, poor, cheap.GetRewardId())
		wantCode(t, err, codes.FailedPrecondition)
		if b := balance(t, env, poor); b.GetAvailable() != 100 || b.GetHeld() != 0 {
			t.Fatalf("refused redemption touched the balance: %v", b)
		}
		if _, err := redeem(t, env, rich, once.GetRewardId()); err != nil {
			t.Fatal(err)
		}
		_, err = redeem(t, env, rich, once.GetRewardId())
		wantCode(t, err, codes.FailedPrecondition)
		for name, rw := range map[string]*rewardsv1.Reward{"gold only": gold, "champions only": champions, "not yet": future} {
			if _, err := redeem(t, env, rich, rw.GetRewardId()); status.Code(err) != codes.FailedPrecondition {
				t.Errorf("%s: %v, want FailedPrecondition", name, err)
			}
		}
		if _, err := env.Rewards.DeactivateReward(ctx(t), &rewardsv1.DeactivateRewardRequest{IdempotencyKey: key(),
			RewardId: cheap.GetRewardId()}); err != nil {
			t.Fatal(err)
		}
		_, err = redeem(t, env, rich, cheap.GetRewardId())
		wantCode(t, err, codes.FailedPrecondition)
		_, err = redeem(t, env, rich, "0190c8a4-0000-7000-8000-000000000000")
		wantCode(t, err, codes.NotFound)
		if b := balance(t, env, rich); b.GetAvailable() != 4990 || b.GetHeld() != 0 {
			t.Fatalf("balance %v, want only the one redemption burned", b)
		}

		// What the member can redeem, and what is missing for the rest.
		el, err := env.Rewards.ListEligibleRewards(ctx(t), &rewardsv1.ListEligibleRewardsRequest{MemberId: poor})
		if err != nil {
			t.Fatal(err)
		}
		missing := map[string]*rewardsv1.Missing{}
		var eligible []string
		for _, o := range el.GetOptions() {
			if o.GetRedeemable() != (o.GetMissing() == nil) {
				t.Fatalf("option %v: redeemable and missing disagree", o)
			}
			if o.GetRedeemable() {
				eligible = append(eligible, o.GetReward().GetRewardId())
			}
			missing[o.GetReward().GetRewardId()] = o.GetMissing()
		}
		if el.GetAvailablePoints() != 100 || len(eligible) != 1 || eligible[0] != once.GetRewardId() {
			t.Fatalf("eligible %v", el)
		}
		if m := missing[gold.GetRewardId()]; m.GetTierNeeded() != "gold" {
			t.Fatalf("gold reward missing %v", m)
		}
		if m := missing[champions.GetRewardId()]; !m.GetSegmentNotEligible() {
			t.Fatalf("champions reward missing %v", m)
		}
		if m := missing[future.GetRewardId()]; !m.GetOutsideValidity() {
			t.Fatalf("future reward missing %v", m)
		}
		el, err = env.Rewards.ListEligibleRewards(ctx(t), &rewardsv1.ListEligibleRewardsRequest{MemberId: rich})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range el.GetOptions() {
			if o.GetReward().GetRewardId() == once.GetRewardId() && !o.GetMissing().GetMemberLimitReached() {
				t.Fatalf("limited reward %v", o)
			}
		}
		env.Check(t)
	})
}

// Cancelling a redemption refunds the points to their original lots, with
// their expiry, and returns the stock; the voucher can no longer be used.
func TestCancelRedemptionRestoresPointsAndStock(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		m := member(t, env, "test", 400)
		env.Clock.Advance(90 * 24 * time.Hour)
		if _, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m,
			Basis: &ledgerv1.EarnRequest_Points{Points: 100}, Channel: typev1.Channel_CHANNEL_POS}); err != nil {
			t.Fatal(err)
		}
		before := balance(t, env, m)
		rw := createReward(t, env, "test", voucherTerms(450, 1))
		res, err := redeem(t, env, m, rw.GetRewardId())
		if err != nil {
			t.Fatal(err)
		}
		cancel := &rewardsv1.CancelRedemptionRequest{IdempotencyKey: key(), RedemptionId: res.GetVoucher().GetRedemptionId(),
			Reason: "changed mind"}
		c, err := env.Rewards.CancelRedemption(ctx(t), cancel)
		if err != nil {
			t.Fatal(err)
		}
		if c.GetVoucher().GetStatus() != rewardsv1.VoucherStatus_VOUCHER_STATUS_CANCELLED || c.GetRefundEntryId() == "" {
			t.Fatalf("cancel %v", c)
		}
		if again, err := env.Rewards.CancelRedemption(ctx(t), cancel); err != nil || !proto.Equal(again, c) {
			t.Fatalf("cancel retry %v %v", again, err)
		}
		after := balance(t, env, m)
		after.AsOf, before.AsOf = nil, nil
		after.LifetimeBurned, before.LifetimeBurned = 0, 0
		if !proto.Equal(after, before) {
			t.Fatalf("balance after cancelling\n%v\nwant\n%v", after, before)
		}
		got, _ := env.Rewards.GetReward(ctx(t), &rewardsv1.GetRewardRequest{RewardId: rw.GetRewardId()})
		if got.GetReward().GetStockLeft() != 1 {
			t.Fatalf("stock not returned: %v", got)
		}
		_, err = env.Rewards.ConsumeVoucher(ctx(t), &rewardsv1.ConsumeVoucherRequest{IdempotencyKey: key(), Code: res.GetVoucher().GetCode(),
			StoreId: "paris-01", Channel: typev1.Channel_CHANNEL_POS})
		wantCode(t, err, codes.FailedPrecondition)
		env.Check(t)
	})
}

// Catalogue administration: terms are checked, stock never drops below
// what was issued, bad input writes nothing.
func TestCatalogueAdministration(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		bad := map[string]func(*rewardsv1.RewardTerms){
			"no benefit":                    func(t *rewardsv1.RewardTerms) { t.Benefit = nil },
			"amount voucher without amount": func(t *rewardsv1.RewardTerms) { t.Benefit = amountOff("0.00") },
			"negative amount":               func(t *rewardsv1.RewardTerms) { t.Benefit = amountOff("-5") },
			"percent over 100":              func(t *rewardsv1.RewardTerms) { t.Benefit = percentOff("150") },
			"percent zero":                  func(t *rewardsv1.RewardTerms) { t.Benefit = percentOff("0") },
			"percent not a number":          func(t *rewardsv1.RewardTerms) { t.Benefit = percentOff("1e2") },
			"partner not a uuid": func(t *rewardsv1.RewardTerms) {
				t.Benefit = &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_Partner{Partner: &rewardsv1.PartnerBenefit{PartnerId: "acme"}}}
			},
			"no voucher validity": func(t *rewardsv1.RewardTerms) { t.VoucherValidity = nil },
			"unknown tier":        func(t *rewardsv1.RewardTerms) { t.MinTier = "platinum" },
			"zero cost":           func(t *rewardsv1.RewardTerms) { t.PointsCost = 0 },
			"window ends before it starts": func(t *rewardsv1.RewardTerms) {
				t.ValidFrom, t.ValidUntil = timestamppb.New(time.Unix(2000, 0)), timestamppb.New(time.Unix(1000, 0))
			},
			"limit without period": func(t *rewardsv1.RewardTerms) { t.MemberLimit = 2 },
			"store id too long":    func(t *rewardsv1.RewardTerms) { t.StoreIds = []string{strings.Repeat("s", 65)} },
			"store id twice":       func(t *rewardsv1.RewardTerms) { t.StoreIds = []string{"a", "a"} },
		}
		for name, mutate := range bad {
			terms := voucherTerms(100, 3)
			mutate(terms)
			_, err := env.Rewards.CreateReward(ctx(t), &rewardsv1.CreateRewardRequest{IdempotencyKey: key(), ProgrammeId: "tiered", Terms: terms})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s: %v, want InvalidArgument", name, err)
				continue
			}
			badField(t, err) // every refusal names its field
		}
		_, err := env.Rewards.CreateReward(ctx(t), &rewardsv1.CreateRewardRequest{IdempotencyKey: key(), ProgrammeId: "nope", Terms: voucherTerms(1, 1)})
		wantCode(t, err, codes.NotFound)
		list, err := env.Rewards.ListRewards(ctx(t), &rewardsv1.ListRewardsRequest{ProgrammeId: "tiered", IncludeInactive: true})
		if err != nil || len(list.GetRewards()) != 0 {
			t.Fatalf("refused rewards were written: %v %v", list, err)
		}

		percent := &rewardsv1.RewardTerms{Name: "15% off", PointsCost: 500, Benefit: percentOff("15"),
			VoucherValidity: durationpb.New(time.Hour), StockTotal: 2, MinTier: "silver"}
		rw := createReward(t, env, "tiered", percent)
		m := member(t, env, "tiered", 100)
		_ = m
		rich := member(t, env, "tiered", 2000)
		if _, err := env.Admin.SetTierFloor(ctx(t), &ledgerv1.SetTierFloorRequest{IdempotencyKey: key(), MemberId: rich, Tier: "silver",
			Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := redeem(t, env, rich, rw.GetRewardId()); err != nil {
			t.Fatal(err)
		}
		percent.StockTotal = 0
		_, err = updateReward(t, env, rw.GetRewardId(), percent)
		wantCode(t, err, codes.InvalidArgument)
		percent.StockTotal = 1
		up, err := updateReward(t, env, rw.GetRewardId(), percent)
		if err != nil || up.GetReward().GetStockLeft() != 0 {
			t.Fatalf("update %v %v", up, err)
		}
		percent.Name = "20% off"
		percent.Benefit = percentOff("20")
		percent.StockTotal = 5
		up, err = updateReward(t, env, rw.GetRewardId(), percent)
		if err != nil || up.GetReward().GetTerms().GetBenefit().GetPercentOff() != "20" || up.GetReward().GetStockLeft() != 4 {
			t.Fatalf("update %v %v", up, err)
		}
	})
}

// The ledger unavailable during a redemption is not a refusal: Redeem
// says Unavailable and records nothing final, so a retry with the same
// key carries on and issues one voucher.
func TestRedeemRetriesAnUnavailableLedger(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		var failed atomic.Bool
		env := rewardstest.StartWith(t, db, rewardstest.Options{LedgerInterceptor: func(ctx context.Context, method string,
			req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if method == ledgerv1.LedgerService_GetMember_FullMethodName && failed.CompareAndSwap(false, true) {
				return status.Error(codes.Unavailable, "ledger restarting")
			}
			return invoke(ctx, method, req, reply, cc, opts...)
		}})
		m := member(t, env, "test", 1000)
		rw := createReward(t, env, "test", voucherTerms(300, 5))
		req := &rewardsv1.RedeemRequest{IdempotencyKey: "checkout-1", MemberId: m, RewardId: rw.GetRewardId(),
			Channel: typev1.Channel_CHANNEL_ECOMMERCE}
		_, err := env.Rewards.Redeem(ctx(t), req)
		wantCode(t, err, codes.Unavailable)
		res, err := env.Rewards.Redeem(ctx(t), req)
		if err != nil || res.GetVoucher().GetStatus() != rewardsv1.VoucherStatus_VOUCHER_STATUS_ACTIVE {
			t.Fatalf("retry %v %v", res, err)
		}
		if b := balance(t, env, m); b.GetAvailable() != 700 || b.GetHeld() != 0 {
			t.Fatalf("balance %v, want one redemption burned", b)
		}
		var vouchers int
		if err := env.DB.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM rewards_vouchers`).Scan(&vouchers); err != nil || vouchers != 1 {
			t.Fatalf("%d vouchers (%v), want 1", vouchers, err)
		}
		got, err := env.Rewards.GetReward(ctx(t), &rewardsv1.GetRewardRequest{RewardId: rw.GetRewardId()})
		if err != nil || got.GetReward().GetStockAllocated() != 1 {
			t.Fatalf("stock %v %v", got, err)
		}
		env.Check(t)
	})
}

// A voucher keeps the terms it was issued with: changing the reward
// changes what later redemptions get, not the vouchers already issued.
func TestVoucherKeepsItsTerms(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		m := member(t, env, "test", 1000)
		terms := voucherTerms(300, 5)
		rw := createReward(t, env, "test", terms)
		old, err := redeem(t, env, m, rw.GetRewardId())
		if err != nil {
			t.Fatal(err)
		}
		terms.Benefit = amountOff("15.00")
		terms.StoreIds = []string{"nice-03"}
		terms.Channels = []typev1.Channel{typev1.Channel_CHANNEL_POS, typev1.Channel_CHANNEL_ECOMMERCE}
		if _, err := updateReward(t, env, rw.GetRewardId(), terms); err != nil {
			t.Fatal(err)
		}
		validate := func(code, store string, ch typev1.Channel) *rewardsv1.ValidateVoucherResponse {
			t.Helper()
			r, err := env.Rewards.ValidateVoucher(ctx(t), &rewardsv1.ValidateVoucherRequest{Code: code, StoreId: store, Channel: ch})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		wantTerms := func(v *rewardsv1.Voucher, amount string, stores ...string) {
			t.Helper()
			if v.GetBenefit().GetAmountOff().GetAmount() != amount || fmt.Sprint(v.GetStoreIds()) != fmt.Sprint(stores) {
				t.Fatalf("voucher %v, want %s EUR at %v", v, amount, stores)
			}
		}
		code := old.GetVoucher().GetCode()
		r := validate(code, "paris-01", typev1.Channel_CHANNEL_POS)
		if !r.GetValid() {
			t.Fatalf("the old voucher at paris-01: %v", r)
		}
		wantTerms(r.GetVoucher(), "10", "paris-01", "lyon-02")
		if r := validate(code, "nice-03", typev1.Channel_CHANNEL_POS); r.GetValid() {
			t.Fatalf("the old voucher at a store only the new terms allow: %v", r)
		}
		if r := validate(code, "paris-01", typev1.Channel_CHANNEL_ECOMMERCE); r.GetValid() {
			t.Fatalf("the old voucher on a channel only the new terms allow: %v", r)
		}
		_, err = env.Rewards.ConsumeVoucher(ctx(t), &rewardsv1.ConsumeVoucherRequest{IdempotencyKey: key(), Code: code,
			StoreId: "nice-03", Channel: typev1.Channel_CHANNEL_POS})
		wantCode(t, err, codes.FailedPrecondition)
		used, err := env.Rewards.ConsumeVoucher(ctx(t), &rewardsv1.ConsumeVoucherRequest{IdempotencyKey: key(), Code: code,
			StoreId: "lyon-02", Channel: typev1.Channel_CHANNEL_POS})
		if err != nil {
			t.Fatal(err)
		}
		wantTerms(used.GetVoucher(), "10", "paris-01", "lyon-02")

		fresh, err := redeem(t, env, m, rw.GetRewardId())
		if err != nil {
			t.Fatal(err)
		}
		wantTerms(fresh.GetVoucher(), "15", "nice-03")
		if r := validate(fresh.GetVoucher().GetCode(), "nice-03", typev1.Channel_CHANNEL_ECOMMERCE); !r.GetValid() {
			t.Fatalf("the new voucher at nice-03 online: %v", r)
		}
		if r := validate(fresh.GetVoucher().GetCode(), "paris-01", typev1.Channel_CHANNEL_POS); r.GetValid() {
			t.Fatalf("the new voucher at paris-01: %v", r)
		}
	})
}

// A voucher past its expiry validates as expired and cannot be used; just
// before, it can.
func TestExpiredVoucher(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		m := member(t, env, "test", 1000)
		terms := voucherTerms(300, 5)
		terms.VoucherValidity = durationpb.New(24 * time.Hour)
		res, err := redeem(t, env, m, createReward(t, env, "test", terms).GetRewardId())
		if err != nil {
			t.Fatal(err)
		}
		v := res.GetVoucher()
		if !v.GetExpiresAt().AsTime().Equal(env.Clock.Now().Add(24 * time.Hour)) {
			t.Fatalf("voucher expires at %v, want a day after %v", v.GetExpiresAt().AsTime(), env.Clock.Now())
		}
		validate := &rewardsv1.ValidateVoucherRequest{Code: v.GetCode(), StoreId: "paris-01", Channel: typev1.Channel_CHANNEL_POS}
		env.Clock.Advance(24*time.Hour - time.Second)
		if r, err := env.Rewards.ValidateVoucher(ctx(t), validate); err != nil || !r.GetValid() {
			t.Fatalf("validate a second before expiry: %v %v", r, err)
		}
		env.Clock.Advance(time.Second)
		r, err := env.Rewards.ValidateVoucher(ctx(t), validate)
		if err != nil || r.GetValid() || r.GetProblem() != rewardsv1.VoucherProblem_VOUCHER_PROBLEM_EXPIRED ||
			r.GetVoucher().GetStatus() != rewardsv1.VoucherStatus_VOUCHER_STATUS_EXPIRED {
			t.Fatalf("validate at expiry: %v %v", r, err)
		}
		_, err = env.Rewards.ConsumeVoucher(ctx(t), &rewardsv1.ConsumeVoucherRequest{IdempotencyKey: key(), Code: v.GetCode(),
			StoreId: "paris-01", Channel: typev1.Channel_CHANNEL_POS, OrderRef: "R-9"})
		wantCode(t, err, codes.FailedPrecondition)
		if r, err := env.Rewards.ValidateVoucher(ctx(t), validate); err != nil || r.GetVoucher().GetStatus() != rewardsv1.VoucherStatus_VOUCHER_STATUS_EXPIRED {
			t.Fatalf("the refused use changed the voucher: %v %v", r, err)
		}
	})
}
