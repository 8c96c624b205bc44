package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/consent"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
)

// ConsentServer implements fidelis.ledger.v1.ConsentService.
type ConsentServer struct {
	ledgerv1.UnimplementedConsentServiceServer
	app *consent.Service
}

// ConsentServiceName is the consent service's fully qualified name.
const ConsentServiceName = "fidelis.ledger.v1.ConsentService"

// RegisterConsent adds the consent service to a gRPC server.
func RegisterConsent(s grpc.ServiceRegistrar, a *consent.Service) {
	ledgerv1.RegisterConsentServiceServer(s, &ConsentServer{app: a})
}

var purposes = map[ledgerv1.ConsentPurpose]string{
	ledgerv1.ConsentPurpose_CONSENT_PURPOSE_MARKETING:         domain.PurposeMarketing,
	ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PARTNER_MARKETING: domain.PurposePartnerMarketing,
	ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PROFILING:         domain.PurposeProfiling,
}

var contactChannels = map[ledgerv1.ContactChannel]string{
	ledgerv1.ContactChannel_CONTACT_CHANNEL_UNSPECIFIED: "",
	ledgerv1.ContactChannel_CONTACT_CHANNEL_EMAIL:       domain.ContactEmail,
	ledgerv1.ContactChannel_CONTACT_CHANNEL_SMS:         domain.ContactSMS,
	ledgerv1.ContactChannel_CONTACT_CHANNEL_PUSH:        domain.ContactPush,
	ledgerv1.ContactChannel_CONTACT_CHANNEL_POST:        domain.ContactPost,
}

var consentSources = map[ledgerv1.ConsentSource]string{
	ledgerv1.ConsentSource_CONSENT_SOURCE_ENROLMENT:        domain.ConsentSourceEnrolment,
	ledgerv1.ConsentSource_CONSENT_SOURCE_STORE:            "store",
	ledgerv1.ConsentSource_CONSENT_SOURCE_WEB:              "web",
	ledgerv1.ConsentSource_CONSENT_SOURCE_APP:              "app",
	ledgerv1.ConsentSource_CONSENT_SOURCE_CUSTOMER_SERVICE: "customer_service",
	ledgerv1.ConsentSource_CONSENT_SOURCE_UNSUBSCRIBE:      "unsubscribe",
	ledgerv1.ConsentSource_CONSENT_SOURCE_IMPORT:           "import",
}

var contactRules = map[string]ledgerv1.ContactRule{
	domain.RuleAllowed:            ledgerv1.ContactRule_CONTACT_RULE_ALLOWED,
	domain.RuleAlreadyClaimed:     ledgerv1.ContactRule_CONTACT_RULE_ALREADY_CLAIMED,
	domain.RuleNoConsent:          ledgerv1.ContactRule_CONTACT_RULE_NO_CONSENT,
	domain.RuleExcluded:           ledgerv1.ContactRule_CONTACT_RULE_EXCLUDED,
	domain.RuleQuietAfterPurchase: ledgerv1.ContactRule_CONTACT_RULE_QUIET_AFTER_PURCHASE,
	domain.RuleChannelCap:         ledgerv1.ContactRule_CONTACT_RULE_CHANNEL_CAP,
	domain.RuleScenarioCap:        ledgerv1.ContactRule_CONTACT_RULE_SCENARIO_CAP,
	domain.RuleMemberNotFound:     ledgerv1.ContactRule_CONTACT_RULE_MEMBER_NOT_FOUND,
}

