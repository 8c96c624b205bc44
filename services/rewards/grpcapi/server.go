// Package grpcapi is the rewards service's gRPC edge.
package grpcapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
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
	periods = map[rewardsv1.LimitPeriod]period.Period{
		rewardsv1.LimitPeriod_LIMIT_PERIOD_UNSPECIFIED: "",
		rewardsv1.LimitPeriod_LIMIT_PERIOD_LIFETIME:    period.Lifetime,
		rewardsv1.LimitPeriod_LIMIT_PERIOD_DAY:         period.Day,
		rewardsv1.LimitPeriod_LIMIT_PERIOD_WEEK:        period.Week,
		rewardsv1.LimitPeriod_LIMIT_PERIOD_MONTH:       period.Month,
		rewardsv1.LimitPeriod_LIMIT_PERIOD_YEAR:        period.Year,
	}
	channels = map[typev1.Channel]domain.Channel{
		typev1.Channel_CHANNEL_POS:       domain.ChannelPOS,
		typev1.Channel_CHANNEL_ECOMMERCE: domain.ChannelEcommerce,
		typev1.Channel_CHANNEL_PARTNER:   domain.ChannelPartner,
		typev1.Channel_CHANNEL_OPERATOR:  domain.ChannelOperator,
	}
	states = map[domain.RewardState]rewardsv1.RewardState{
		domain.StateActive:   rewardsv1.RewardState_REWARD_STATE_ACTIVE,
		domain.StateInactive: rewardsv1.RewardState_REWARD_STATE_INACTIVE,
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

// benefitFromProto sets the type and value of t from a Benefit (none: no
// type, which the terms' check refuses).
func benefitFromProto(b *rewardsv1.Benefit, t *domain.Terms) error {
	switch k := b.GetKind().(type) {
	case *rewardsv1.Benefit_AmountOff:
		d, err := decimal.NewFromString(k.AmountOff.GetAmount())
		if err != nil {
			return fault.Invalid("terms.benefit.amount_off.amount", "is not a decimal number")
		}
		t.Type, t.Amount = domain.TypeVoucherAmount, &money.Money{Amount: d, Currency: k.AmountOff.GetCurrencyCode()}
	case *rewardsv1.Benefit_PercentOff:
		d, err := decimal.NewFromString(k.PercentOff)
		if err != nil {
			return fault.Invalid("terms.benefit.percent_off", "is not a decimal number")
		}
		t.Type, t.Percent = domain.TypeVoucherPercent, d
	case *rewardsv1.Benefit_FreeProductSku:
		t.Type, t.ProductSKU = domain.TypeFreeProduct, k.FreeProductSku
	case *rewardsv1.Benefit_Partner:
		t.Type, t.PartnerID, t.PartnerRef = domain.TypePartner, k.Partner.GetPartnerId(), k.Partner.GetPartnerRef()
	}
	return nil
}

func termsFromProto(t *rewardsv1.RewardTerms) (domain.Terms, error) {
	out := domain.Terms{
		Name: t.GetName(), Description: t.GetDescription(), PointsCost: t.GetPointsCost(),
		ValidFrom: fromTS(t.GetValidFrom()), ValidUntil: fromTS(t.GetValidUntil()), VoucherValidity: t.GetVoucherValidity().AsDuration(),
		StockTotal: t.GetStockTotal(), MemberLimit: int(t.GetMemberLimit()), LimitPeriod: periods[t.GetLimitPeriod()],
		MinTier: t.GetMinTier(), Segments: t.GetSegments(), StoreIDs: t.GetStoreIds(), Channels: channelsFromProto(t.GetChannels()),
	}
	return out, benefitFromProto(t.GetBenefit(), &out)
}

func channelsFromProto(cs []typev1.Channel) []domain.Channel {
	var out []domain.Channel
	for _, c := range cs {
		out = append(out, channels[c])
	}
	return out
}

func channelsToProto(cs []domain.Channel) []typev1.Channel {
	var out []typev1.Channel
	for _, c := range cs {
		out = append(out, reverse(channels, c))
	}
	return out
}

// benefitToProto is what an offer (a reward's terms, or a voucher's) gives.
func benefitToProto(o domain.Offer) *rewardsv1.Benefit {
	switch o.Type {
	case domain.TypeVoucherAmount:
		if o.Amount == nil {
			return nil
		}
		return &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_AmountOff{AmountOff: &typev1.Money{
			Amount: o.Amount.Amount.String(), CurrencyCode: o.Amount.Currency}}}
	case domain.TypeVoucherPercent:
		return &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_PercentOff{PercentOff: o.Percent.String()}}
	case domain.TypeFreeProduct:
		return &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_FreeProductSku{FreeProductSku: o.ProductSKU}}
	case domain.TypePartner:
		return &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_Partner{Partner: &rewardsv1.PartnerBenefit{
			PartnerId: o.PartnerID, PartnerRef: o.PartnerRef}}}
	}
	return nil
}

