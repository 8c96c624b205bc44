// Package grpcapi is the rewards service's gRPC edge.
package grpcapi

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// ServiceName is the rewards service's fully qualified name.
const ServiceName = "fidelis.rewards.v1.RewardsService"

// Server implements fidelis.rewards.v1.RewardsService.
type Server struct {
	rewardsv1.UnimplementedRewardsServiceServer
	app *app.Service
	now func() time.Time
}

// Register adds the rewards service to a gRPC server.
func Register(s grpc.ServiceRegistrar, a *app.Service, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	rewardsv1.RegisterRewardsServiceServer(s, &Server{app: a, now: now})
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime().UTC().Truncate(time.Microsecond)
}

var (
	rewardTypes = map[rewardsv1.RewardType]domain.RewardType{
		rewardsv1.RewardType_REWARD_TYPE_VOUCHER_AMOUNT:  domain.TypeVoucherAmount,
		rewardsv1.RewardType_REWARD_TYPE_VOUCHER_PERCENT: domain.TypeVoucherPercent,
		rewardsv1.RewardType_REWARD_TYPE_FREE_PRODUCT:    domain.TypeFreeProduct,
		rewardsv1.RewardType_REWARD_TYPE_PARTNER:         domain.TypePartner,
	}
	periods = map[rewardsv1.LimitPeriod]period.Period{
		rewardsv1.LimitPeriod_LIMIT_PERIOD_UNSPECIFIED: "",
		rewardsv1.LimitPeriod_LIMIT_PERIOD_LIFETIME:    period.Lifetime,
		rewardsv1.LimitPeriod_LIMIT_PERIOD_DAY:         period.Day,
		rewardsv1.LimitPeriod_LIMIT_PERIOD_WEEK:        period.Week,
		rewardsv1.LimitPeriod_LIMIT_PERIOD_MONTH:       period.Month,
		rewardsv1.LimitPeriod_LIMIT_PERIOD_YEAR:        period.Year,
	}
	channels = map[rewardsv1.Channel]domain.Channel{
		rewardsv1.Channel_CHANNEL_POS:       domain.ChannelPOS,
		rewardsv1.Channel_CHANNEL_ECOMMERCE: domain.ChannelEcommerce,
		rewardsv1.Channel_CHANNEL_PARTNER:   domain.ChannelPartner,
	}
)

func reverse[K, V comparable](m map[K]V, v V) K {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	var zero K
	return zero
}

func termsFromProto(t *rewardsv1.RewardTerms) (domain.Terms, error) {
	out := domain.Terms{
		Name: t.GetName(), Description: t.GetDescription(), PointsCost: t.GetPointsCost(), Type: rewardTypes[t.GetType()],
		ProductSKU: t.GetProductSku(), PartnerID: t.GetPartnerId(), PartnerRef: t.GetPartnerRef(),
		ValidFrom: fromTS(t.GetValidFrom()), ValidUntil: fromTS(t.GetValidUntil()), VoucherValidity: t.GetVoucherValidity().AsDuration(),
		StockTotal: t.GetStockTotal(), MemberLimit: int(t.GetMemberLimit()), LimitPeriod: periods[t.GetLimitPeriod()],
		MinTier: t.GetMinTier(), Segments: t.GetSegments(), StoreIDs: t.GetStoreIds(),
	}
	if m := t.GetAmount(); m != nil {
		d, err := decimal.NewFromString(m.GetAmount())
		if err != nil {
			return out, fault.Invalid("terms.amount.amount", "is not a decimal number")
		}
		out.Amount = &money.Money{Amount: d, Currency: m.GetCurrency()}
	}
	if p := t.GetPercent(); p != "" {
		d, err := decimal.NewFromString(p)
		if err != nil {
			return out, fault.Invalid("terms.percent", "is not a decimal number")
		}
		out.Percent = d
	}
	for _, c := range t.GetChannels() {
		out.Channels = append(out.Channels, channels[c])
	}
	return out, nil
}

func moneyToProto(m *money.Money) *rewardsv1.Money {
	if m == nil {
		return nil
	}
	return &rewardsv1.Money{Amount: m.Amount.String(), Currency: m.Currency}
}

func percentToProto(d decimal.Decimal) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

func channelsToProto(cs []domain.Channel) []rewardsv1.Channel {
	var out []rewardsv1.Channel
	for _, c := range cs {
		out = append(out, reverse(channels, c))
	}
	return out
}