// reverse inverts an enum map.
func reverse[K, V comparable](m map[K]V) map[V]K {
	out := make(map[V]K, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

func changeToProto(c domain.ConsentChange) *ledgerv1.ConsentChange {
	return &ledgerv1.ConsentChange{
		ChangeId: c.ID, MemberId: c.MemberID, Purpose: reverse(purposes)[c.Purpose], Channel: reverse(contactChannels)[c.Channel],
		State: consentToProto(c.Granted), Source: reverse(consentSources)[c.Source], TextVersion: c.TextVersion, Actor: c.Actor,
		OccurredTime: ts(c.OccurredAt), RecordedTime: ts(c.RecordedAt),
	}
}

func decisionToProto(d consent.Decision) *ledgerv1.ContactDecision {
	return &ledgerv1.ContactDecision{MemberId: d.MemberID, Allowed: d.Allowed, Rule: contactRules[d.Rule], Detail: d.Detail, ContactId: d.ContactID}
}

func (s *ConsentServer) SetConsent(ctx context.Context, r *ledgerv1.SetConsentRequest) (*ledgerv1.SetConsentResponse, error) {
	c, err := s.app.SetConsent(ctx, principal.Of(ctx), r.GetIdempotencyKey(), consent.ConsentInput{
		MemberID: r.GetMemberId(), Purpose: purposes[r.GetPurpose()], Channel: contactChannels[r.GetChannel()],
		Granted: r.GetState() == ledgerv1.ConsentState_CONSENT_STATE_GRANTED, Source: consentSources[r.GetSource()],
		TextVersion: r.GetTextVersion(), OccurredAt: fromTS(r.GetOccurredTime()),
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.SetConsentResponse{Change: changeToProto(c.ConsentChange)}, nil
}

func (s *ConsentServer) GetConsents(ctx context.Context, r *ledgerv1.GetConsentsRequest) (*ledgerv1.GetConsentsResponse, error) {
	cs, err := s.app.Consents(ctx, principal.Of(ctx), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	resp := &ledgerv1.GetConsentsResponse{}
	for _, c := range cs {
		resp.Consents = append(resp.Consents, &ledgerv1.Consent{
			Purpose: reverse(purposes)[c.Purpose], Channel: reverse(contactChannels)[c.Channel], State: consentToProto(c.Granted),
			ChangeId: c.ChangeID, ChangedTime: ts(c.ChangedAt),
		})
	}
	return resp, nil
}

func (s *ConsentServer) ListConsentHistory(ctx context.Context, r *ledgerv1.ListConsentHistoryRequest) (*ledgerv1.ListConsentHistoryResponse, error) {
	cs, next, err := s.app.History(ctx, principal.Of(ctx), r.GetMemberId(), int(r.GetPageSize()), r.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &ledgerv1.ListConsentHistoryResponse{NextPageToken: next}
	for _, c := range cs {
		resp.Changes = append(resp.Changes, changeToProto(c))
	}
	return resp, nil
}

func (s *ConsentServer) ClaimContact(ctx context.Context, r *ledgerv1.ClaimContactRequest) (*ledgerv1.ClaimContactResponse, error) {
	d, err := s.app.ClaimContact(ctx, principal.Of(ctx), r.GetMemberId(), domain.ContactClaim{
		Channel: contactChannels[r.GetChannel()], Scenario: r.GetScenario(), CampaignID: r.GetCampaignId(),
	}, r.GetDryRun())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.ClaimContactResponse{Decision: decisionToProto(*d)}, nil
}

func (s *ConsentServer) BatchClaimContacts(ctx context.Context, r *ledgerv1.BatchClaimContactsRequest) (*ledgerv1.BatchClaimContactsResponse, error) {
	ds, err := s.app.ClaimContacts(ctx, principal.Of(ctx), r.GetProgrammeId(), r.GetMemberIds(), domain.ContactClaim{
		Channel: contactChannels[r.GetChannel()], Scenario: r.GetScenario(), CampaignID: r.GetCampaignId(),
	}, r.GetDryRun())
	if err != nil {
		return nil, err
	}
	resp := &ledgerv1.BatchClaimContactsResponse{Decisions: make([]*ledgerv1.ContactDecision, len(ds))}
	for i, d := range ds {
		resp.Decisions[i] = decisionToProto(d)
	}
	return resp, nil
}

func (s *ConsentServer) SetContactExclusion(ctx context.Context, r *ledgerv1.SetContactExclusionRequest) (*ledgerv1.SetContactExclusionResponse, error) {
	e, err := s.app.SetExclusion(ctx, principal.Of(ctx), r.GetIdempotencyKey(), consent.Exclusion{
		MemberID: r.GetMemberId(), Reason: r.GetReason(), EndsAt: fromTS(r.GetEndTime()),
	})
	if err != nil {
		return nil, err
	}
	return &ledgerv1.SetContactExclusionResponse{Exclusion: &ledgerv1.ContactExclusion{MemberId: e.MemberID, Reason: e.Reason, EndTime: ts(e.EndsAt)}}, nil
}

func (s *ConsentServer) ClearContactExclusion(ctx context.Context, r *ledgerv1.ClearContactExclusionRequest) (*ledgerv1.ClearContactExclusionResponse, error) {
	c, err := s.app.ClearExclusion(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetMemberId(), r.GetReason())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.ClearContactExclusionResponse{Cleared: c.Cleared}, nil
}