func termsToProto(t domain.Terms) *rewardsv1.RewardTerms {
	return &rewardsv1.RewardTerms{
		Name: t.Name, Description: t.Description, PointsCost: t.PointsCost, Benefit: benefitToProto(t.Offer()),
		ValidFrom: ts(t.ValidFrom), ValidUntil: ts(t.ValidUntil), VoucherValidity: durationpb.New(t.VoucherValidity),
		StockTotal: t.StockTotal, MemberLimit: int32(t.MemberLimit), LimitPeriod: reverse(periods, t.LimitPeriod), MinTier: t.MinTier,
		Segments: t.Segments, StoreIds: t.StoreIDs, Channels: channelsToProto(t.Channels),
	}
}

func rewardToProto(r *domain.Reward) *rewardsv1.Reward {
	return &rewardsv1.Reward{
		RewardId: r.ID, ProgrammeId: r.ProgrammeID, Terms: termsToProto(r.Terms), State: states[r.State],
		StockAllocated: r.StockAllocated, StockLeft: r.StockLeft(), CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt),
		Etag: r.Etag(),
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
		Benefit: benefitToProto(v.Offer), IssuedAt: ts(v.IssuedAt), ExpiresAt: ts(v.ExpiresAt), StoreIds: v.StoreIDs,
		Channels: channelsToProto(v.Channels), ConsumedAt: ts(v.ConsumedAt), ConsumedStoreId: v.ConsumedStore,
	}
}