func termsToProto(t domain.Terms) *rewardsv1.RewardTerms {
	return &rewardsv1.RewardTerms{
		Name: t.Name, Description: t.Description, PointsCost: t.PointsCost, Type: reverse(rewardTypes, t.Type),
		Amount: moneyToProto(t.Amount), Percent: percentToProto(t.Percent),
		ProductSku: t.ProductSKU, PartnerId: t.PartnerID, PartnerRef: t.PartnerRef, ValidFrom: ts(t.ValidFrom),
		ValidUntil: ts(t.ValidUntil), VoucherValidity: durationpb.New(t.VoucherValidity), StockTotal: t.StockTotal,
		MemberLimit: int32(t.MemberLimit), LimitPeriod: reverse(periods, t.LimitPeriod), MinTier: t.MinTier,
		Segments: t.Segments, StoreIds: t.StoreIDs, Channels: channelsToProto(t.Channels),
	}
}

func rewardToProto(r *domain.Reward) *rewardsv1.Reward {
	return &rewardsv1.Reward{
		RewardId: r.ID, ProgrammeId: r.ProgrammeID, Terms: termsToProto(r.Terms), Active: r.Active,
		StockAllocated: r.StockAllocated, StockLeft: r.StockLeft(), CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt),
	}
}

var voucherStatuses = map[domain.VoucherStatus]rewardsv1.VoucherStatus{
	domain.VoucherActive:    rewardsv1.VoucherStatus_VOUCHER_STATUS_ACTIVE,
	domain.VoucherConsumed:  rewardsv1.VoucherStatus_VOUCHER_STATUS_CONSUMED,
	domain.VoucherCancelled: rewardsv1.VoucherStatus_VOUCHER_STATUS_CANCELLED,
}

// voucherToProto shows a voucher with its own terms, those it was issued
// with.
func (s *Server) voucherToProto(v *domain.Voucher) *rewardsv1.Voucher {
	if v == nil {
		return nil
	}
	st := voucherStatuses[v.Status]
	if v.Expired(s.now()) {
		st = rewardsv1.VoucherStatus_VOUCHER_STATUS_EXPIRED
	}
	return &rewardsv1.Voucher{
		Code: v.Code, RewardId: v.RewardID, MemberId: v.MemberID, RedemptionId: v.RedemptionID, Status: st,
		IssuedAt: ts(v.IssuedAt), ExpiresAt: ts(v.ExpiresAt), ConsumedAt: ts(v.ConsumedAt), ConsumedStoreId: v.ConsumedStore,
		Type: reverse(rewardTypes, v.Type), Amount: moneyToProto(v.Amount), Percent: percentToProto(v.Percent),
		ProductSku: v.ProductSKU, PartnerId: v.PartnerID, PartnerRef: v.PartnerRef, StoreIds: v.StoreIDs,
		Channels: channelsToProto(v.Channels),
	}
}

func (s *Server) CreateReward(ctx context.Context, r *rewardsv1.CreateRewardRequest) (*rewardsv1.CreateRewardResponse, error) {
	t, err := termsFromProto(r.GetTerms())
	if err == nil {
		var rw *domain.Reward
		if rw, err = s.app.CreateReward(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetProgrammeId(), t); err == nil {
			return &rewardsv1.CreateRewardResponse{Reward: rewardToProto(rw)}, nil
		}
	}
	return nil, err
}

func (s *Server) UpdateReward(ctx context.Context, r *rewardsv1.UpdateRewardRequest) (*rewardsv1.UpdateRewardResponse, error) {
	t, err := termsFromProto(r.GetTerms())
	if err == nil {
		var rw *domain.Reward
		if rw, err = s.app.UpdateReward(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetRewardId(), t); err == nil {
			return &rewardsv1.UpdateRewardResponse{Reward: rewardToProto(rw)}, nil
		}
	}
	return nil, err
}

func (s *Server) DeactivateReward(ctx context.Context, r *rewardsv1.DeactivateRewardRequest) (*rewardsv1.DeactivateRewardResponse, error) {
	rw, err := s.app.DeactivateReward(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetRewardId())
	if err != nil {
		return nil, err
	}
	return &rewardsv1.DeactivateRewardResponse{Reward: rewardToProto(rw)}, nil
}

