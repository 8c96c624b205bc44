// Package grpcapi is the partners service's gRPC edge: the partner-facing
// service and the operators' service. Calls are authenticated, authorised
// and audited by the server's access guard (services/internal/authz); a
// partner's principal names its partner.
package grpcapi

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/audit"
	"github.com/fidelis-loyalty/fidelis/services/internal/audit/auditpb"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/partners/app"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// Service names.
const (
	ServiceName      = "fidelis.partners.v1.PartnerService"
	AdminServiceName = "fidelis.partners.v1.PartnerAdminService"
)

// Server implements fidelis.partners.v1.PartnerService.
type Server struct {
	partnersv1.UnimplementedPartnerServiceServer
	app *app.Service
}

// AdminServer implements fidelis.partners.v1.PartnerAdminService.
type AdminServer struct {
	partnersv1.UnimplementedPartnerAdminServiceServer
	app *app.Service
}

// Register adds both partners services to a gRPC server.
func Register(s grpc.ServiceRegistrar, a *app.Service) {
	partnersv1.RegisterPartnerServiceServer(s, &Server{app: a})
	partnersv1.RegisterPartnerAdminServiceServer(s, &AdminServer{app: a})
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

func moneyToProto(d decimal.Decimal, currency string) *typev1.Money {
	return &typev1.Money{Amount: d.String(), CurrencyCode: currency}
}

func decimalField(v, field string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(v)
	if err != nil {
		return d, fault.Invalid(field, "is not a decimal number")
	}
	return d, nil
}

// partner is the calling partner (a suspended one is denied).
func (s *Server) partner(ctx context.Context) (*domain.Partner, error) {
	return s.app.PartnerOf(ctx, principal.Of(ctx))
}

func (s *Server) LinkMember(ctx context.Context, r *partnersv1.LinkMemberRequest) (*partnersv1.LinkMemberResponse, error) {
	p, err := s.partner(ctx)
	if err != nil {
		return nil, err
	}
	ref, err := s.app.LinkMember(ctx, p, r.GetIdempotencyKey(), r.GetCardNumber(), r.GetProgrammeId())
	if err != nil {
		return nil, err
	}
	return &partnersv1.LinkMemberResponse{MemberRef: ref}, nil
}

func (s *Server) GetMemberBalance(ctx context.Context, r *partnersv1.GetMemberBalanceRequest) (*partnersv1.GetMemberBalanceResponse, error) {
	p, err := s.partner(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.app.MemberBalance(ctx, p, r.GetMemberRef())
	if err != nil {
		return nil, err
	}
	return &partnersv1.GetMemberBalanceResponse{Available: n}, nil
}

// earnAmount is an earn's amount and its unit: a currency's code, or
// domain.UnitMiles.
func earnAmount(r *partnersv1.EarnRequest) (decimal.Decimal, string, error) {
	if m := r.GetMoney(); m != nil {
		d, err := decimalField(m.GetAmount(), "money.amount")
		return d, m.GetCurrencyCode(), err
	}
	d, err := decimalField(r.GetMiles(), "miles")
	return d, domain.UnitMiles, err
}

func (s *Server) Earn(ctx context.Context, r *partnersv1.EarnRequest) (*partnersv1.EarnResponse, error) {
	amount, unit, err := earnAmount(r)
	if err != nil {
		return nil, err
	}
	p, err := s.partner(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.app.Earn(ctx, p, r.GetIdempotencyKey(), app.EarnRequest{
		MemberRef: r.GetMemberRef(), Amount: amount, Unit: unit, Reference: r.GetReference(),
		OccurredAt: fromTS(r.GetOccurredAt()), OfferID: r.GetOfferId(), ProgrammeID: r.GetProgrammeId(),
	})
	if err != nil {
		return nil, err
	}
	return &partnersv1.EarnResponse{TransactionId: t.ID, Points: t.Points, BonusPoints: t.BonusPoints,
		Cost: moneyToProto(money.FromMicros(t.MoneyMicros), t.Currency)}, nil
}

func (s *Server) Burn(ctx context.Context, r *partnersv1.BurnRequest) (*partnersv1.BurnResponse, error) {
	p, err := s.partner(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.app.Burn(ctx, p, r.GetIdempotencyKey(), r.GetMemberRef(), r.GetPoints(), r.GetReference())
	if err != nil {
		return nil, err
	}
	return &partnersv1.BurnResponse{TransactionId: t.ID, Points: t.Points, Value: moneyToProto(money.FromMicros(t.MoneyMicros), t.Currency)}, nil
}

func (s *Server) ListOffers(ctx context.Context, r *partnersv1.ListOffersRequest) (*partnersv1.ListOffersResponse, error) {
	p, err := s.partner(ctx)
	if err != nil {
		return nil, err
	}
	page, err := s.app.Offers(ctx, p, r.GetMemberRef(), r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, err
	}
	resp := &partnersv1.ListOffersResponse{Consent: page.Consent, NextPageToken: page.Next}
	for _, o := range page.Offers {
		resp.Offers = append(resp.Offers, offerToProto(o))
	}
	return resp, nil
}

func (s *Server) GetStatement(ctx context.Context, r *partnersv1.GetStatementRequest) (*partnersv1.GetStatementResponse, error) {
	p, err := s.partner(ctx)
	if err != nil {
		return nil, err
	}
	if id := r.GetPartnerId(); id != "" && id != p.ID {
		return nil, fault.Denied(fault.OtherPartners, "partner %s may not read the statement of partner %s", p.ID, id)
	}
	st, err := s.app.StatementOf(ctx, p, fromTS(r.GetPeriodStart()), fromTS(r.GetPeriodEnd()))
	if err != nil {
		return nil, err
	}
	return &partnersv1.GetStatementResponse{Statement: statementToProto(st)}, nil
}

func statementToProto(st *domain.Statement) *partnersv1.Statement {
	by, to := money.FromMicros(st.OwedByPartnerMicro), money.FromMicros(st.OwedToPartnerMicro)
	return &partnersv1.Statement{
		PartnerId: st.PartnerID, PeriodStart: ts(st.From), PeriodEnd: ts(st.To), EarnCount: st.EarnCount, BurnCount: st.BurnCount,
		PointsIssued: st.PointsIssued, BonusPointsIssued: st.BonusPointsIssued, PointsBurned: st.PointsBurned,
		OwedByPartner: moneyToProto(by, st.Currency), OwedToPartner: moneyToProto(to, st.Currency), Net: moneyToProto(by.Sub(to), st.Currency),
	}
}

var roundings = map[partnersv1.Rounding]money.Rounding{
	partnersv1.Rounding_ROUNDING_FLOOR:     money.RoundFloor,
	partnersv1.Rounding_ROUNDING_CEIL:      money.RoundCeil,
	partnersv1.Rounding_ROUNDING_HALF_UP:   money.RoundHalfUp,
	partnersv1.Rounding_ROUNDING_HALF_EVEN: money.RoundHalfEven,
}

var capPeriods = map[partnersv1.CapPeriod]period.Period{
	partnersv1.CapPeriod_CAP_PERIOD_UNSPECIFIED: "",
	partnersv1.CapPeriod_CAP_PERIOD_LIFETIME:    period.Lifetime,
	partnersv1.CapPeriod_CAP_PERIOD_DAY:         period.Day,
	partnersv1.CapPeriod_CAP_PERIOD_WEEK:        period.Week,
	partnersv1.CapPeriod_CAP_PERIOD_MONTH:       period.Month,
	partnersv1.CapPeriod_CAP_PERIOD_YEAR:        period.Year,
}

func reverse[K, V comparable](m map[K]V, v V) K {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	var zero K
	return zero
}

func partnerToProto(p *domain.Partner) *partnersv1.Partner {
	pp := &partnersv1.Partner{
		PartnerId: p.ID, Name: p.Name, ProgrammeId: p.ProgrammeID, EarnUnit: partnersv1.EarnUnit_EARN_UNIT_MILES, EarnRate: p.EarnRate.String(),
		Rounding: reverse(roundings, p.Rounding), PricePerPoint: moneyToProto(p.PricePerPoint.Amount, p.PricePerPoint.Currency),
		ValuePerPoint: moneyToProto(p.ValuePerPoint.Amount, p.ValuePerPoint.Currency), State: partnersv1.PartnerState_PARTNER_STATE_ACTIVE,
		CreatedAt: ts(p.CreatedAt),
	}
	if p.EarnUnit != domain.UnitMiles {
		pp.EarnUnit, pp.EarnCurrencyCode = partnersv1.EarnUnit_EARN_UNIT_CURRENCY, p.EarnUnit
	}
	if !p.Active {
		pp.State = partnersv1.PartnerState_PARTNER_STATE_SUSPENDED
	}
	return pp
}

// earnUnit is the domain's earn unit of a request's: the currency's code,
// or domain.UnitMiles.
func earnUnit(u partnersv1.EarnUnit, currency string) string {
	if u == partnersv1.EarnUnit_EARN_UNIT_MILES {
		return domain.UnitMiles
	}
	return currency
}

func offerToProto(o *domain.Offer) *partnersv1.Offer {
	t := &partnersv1.OfferTerms{
		Name: o.Name, Tiers: o.Tiers, Segments: o.Segments, ValidFrom: ts(o.ValidFrom), ValidUntil: ts(o.ValidUntil),
		BudgetPoints: o.BudgetPoints,
	}
	switch o.Kind {
	case domain.OfferMultiplier:
		t.Bonus = &partnersv1.OfferTerms_Multiplier{Multiplier: &partnersv1.MultiplierBonus{Factor: o.Multiplier.String()}}
	case domain.OfferFixedBonus:
		t.Bonus = &partnersv1.OfferTerms_FixedBonus{FixedBonus: &partnersv1.FixedBonus{Points: o.BonusPoints}}
	}
	if o.CapPerMember > 0 {
		t.MemberCap = &partnersv1.MemberCap{Times: int32(o.CapPerMember), Period: reverse(capPeriods, o.CapPeriod)}
	}
	if o.MinInterval > 0 {
		t.MinInterval = durationpb.New(o.MinInterval)
	}
	return &partnersv1.Offer{OfferId: o.ID, PartnerId: o.PartnerID, Terms: t, SpentPoints: o.SpentPoints, CreatedAt: ts(o.CreatedAt)}
}

// offerTerms are the domain's terms of a request's.
func offerTerms(t *partnersv1.OfferTerms) (domain.OfferTerms, error) {
	terms := domain.OfferTerms{
		Name: t.GetName(), Tiers: t.GetTiers(), Segments: t.GetSegments(), ValidFrom: fromTS(t.GetValidFrom()),
		ValidUntil: fromTS(t.GetValidUntil()), MinInterval: t.GetMinInterval().AsDuration(), BudgetPoints: t.GetBudgetPoints(),
	}
	if c := t.GetMemberCap(); c != nil {
		terms.CapPerMember, terms.CapPeriod = int(c.GetTimes()), capPeriods[c.GetPeriod()]
	}
	switch b := t.GetBonus().(type) {
	case *partnersv1.OfferTerms_Multiplier:
		d, err := decimalField(b.Multiplier.GetFactor(), "terms.multiplier.factor")
		if err != nil {
			return terms, err
		}
		terms.Kind, terms.Multiplier = domain.OfferMultiplier, d
	case *partnersv1.OfferTerms_FixedBonus:
		terms.Kind, terms.BonusPoints = domain.OfferFixedBonus, b.FixedBonus.GetPoints()
	}
	return terms, nil
}

func (s *AdminServer) CreatePartner(ctx context.Context, r *partnersv1.CreatePartnerRequest) (*partnersv1.CreatePartnerResponse, error) {
	rate, err := decimalField(r.GetEarnRate(), "earn_rate")
	if err != nil {
		return nil, err
	}
	price, err := decimalField(r.GetPricePerPoint().GetAmount(), "price_per_point.amount")
	if err != nil {
		return nil, err
	}
	value, err := decimalField(r.GetValuePerPoint().GetAmount(), "value_per_point.amount")
	if err != nil {
		return nil, err
	}
	c, err := s.app.CreatePartner(ctx, principal.Of(ctx), r.GetIdempotencyKey(), app.NewPartner{
		Name: r.GetName(), ProgrammeID: r.GetProgrammeId(), EarnUnit: earnUnit(r.GetEarnUnit(), r.GetEarnCurrencyCode()), EarnRate: rate,
		Rounding: roundings[r.GetRounding()], PricePerPoint: money.Money{Amount: price, Currency: r.GetPricePerPoint().GetCurrencyCode()},
		ValuePerPoint: money.Money{Amount: value, Currency: r.GetValuePerPoint().GetCurrencyCode()},
	})
	if err != nil {
		return nil, err
	}
	return &partnersv1.CreatePartnerResponse{Partner: partnerToProto(c.Partner), ApiKey: c.Key.Secret, KeyId: c.Key.KeyID}, nil
}

func (s *AdminServer) RotatePartnerKey(ctx context.Context, r *partnersv1.RotatePartnerKeyRequest) (*partnersv1.RotatePartnerKeyResponse, error) {
	k, err := s.app.RotateKey(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetPartnerId(), r.GetOverlap().AsDuration())
	if err != nil {
		return nil, err
	}
	return &partnersv1.RotatePartnerKeyResponse{ApiKey: k.Secret, KeyId: k.KeyID}, nil
}

func (s *AdminServer) GetPartner(ctx context.Context, r *partnersv1.GetPartnerRequest) (*partnersv1.GetPartnerResponse, error) {
	p, err := s.app.Partner(ctx, principal.Of(ctx), r.GetPartnerId())
	if err != nil {
		return nil, err
	}
	return &partnersv1.GetPartnerResponse{Partner: partnerToProto(p)}, nil
}

func (s *AdminServer) CreateOffer(ctx context.Context, r *partnersv1.CreateOfferRequest) (*partnersv1.CreateOfferResponse, error) {
	terms, err := offerTerms(r.GetTerms())
	if err != nil {
		return nil, err
	}
	o, err := s.app.CreateOffer(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetPartnerId(), terms)
	if err != nil {
		return nil, err
	}
	return &partnersv1.CreateOfferResponse{Offer: offerToProto(o)}, nil
}

func (s *AdminServer) GetPartnerStatement(ctx context.Context, r *partnersv1.GetPartnerStatementRequest) (*partnersv1.GetPartnerStatementResponse, error) {
	st, err := s.app.PartnerStatement(ctx, principal.Of(ctx), r.GetPartnerId(), fromTS(r.GetPeriodStart()), fromTS(r.GetPeriodEnd()))
	if err != nil {
		return nil, err
	}
	return &partnersv1.GetPartnerStatementResponse{Statement: statementToProto(st)}, nil
}

func (s *AdminServer) ListProgrammeOffers(ctx context.Context, r *partnersv1.ListProgrammeOffersRequest) (*partnersv1.ListProgrammeOffersResponse, error) {
	offers, next, err := s.app.ProgrammeOffers(ctx, principal.Of(ctx), r.GetProgrammeId(), r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, err
	}
	resp := &partnersv1.ListProgrammeOffersResponse{NextPageToken: next}
	for _, o := range offers {
		resp.Offers = append(resp.Offers, offerToProto(o))
	}
	return resp, nil
}

func (s *AdminServer) ListAudit(ctx context.Context, r *partnersv1.ListAuditRequest) (*partnersv1.ListAuditResponse, error) {
	entries, next, err := s.app.Audit(ctx, r.GetPartnerId(), r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, err
	}
	resp := &partnersv1.ListAuditResponse{NextPageToken: next}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, &partnersv1.AuditEntry{AuditId: e.ID, At: ts(e.At), Principal: e.Principal,
			Method: e.Method, Decision: auditpb.Decision(audit.Decision(e.Decision)), Code: auditpb.Code(e.Code), Calls: e.Calls})
	}
	return resp, nil
}