// voucherProblem is the API's name of a voucher's problem; the domain's
// are its values' names without the prefix.
func voucherProblem(p domain.VoucherProblem) rewardsv1.VoucherProblem {
	if p == "" {
		return rewardsv1.VoucherProblem_VOUCHER_PROBLEM_UNSPECIFIED
	}
	return rewardsv1.VoucherProblem(rewardsv1.VoucherProblem_value["VOUCHER_PROBLEM_"+string(p)])
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
	fields, err := maskFields(r.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	if err := validateMasked(r.GetReward(), fields); err != nil {
		return nil, err
	}
	t, err := termsFromProto(r.GetReward().GetTerms())
	if err != nil {
		return nil, inReward(err)
	}
	rw, err := s.app.UpdateReward(ctx, principal.Of(ctx), r.GetIdempotencyKey(), app.RewardUpdate{
		RewardID: r.GetReward().GetRewardId(), Terms: t, Fields: fields, Etag: r.GetReward().GetEtag(),
	})
	if err != nil {
		return nil, inReward(err)
	}
	return &rewardsv1.UpdateRewardResponse{Reward: rewardToProto(rw)}, nil
}

// outputOnly are the fields of Reward an update cannot name.
var outputOnly = []string{"reward_id", "programme_id", "state", "stock_allocated", "stock_left", "created_at", "updated_at", "etag"}

// maskFields reads an update mask (AIP-134, relative to Reward): the
// fields of the terms it names; none (every field) for no mask, "*" or
// "terms".
func maskFields(m *fieldmaskpb.FieldMask) ([]domain.TermsField, error) {
	var out []domain.TermsField
	for _, p := range m.GetPaths() {
		if p == "*" || p == "terms" {
			return nil, nil
		}
		name, ok := strings.CutPrefix(p, "terms.")
		switch {
		case ok && slices.Contains(domain.TermsFields, domain.TermsField(name)):
			out = append(out, domain.TermsField(name))
		case ok && strings.HasPrefix(name, string(domain.FieldBenefit)+"."):
			return nil, fault.Invalid("update_mask", "%q: name terms.benefit, which is replaced as a whole", p)
		case slices.Contains(outputOnly, p):
			return nil, fault.Invalid("update_mask", "%q is output only (DeactivateReward changes the state)", p)
		default:
			return nil, fault.Invalid("update_mask", "%q is not a field of a reward's terms", p)
		}
	}
	return out, nil
}

// validateMasked applies the schema's rules (protovalidate) to the fields
// of r's terms that the update changes (every field for none), as the
// server's interceptor does to every other request: the fields the mask
// leaves out are the reward's own, and the terms' cross-field rules are
// checked on the result, as a whole, by the service.
func validateMasked(r *rewardsv1.Reward, fields []domain.TermsField) error {
	if len(fields) == 0 && r.GetTerms() == nil {
		return fault.Invalid("reward.terms", "is required: an update without a mask replaces every term")
	}
	var vs []fault.Violation
	if err := protovalidate.Validate(r); err != nil {
		ve, ok := err.(*protovalidate.ValidationError)
		if !ok {
			return fmt.Errorf("validate reward: %w", err)
		}
		for _, v := range ve.Violations {
			path := protovalidate.FieldPathString(v.Proto.GetField())
			if masked(path, fields) {
				vs = append(vs, fault.Violation{Field: "reward." + path, Msg: v.Proto.GetMessage()})
			}
		}
	}
	if len(r.GetEtag()) > 64 {
		vs = append(vs, fault.Violation{Field: "reward.etag", Msg: "is not an etag of a reward"})
	}
	return fault.InvalidFields(vs)
}

// masked tells whether a field path of Reward is one the update changes.
func masked(path string, fields []domain.TermsField) bool {
	if len(fields) == 0 {
		return true
	}
	for _, f := range fields {
		p := "terms." + string(f)
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// inReward names the fields of a bad update relative to the request
// (reward.terms.name) rather than to the terms' own messages (terms.name).
func inReward(err error) error {
	f, ok := fault.As(err)
	if !ok || f.Kind != fault.KindInvalid {
		return err
	}
	vs := f.Violations()
	for i := range vs {
		if strings.HasPrefix(vs[i].Field, "terms") {
			vs[i].Field = "reward." + vs[i].Field
		}
	}
	return fault.InvalidFields(vs)
}

func (s *Server) DeactivateReward(ctx context.Context, r *rewardsv1.DeactivateRewardRequest) (*rewardsv1.DeactivateRewardResponse, error) {
	rw, err := s.app.DeactivateReward(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetRewardId(), r.GetEtag())
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
	page, err := s.app.Rewards(ctx, principal.Of(ctx), r.GetProgrammeId(), r.GetIncludeInactive(),
		app.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()})
	if err != nil {
		return nil, err
	}
	resp := &rewardsv1.ListRewardsResponse{NextPageToken: page.Next}
	for _, rw := range page.Rewards {
		resp.Rewards = append(resp.Rewards, rewardToProto(rw))
	}
	return resp, nil
}

func (s *Server) ListEligibleRewards(ctx context.Context, r *rewardsv1.ListEligibleRewardsRequest) (*rewardsv1.ListEligibleRewardsResponse, error) {
	e, err := s.app.EligibleRewards(ctx, principal.Of(ctx), r.GetMemberId(), app.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()})
	if err != nil {
		return nil, err
	}
	resp := &rewardsv1.ListEligibleRewardsResponse{AvailablePoints: e.Member.Available, Tier: e.Member.Tier, Segment: e.Member.Segment,
		NextPageToken: e.Next}
	for _, o := range e.Options {
		opt := &rewardsv1.RewardOption{Reward: rewardToProto(o.Reward), Redeemable: o.Missing.OK()}
		if m := o.Missing; !m.OK() {
			opt.Missing = &rewardsv1.Missing{
				PointsShort: m.PointsShort, TierNeeded: m.TierNeeded, SegmentNotEligible: m.SegmentNotEligible,
				OutOfStock: m.OutOfStock, MemberLimitReached: m.MemberLimitReached, OutsideValidity: m.OutsideValidity || m.Inactive,
			}
		}
		resp.Options = append(resp.Options, opt)
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
	return &rewardsv1.ValidateVoucherResponse{Valid: c.Problem == "", Problem: voucherProblem(c.Problem), Voucher: s.voucherToProto(c.Voucher)}, nil
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

// redemptionStatuses are the statuses of the API; started and pending
// are both in progress.
var redemptionStatuses = map[domain.RedemptionStatus]rewardsv1.RedemptionStatus{
	domain.RedemptionStarted:    rewardsv1.RedemptionStatus_REDEMPTION_STATUS_IN_PROGRESS,
	domain.RedemptionPending:    rewardsv1.RedemptionStatus_REDEMPTION_STATUS_IN_PROGRESS,
	domain.RedemptionCompleted:  rewardsv1.RedemptionStatus_REDEMPTION_STATUS_COMPLETED,
	domain.RedemptionFailed:     rewardsv1.RedemptionStatus_REDEMPTION_STATUS_FAILED,
	domain.RedemptionCancelling: rewardsv1.RedemptionStatus_REDEMPTION_STATUS_CANCELLING,
	domain.RedemptionCancelled:  rewardsv1.RedemptionStatus_REDEMPTION_STATUS_CANCELLED,
}

func (s *Server) ListMemberRedemptions(ctx context.Context, r *rewardsv1.ListMemberRedemptionsRequest) (*rewardsv1.ListMemberRedemptionsResponse, error) {
	page, err := s.app.MemberRedemptions(ctx, principal.Of(ctx), r.GetMemberId(), app.Page{Size: int(r.GetPageSize()), Token: r.GetPageToken()})
	if err != nil {
		return nil, err
	}
	resp := &rewardsv1.ListMemberRedemptionsResponse{NextPageToken: page.Next}
	for _, m := range page.Redemptions {
		red := m.Redemption
		out := &rewardsv1.Redemption{
			RedemptionId: red.ID, RewardId: red.RewardID, MemberId: red.MemberID, Status: redemptionStatuses[red.Status],
			Points: red.Points, EntryId: red.CaptureEntryID, RefundEntryId: red.RefundEntryID,
			CreatedAt: ts(red.CreatedAt), UpdatedAt: ts(red.UpdatedAt),
		}
		if m.Voucher != nil {
			out.Voucher = s.voucherToProto(m.Voucher)
		}
		if red.Refusal != nil {
			out.FailureReason = typev1.ErrorReason(typev1.ErrorReason_value[string(fault.ReasonOf(red.Refusal))])
		}
		resp.Redemptions = append(resp.Redemptions, out)
	}
	return resp, nil
}