func (s *Server) GetReward(ctx context.Context, r *rewardsv1.GetRewardRequest) (*rewardsv1.GetRewardResponse, error) {
	rw, err := s.app.Reward(ctx, principal.Of(ctx), r.GetRewardId())
	if err != nil {
		return nil, err
	}
	return &rewardsv1.GetRewardResponse{Reward: rewardToProto(rw)}, nil
}

func (s *Server) ListRewards(ctx context.Context, r *rewardsv1.ListRewardsRequest) (*rewardsv1.ListRewardsResponse, error) {
	rs, err := s.app.Rewards(ctx, principal.Of(ctx), r.GetProgrammeId(), r.GetIncludeInactive())
	if err != nil {
		return nil, err
	}
	resp := &rewardsv1.ListRewardsResponse{}
	for _, rw := range rs {
		resp.Rewards = append(resp.Rewards, rewardToProto(rw))
	}
	return resp, nil
}

func (s *Server) ListEligibleRewards(ctx context.Context, r *rewardsv1.ListEligibleRewardsRequest) (*rewardsv1.ListEligibleRewardsResponse, error) {
	e, err := s.app.EligibleRewards(ctx, principal.Of(ctx), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	resp := &rewardsv1.ListEligibleRewardsResponse{AvailablePoints: e.Member.Available, Tier: e.Member.Tier, Segment: e.Member.Segment}
	for _, rw := range e.Eligible {
		resp.Eligible = append(resp.Eligible, rewardToProto(rw))
	}
	for _, o := range e.Unavailable {
		m := o.Missing
		resp.Unavailable = append(resp.Unavailable, &rewardsv1.RewardOption{Reward: rewardToProto(o.Reward), Missing: &rewardsv1.Missing{
			PointsShort: m.PointsShort, TierNeeded: m.TierNeeded, SegmentNotEligible: m.SegmentNotEligible,
			OutOfStock: m.OutOfStock, MemberLimitReached: m.MemberLimitReached, OutsideValidity: m.OutsideValidity || m.Inactive,
		}})
	}
	return resp, nil
}

func (s *Server) Redeem(ctx context.Context, r *rewardsv1.RedeemRequest) (*rewardsv1.RedeemResponse, error) {
	res, err := s.app.Redeem(ctx, principal.Of(ctx), r.GetIdempotencyKey(), app.RedeemRequest{
		MemberID: r.GetMemberId(), RewardID: r.GetRewardId(), Channel: channels[r.GetChannel()], StoreID: r.GetStoreId(),
	})
	if err != nil {
		return nil, err
	}
	return &rewardsv1.RedeemResponse{
		Voucher: s.voucherToProto(res.Voucher), EntryId: res.Redemption.CaptureEntryID, Points: res.Redemption.Points,
	}, nil
}

func (s *Server) CancelRedemption(ctx context.Context, r *rewardsv1.CancelRedemptionRequest) (*rewardsv1.CancelRedemptionResponse, error) {
	res, err := s.app.CancelRedemption(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetRedemptionId(), r.GetReason())
	if err != nil {
		return nil, err
	}
	return &rewardsv1.CancelRedemptionResponse{
		Voucher: s.voucherToProto(res.Voucher), RefundEntryId: res.Redemption.RefundEntryID,
	}, nil
}

func (s *Server) ValidateVoucher(ctx context.Context, r *rewardsv1.ValidateVoucherRequest) (*rewardsv1.ValidateVoucherResponse, error) {
	c, err := s.app.ValidateVoucher(ctx, principal.Of(ctx), r.GetCode(), r.GetStoreId(), channels[r.GetChannel()])
	if err != nil {
		return nil, err
	}
	return &rewardsv1.ValidateVoucherResponse{Valid: c.Valid, Reason: c.Reason, Voucher: s.voucherToProto(c.Voucher)}, nil
}

func (s *Server) ConsumeVoucher(ctx context.Context, r *rewardsv1.ConsumeVoucherRequest) (*rewardsv1.ConsumeVoucherResponse, error) {
	c, err := s.app.ConsumeVoucher(ctx, principal.Of(ctx), r.GetIdempotencyKey(), app.Consumption{
		Code: r.GetCode(), StoreID: r.GetStoreId(), Channel: channels[r.GetChannel()], OrderRef: r.GetOrderRef(),
	})
	if err != nil {
		return nil, err
	}
	return &rewardsv1.ConsumeVoucherResponse{Voucher: s.voucherToProto(c.Voucher)}, nil
}
