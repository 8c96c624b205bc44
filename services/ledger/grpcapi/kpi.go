package grpcapi

import (
	"context"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/analytics"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// KpiServiceName is the KPI service's fully qualified name.
const KpiServiceName = "fidelis.ledger.v1.KpiService"

// KpiServer implements fidelis.ledger.v1.KpiService.
type KpiServer struct {
	ledgerv1.UnimplementedKpiServiceServer
	app *analytics.Service
}

// RegisterKpi adds the KPI service to a gRPC server.
func RegisterKpi(s grpc.ServiceRegistrar, a *analytics.Service) {
	ledgerv1.RegisterKpiServiceServer(s, &KpiServer{app: a})
}

// kpiChannels are the channels of the points figures; entries without a
// channel (expiry, the total) are CHANNEL_UNSPECIFIED.
var kpiChannels = map[domain.Channel]typev1.Channel{
	domain.ChannelPOS:       typev1.Channel_CHANNEL_POS,
	domain.ChannelEcommerce: typev1.Channel_CHANNEL_ECOMMERCE,
	domain.ChannelPartner:   typev1.Channel_CHANNEL_PARTNER,
	domain.ChannelOperator:  typev1.Channel_CHANNEL_OPERATOR,
}

func pointsToProto(p analytics.PointsRow) *ledgerv1.PointsKpis {
	return &ledgerv1.PointsKpis{
		Channel: kpiChannels[domain.Channel(p.Channel)], PartnerId: p.PartnerID, Issued: p.Issued, Burned: p.Burned, Refunded: p.Refunded,
		Expired: p.Expired, ClawedBack: p.ClawedBack, BreakageRate: domain.Ratio(p.Expired, p.Issued).String(),
		RedemptionRate: domain.Ratio(p.Burned-p.Refunded, p.Issued).String(),
	}
}

func movesToProto(cs []domain.TransitionCell) []*ledgerv1.TransitionCell {
	out := make([]*ledgerv1.TransitionCell, len(cs))
	for i, c := range cs {
		out[i] = &ledgerv1.TransitionCell{FromState: c.From, ToState: c.To, Members: c.Members, RowShare: c.RowShare.String()}
	}
	return out
}

func (s *KpiServer) GetKpis(ctx context.Context, r *ledgerv1.GetKpisRequest) (*ledgerv1.GetKpisResponse, error) {
	rep, err := s.app.KPIs(ctx, r.GetProgrammeId(), fromTS(r.GetPeriodStart()), fromTS(r.GetPeriodEnd()))
	if err != nil {
		return nil, err
	}
	m := rep.Members
	resp := &ledgerv1.GetKpisResponse{
		ProgrammeId: rep.ProgrammeID, PeriodStart: r.GetPeriodStart(), PeriodEnd: r.GetPeriodEnd(),
		Members: &ledgerv1.MemberKpis{
			MembersStart: m.MembersStart, MembersEnd: m.MembersEnd, NewMembers: m.New, ActiveStart: m.ActiveStart,
			ActiveEnd: m.ActiveEnd, Churned: m.Churned, Purchasers: m.Purchasers, RepeatPurchasers: m.RepeatPurchasers,
			ChurnRate: m.ChurnRate().String(), RetentionRate: m.RetentionRate().String(), RepeatPurchaseRate: m.RepeatPurchaseRate().String(),
		},
		OutstandingPoints: rep.Liability.Outstanding(),
		OutstandingValue:  &typev1.Money{Amount: rep.LiabilityValue, CurrencyCode: rep.Currency},
		Segments:          rep.Segments, Tiers: rep.Tiers,
		SegmentMoves: movesToProto(rep.SegmentMoves), TierMoves: movesToProto(rep.TierMoves),
	}
	var total analytics.PointsRow
	for _, p := range rep.Points {
		resp.Points = append(resp.Points, pointsToProto(p))
		total.Issued, total.Burned, total.Refunded = total.Issued+p.Issued, total.Burned+p.Burned, total.Refunded+p.Refunded
		total.Expired, total.ClawedBack = total.Expired+p.Expired, total.ClawedBack+p.ClawedBack
	}
	resp.PointsTotal = pointsToProto(total)
	return resp, nil
}

// weeks is a duration the churn model measures in weeks, to the
// microsecond the ledger keeps times in.
func weeks(w float64) *durationpb.Duration {
	return durationpb.New(time.Duration(math.Round(w*float64(7*24*time.Hour)/float64(time.Microsecond))) * time.Microsecond)
}

func modelToProto(m *analytics.ChurnModel) *ledgerv1.ChurnModel {
	if m == nil {
		return nil
	}
	return &ledgerv1.ChurnModel{
		FittedAt: ts(m.FittedAt), CalibrationEnd: ts(m.CalibrationEnd), Customers: m.Customers, R: m.R, Alpha: m.Alpha,
		A: m.A, B: m.B, LogLikelihood: m.LogLikelihood, Horizon: weeks(m.HorizonWeeks),
	}
}

func (s *KpiServer) GetChurnRisk(ctx context.Context, r *ledgerv1.GetChurnRiskRequest) (*ledgerv1.GetChurnRiskResponse, error) {
	c, err := s.app.ChurnRiskOf(ctx, principal.Of(ctx), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.GetChurnRiskResponse{
		RepeatPurchases: int32(c.Risk.RepeatPurchases), FirstToLastPurchase: weeks(c.Risk.TxWeeks), Observed: weeks(c.Risk.TWeeks),
		PAlive: c.Risk.PAlive, ExpectedPurchases: c.Risk.ExpectedPurchases, Model: modelToProto(c.Model),
	}, nil
}

func (s *KpiServer) GetProgrammeStats(ctx context.Context, r *ledgerv1.GetProgrammeStatsRequest) (*ledgerv1.GetProgrammeStatsResponse, error) {
	st, err := s.app.ProgrammeStats(ctx, r.GetProgrammeId(), fromTS(r.GetAsOf()))
	if err != nil {
		return nil, err
	}
	return &ledgerv1.GetProgrammeStatsResponse{
		ProgrammeId: st.ProgrammeID, WindowStart: ts(st.From), WindowEnd: ts(st.To), Members: st.Members,
		Buyers: st.Buyers, Purchases: st.Purchases, FirstPurchaseAt: ts(st.FirstPurchase),
		AnonymousTransactions: st.AnonymousTransactions, AnonymousStoreDays: st.AnonymousStoreDays, StorePurchases: st.StorePurchases,
	}, nil
}
