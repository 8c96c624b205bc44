package host_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"

	"github.com/fidelis-loyalty/fidelis/services/internal/authz"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

// Every RPC of every service, found by the service descriptors: with no
// credential it is UNAUTHENTICATED (health checks aside), with a credential
// of a principal that lacks its role PERMISSION_DENIED; neither writes
// anything but the denied call's audit record (failed authentications are
// counted per address instead). A new RPC without a rule fails here.
func TestEveryRPCRefusesStrangers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := start(t, db, nil)
		_, partnerKey := s.partner(t, "test")
		rules := authz.Rules()
		methods := s.methods(t)
		// For each RPC, a principal of every role its rule leaves out
		// (bound to every programme: it is the role that is missing),
		// registered before counting the rows.
		lacking := map[string][2]string{} // method: principal, key
		for _, m := range methods {
			rule, ok := rules[m.full]
			if !ok {
				t.Errorf("%s has no access rule", m.full)
				continue
			}
			if rule.Public || rule.AnyRole {
				continue
			}
			var others []string
			for _, r := range principal.Roles() {
				if !slices.Contains(rule.Roles, r) && r != principal.Partner {
					others = append(others, string(r))
				}
			}
			switch {
			case len(others) > 0:
				who := "roles." + strings.Join(others, ".")
				lacking[m.full] = [2]string{who, s.key(t, who, others)}
			case !slices.Contains(rule.Roles, principal.Partner):
				lacking[m.full] = [2]string{"partner", partnerKey}
			default:
				t.Fatalf("%s: every role may call it", m.full)
			}
		}
		stranger := s.conn(t, "")
		s.settle(t)
		before := rowCounts(t, db)
		failedBefore := s.failures(t)
		denied := map[string]string{} // method: principal
		unauthenticated := 0
		for _, m := range methods {
			rule := rules[m.full]
			if rule.Public {
				continue
			}
			if err := invoke(ctx(t), stranger, m, nil); status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s without a credential: %v, want Unauthenticated", m.full, err)
			}
			unauthenticated++
			who, ok := lacking[m.full]
			if !ok {
				continue
			}
			if err := invoke(ctx(t), s.conn(t, who[1]), m, nil); status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s as %s: %v, want PermissionDenied", m.full, who[0], err)
			}
			denied[m.full] = who[0]
		}
		if len(denied) < 60 {
			t.Fatalf("only %d RPCs tried", len(denied))
		}
		sameRows(t, before, rowCounts(t, db))

		recs := s.audit(t)
		for m, who := range denied {
			var n int64
			for _, r := range recs {
				if "/"+r.Method == m && r.Code == "PermissionDenied" && r.Decision == "denied" &&
					(r.Principal == who || who == "partner" && strings.HasPrefix(r.Principal, "partner:")) {
					n += r.Count
				}
			}
			if n != 1 {
				t.Errorf("%s denied to %s: %d audited calls, want 1", m, who, n)
			}
		}
		for _, r := range recs {
			if r.Principal == "" {
				t.Errorf("an unauthenticated call has an audit row: %+v", r)
			}
		}
		if got := s.failures(t) - failedBefore; got != int64(unauthenticated) {
			t.Errorf("%d failed authentications counted, want %d", got, unauthenticated)
		}
	})
}

// A principal bound to programme "tiered" reaches none of programme
// "test"'s data, through any RPC of any service: every one, with a valid
// request naming test's programme, member, entry, hold, reward,
// redemption, voucher or partner, is PERMISSION_DENIED and writes nothing
// but its audit record and, where the idempotency rule stores the
// refusal, its idempotency record. An RPC without a case here fails the
// test.
func TestAnotherProgrammesDataIsDenied(t *testing.T) {
	watchNow := &ledgerv1.WatchEventsRequest_Now{Now: &emptypb.Empty{}}
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := start(t, db, nil)
		c := ctx(t)
		// Programme test's data, made by a principal of every programme.
		insider := s.conn(t, s.key(t, "insider", []string{"pos", "operator", "service"}))
		ledger, rewards := ledgerv1.NewLedgerServiceClient(insider), rewardsv1.NewRewardsServiceClient(insider)
		enrolled, err := ledger.EnrolMember(c, &ledgerv1.EnrolMemberRequest{IdempotencyKey: "e", ProgrammeId: "test", ExternalRef: "CARD-T"})
		if err != nil {
			t.Fatal(err)
		}
		m := enrolled.GetMember().GetMemberId()
		earned, err := ledger.Earn(c, &ledgerv1.EarnRequest{IdempotencyKey: "earn", MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
			Basis: &ledgerv1.EarnRequest_Points{Points: 900}})
		if err != nil {
			t.Fatal(err)
		}
		held, err := ledger.Hold(c, &ledgerv1.HoldRequest{IdempotencyKey: "hold", MemberId: m, Points: 10, Channel: typev1.Channel_CHANNEL_POS})
		if err != nil {
			t.Fatal(err)
		}
		terms := &rewardsv1.RewardTerms{Name: "Mug", PointsCost: 100, Benefit: &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_FreeProductSku{FreeProductSku: "MUG"}},
			VoucherValidity: durationpb.New(time.Hour), StockTotal: 5}
		reward, err := rewards.CreateReward(c, &rewardsv1.CreateRewardRequest{IdempotencyKey: "r", ProgrammeId: "test", Terms: terms})
		if err != nil {
			t.Fatal(err)
		}
		rw := reward.GetReward().GetRewardId()
		redeemed, err := rewards.Redeem(c, &rewardsv1.RedeemRequest{IdempotencyKey: "redeem", MemberId: m, RewardId: rw,
			Channel: typev1.Channel_CHANNEL_POS})
		if err != nil {
			t.Fatal(err)
		}
		voucher := redeemed.GetVoucher()
		partnerID, partnerKey := s.partner(t, "test")
		ref, err := partnersv1.NewPartnerServiceClient(s.conn(t, partnerKey)).LinkMember(c, &partnersv1.LinkMemberRequest{
			IdempotencyKey: "link", CardNumber: "CARD-T"})
		if err != nil {
			t.Fatal(err)
		}
		// The intruders: every role, bound to programme tiered; and a
		// partner of tiered.
		intruder := s.conn(t, s.key(t, "intruder", []string{"pos", "ecommerce", "operator", "bi", "marketing", "service"}, "tiered"))
		_, otherPartnerKey := s.partner(t, "tiered")
		otherPartner := s.conn(t, otherPartnerKey)

		period := func() (*timestamppb.Timestamp, *timestamppb.Timestamp) {
			now := time.Now()
			return timestamppb.New(now.AddDate(0, -1, 0)), timestamppb.New(now)
		}
		from, to := period()
		card := "CARD-T"
		offerTerms := &partnersv1.OfferTerms{Name: "Bonus", Bonus: &partnersv1.OfferTerms_FixedBonus{FixedBonus: &partnersv1.FixedBonus{Points: 10}},
			BudgetPoints: 100}
		answers := &eligibilityv1.Answers{IdentifiesAllCustomers: eligibilityv1.Answer_ANSWER_NO}
		cases := map[string]proto.Message{
			ledgerv1.LedgerService_EnrolMember_FullMethodName:      &ledgerv1.EnrolMemberRequest{IdempotencyKey: "x", ProgrammeId: "test", ExternalRef: "CARD-X"},
			ledgerv1.LedgerService_GetMember_FullMethodName:        &ledgerv1.GetMemberRequest{MemberId: m},
			ledgerv1.LedgerService_FindMember_FullMethodName:       &ledgerv1.FindMemberRequest{ProgrammeId: "test", ExternalRef: card},
			ledgerv1.MemberService_GetMemberProfile_FullMethodName: &ledgerv1.GetMemberProfileRequest{MemberId: m},
			ledgerv1.MemberService_UpdateMember_FullMethodName: &ledgerv1.UpdateMemberRequest{IdempotencyKey: "x", MemberId: m,
				Profile: &ledgerv1.Profile{Name: "Intruder"}},
			ledgerv1.MemberService_AddIdentifier_FullMethodName: &ledgerv1.AddIdentifierRequest{IdempotencyKey: "x", MemberId: m,
				Kind: ledgerv1.IdentifierKind_IDENTIFIER_KIND_APP, Value: "app-x"},
			ledgerv1.MemberService_ReplaceCard_FullMethodName: &ledgerv1.ReplaceCardRequest{IdempotencyKey: "x", MemberId: m, OldCard: card,
				NewCard: "CARD-Y"},
			ledgerv1.MemberService_FindMember_FullMethodName: &ledgerv1.MemberServiceFindMemberRequest{ProgrammeId: "test",
				Kind: ledgerv1.IdentifierKind_IDENTIFIER_KIND_CARD, Value: card},
			ledgerv1.MemberService_EraseMember_FullMethodName: &ledgerv1.EraseMemberRequest{IdempotencyKey: "x", MemberId: m},
			ledgerv1.LedgerService_Earn_FullMethodName: &ledgerv1.EarnRequest{IdempotencyKey: "x", MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
				Basis: &ledgerv1.EarnRequest_Points{Points: 5}},
			ledgerv1.LedgerService_Burn_FullMethodName:    &ledgerv1.BurnRequest{IdempotencyKey: "x", MemberId: m, Points: 5, Channel: typev1.Channel_CHANNEL_POS},
			ledgerv1.LedgerService_Hold_FullMethodName:    &ledgerv1.HoldRequest{IdempotencyKey: "x", MemberId: m, Points: 5, Channel: typev1.Channel_CHANNEL_POS},
			ledgerv1.LedgerService_Capture_FullMethodName: &ledgerv1.CaptureRequest{IdempotencyKey: "x", HoldId: held.GetHold().GetHoldId()},
			ledgerv1.LedgerService_Release_FullMethodName: &ledgerv1.ReleaseRequest{IdempotencyKey: "x", HoldId: held.GetHold().GetHoldId()},
			ledgerv1.LedgerService_Reverse_FullMethodName: &ledgerv1.ReverseRequest{IdempotencyKey: "x", EntryId: earned.GetEntry().GetEntryId(),
				Portion: &ledgerv1.ReverseRequest_Full{Full: true}},
			ledgerv1.LedgerService_GetBalance_FullMethodName:   &ledgerv1.GetBalanceRequest{MemberId: m},
			ledgerv1.LedgerService_ListEntries_FullMethodName:  &ledgerv1.ListEntriesRequest{MemberId: m},
			ledgerv1.LedgerService_GetHold_FullMethodName:      &ledgerv1.GetHoldRequest{HoldId: held.GetHold().GetHoldId()},
			ledgerv1.LedgerService_ListHolds_FullMethodName:    &ledgerv1.ListHoldsRequest{MemberId: m},
			ledgerv1.LedgerService_GetProgramme_FullMethodName: &ledgerv1.GetProgrammeRequest{ProgrammeId: "test"},
			ledgerv1.LedgerService_ReportAnonymousSales_FullMethodName: &ledgerv1.ReportAnonymousSalesRequest{ProgrammeId: "test", StoreId: "s1",
				BusinessDay: &date.Date{Year: 2026, Month: 1, Day: 2}, Transactions: 3},
			ledgerv1.StatusService_GetTierStatus_FullMethodName:  &ledgerv1.GetTierStatusRequest{MemberId: m},
			ledgerv1.StatusService_GetSegment_FullMethodName:     &ledgerv1.GetSegmentRequest{MemberId: m},
			ledgerv1.StatusService_WatchEvents_FullMethodName:    &ledgerv1.WatchEventsRequest{ProgrammeId: "test", Start: watchNow},
			ledgerv1.KpiService_GetKpis_FullMethodName:           &ledgerv1.GetKpisRequest{ProgrammeId: "test", PeriodStart: from, PeriodEnd: to},
			ledgerv1.KpiService_GetChurnRisk_FullMethodName:      &ledgerv1.GetChurnRiskRequest{MemberId: m},
			ledgerv1.KpiService_GetProgrammeStats_FullMethodName: &ledgerv1.GetProgrammeStatsRequest{ProgrammeId: "test"},

			ledgerv1.LedgerAdminService_Adjust_FullMethodName:             &ledgerv1.AdjustRequest{IdempotencyKey: "x", MemberId: m, Points: 5, Reason: "x"},
			ledgerv1.LedgerAdminService_RunExpiry_FullMethodName:          &ledgerv1.RunExpiryRequest{ProgrammeId: "test"},
			ledgerv1.LedgerAdminService_SetTierFloor_FullMethodName:       &ledgerv1.SetTierFloorRequest{IdempotencyKey: "x", MemberId: m, Reason: "x"},
			ledgerv1.LedgerAdminService_EvaluateTiers_FullMethodName:      &ledgerv1.EvaluateTiersRequest{},
			ledgerv1.LedgerAdminService_RecomputeSegments_FullMethodName:  &ledgerv1.RecomputeSegmentsRequest{ProgrammeId: "test"},
			ledgerv1.LedgerAdminService_RunMoments_FullMethodName:         &ledgerv1.RunMomentsRequest{ProgrammeId: "test"},
			ledgerv1.LedgerAdminService_RebuildProjections_FullMethodName: &ledgerv1.RebuildProjectionsRequest{},
			ledgerv1.LedgerAdminService_RefreshKpis_FullMethodName:        &ledgerv1.RefreshKpisRequest{ProgrammeId: "test"},
			ledgerv1.LedgerAdminService_FitChurnModel_FullMethodName:      &ledgerv1.FitChurnModelRequest{ProgrammeId: "test", CalibrationEnd: to},

			ledgerv1.ConsentService_SetConsent_FullMethodName: &ledgerv1.SetConsentRequest{IdempotencyKey: "x", MemberId: m,
				Purpose: ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PROFILING, State: ledgerv1.ConsentState_CONSENT_STATE_GRANTED,
				Source: ledgerv1.ConsentSource_CONSENT_SOURCE_APP, TextVersion: "v1"},
			ledgerv1.ConsentService_GetConsents_FullMethodName:        &ledgerv1.GetConsentsRequest{MemberId: m},
			ledgerv1.ConsentService_ListConsentHistory_FullMethodName: &ledgerv1.ListConsentHistoryRequest{MemberId: m},
			ledgerv1.ConsentService_ClaimContact_FullMethodName: &ledgerv1.ClaimContactRequest{MemberId: m,
				Channel: ledgerv1.ContactChannel_CONTACT_CHANNEL_EMAIL, Scenario: "newsletter", CampaignId: "x"},
			ledgerv1.ConsentService_BatchClaimContacts_FullMethodName: &ledgerv1.BatchClaimContactsRequest{ProgrammeId: "test",
				Channel: ledgerv1.ContactChannel_CONTACT_CHANNEL_EMAIL, Scenario: "newsletter", CampaignId: "x", MemberIds: []string{m}},
			ledgerv1.ConsentService_SetContactExclusion_FullMethodName: &ledgerv1.SetContactExclusionRequest{IdempotencyKey: "x", MemberId: m,
				Reason: "open_complaint"},
			ledgerv1.ConsentService_ClearContactExclusion_FullMethodName: &ledgerv1.ClearContactExclusionRequest{IdempotencyKey: "x", MemberId: m,
				Reason: "open_complaint"},

			ledgerv1.StatusService_ListTierTransitions_FullMethodName:    &ledgerv1.ListTierTransitionsRequest{MemberId: m},
			ledgerv1.StatusService_ListSegmentTransitions_FullMethodName: &ledgerv1.ListSegmentTransitionsRequest{MemberId: m},

			rewardsv1.RewardsService_CreateReward_FullMethodName:          &rewardsv1.CreateRewardRequest{IdempotencyKey: "x", ProgrammeId: "test", Terms: terms},
			rewardsv1.RewardsService_UpdateReward_FullMethodName:          &rewardsv1.UpdateRewardRequest{IdempotencyKey: "x", Reward: &rewardsv1.Reward{RewardId: rw, Terms: terms}},
			rewardsv1.RewardsService_DeactivateReward_FullMethodName:      &rewardsv1.DeactivateRewardRequest{IdempotencyKey: "x", RewardId: rw},
			rewardsv1.RewardsService_GetReward_FullMethodName:             &rewardsv1.GetRewardRequest{RewardId: rw},
			rewardsv1.RewardsService_ListRewards_FullMethodName:           &rewardsv1.ListRewardsRequest{ProgrammeId: "test"},
			rewardsv1.RewardsService_ListEligibleRewards_FullMethodName:   &rewardsv1.ListEligibleRewardsRequest{MemberId: m},
			rewardsv1.RewardsService_ListMemberRedemptions_FullMethodName: &rewardsv1.ListMemberRedemptionsRequest{MemberId: m},
			rewardsv1.RewardsService_Redeem_FullMethodName: &rewardsv1.RedeemRequest{IdempotencyKey: "x", MemberId: m, RewardId: rw,
				Channel: typev1.Channel_CHANNEL_POS},
			rewardsv1.RewardsService_CancelRedemption_FullMethodName: &rewardsv1.CancelRedemptionRequest{IdempotencyKey: "x",
				RedemptionId: voucher.GetRedemptionId()},
			rewardsv1.RewardsService_ValidateVoucher_FullMethodName: &rewardsv1.ValidateVoucherRequest{Code: voucher.GetCode(),
				Channel: typev1.Channel_CHANNEL_POS},
			rewardsv1.RewardsService_ConsumeVoucher_FullMethodName: &rewardsv1.ConsumeVoucherRequest{IdempotencyKey: "x", Code: voucher.GetCode(),
				Channel: typev1.Channel_CHANNEL_POS},

			partnersv1.PartnerService_LinkMember_FullMethodName: &partnersv1.LinkMemberRequest{IdempotencyKey: "x", CardNumber: card,
				ProgrammeId: "test"},
			partnersv1.PartnerService_GetMemberBalance_FullMethodName: &partnersv1.GetMemberBalanceRequest{MemberRef: ref.GetMemberRef()},
			partnersv1.PartnerService_Earn_FullMethodName: &partnersv1.EarnRequest{IdempotencyKey: "x", MemberRef: ref.GetMemberRef(),
				Amount: &partnersv1.EarnRequest_Money{Money: &typev1.Money{Amount: "10", CurrencyCode: "EUR"}}},
			partnersv1.PartnerService_Burn_FullMethodName:       &partnersv1.BurnRequest{IdempotencyKey: "x", MemberRef: ref.GetMemberRef(), Points: 1},
			partnersv1.PartnerService_ListOffers_FullMethodName: &partnersv1.ListOffersRequest{MemberRef: ref.GetMemberRef()},
			partnersv1.PartnerService_GetStatement_FullMethodName: &partnersv1.GetStatementRequest{PartnerId: partnerID, PeriodStart: from,
				PeriodEnd: to},
			partnersv1.PartnerAdminService_CreatePartner_FullMethodName: &partnersv1.CreatePartnerRequest{IdempotencyKey: "x", Name: "X",
				ProgrammeId: "test", EarnUnit: partnersv1.EarnUnit_EARN_UNIT_CURRENCY, EarnCurrencyCode: "EUR", EarnRate: "1",
				PricePerPoint: &typev1.Money{Amount: "0.01", CurrencyCode: "EUR"},
				ValuePerPoint: &typev1.Money{Amount: "0.01", CurrencyCode: "EUR"}},
			partnersv1.PartnerAdminService_RotatePartnerKey_FullMethodName: &partnersv1.RotatePartnerKeyRequest{IdempotencyKey: "x",
				PartnerId: partnerID},
			partnersv1.PartnerAdminService_GetPartner_FullMethodName: &partnersv1.GetPartnerRequest{PartnerId: partnerID},
			partnersv1.PartnerAdminService_CreateOffer_FullMethodName: &partnersv1.CreateOfferRequest{IdempotencyKey: "x", PartnerId: partnerID,
				Terms: offerTerms},
			partnersv1.PartnerAdminService_GetPartnerStatement_FullMethodName: &partnersv1.GetPartnerStatementRequest{PartnerId: partnerID,
				PeriodStart: from, PeriodEnd: to},
			partnersv1.PartnerAdminService_ListAudit_FullMethodName:           &partnersv1.ListAuditRequest{},
			partnersv1.PartnerAdminService_ListProgrammeOffers_FullMethodName: &partnersv1.ListProgrammeOffersRequest{ProgrammeId: "test"},

			eligibilityv1.EligibilityService_GetQuestions_FullMethodName: &eligibilityv1.GetQuestionsRequest{ProgrammeId: "test"},
			eligibilityv1.EligibilityService_SelfTest_FullMethodName:     &eligibilityv1.SelfTestRequest{ProgrammeId: "test", Answers: answers},

			accessv1.AccessService_CreatePrincipal_FullMethodName: &accessv1.CreatePrincipalRequest{IdempotencyKey: "x", Principal: &accessv1.Principal{
				PrincipalId: "x", Roles: []accessv1.Role{accessv1.Role_ROLE_POS}, Programmes: []string{"test"}}},
			accessv1.AccessService_GetPrincipal_FullMethodName:   &accessv1.GetPrincipalRequest{PrincipalId: "insider"},
			accessv1.AccessService_ListPrincipals_FullMethodName: &accessv1.ListPrincipalsRequest{},
			accessv1.AccessService_UpdatePrincipal_FullMethodName: &accessv1.UpdatePrincipalRequest{IdempotencyKey: "x",
				Principal:  &accessv1.Principal{PrincipalId: "intruder", Roles: []accessv1.Role{accessv1.Role_ROLE_POS}, Programmes: []string{"*"}},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"programmes"}}},
			accessv1.AccessService_CreateApiKey_FullMethodName:               &accessv1.CreateApiKeyRequest{IdempotencyKey: "x", PrincipalId: "insider"},
			accessv1.AccessService_ListApiKeys_FullMethodName:                &accessv1.ListApiKeysRequest{},
			accessv1.AccessService_RotateApiKey_FullMethodName:               &accessv1.RotateApiKeyRequest{IdempotencyKey: "x", KeyId: "fk_x"},
			accessv1.AccessService_RevokeApiKey_FullMethodName:               &accessv1.RevokeApiKeyRequest{IdempotencyKey: "x", KeyId: "fk_x"},
			accessv1.AccessService_ListAuditRecords_FullMethodName:           &accessv1.ListAuditRecordsRequest{},
			accessv1.AccessService_ListAuthenticationFailures_FullMethodName: &accessv1.ListAuthenticationFailuresRequest{},
		}
		s.audit(t) // written so far
		s.settle(t)
		before, refusedBefore := rowCounts(t, db), refusalsStored(t, db)
		tried := map[string]bool{}
		for _, m := range s.methods(t) {
			if !strings.HasPrefix(m.full, "/fidelis.") {
				continue
			}
			req, ok := cases[m.full]
			if !ok {
				t.Errorf("%s: no case: add a request touching programme test's data", m.full)
				continue
			}
			tried[m.full] = true
			conn := intruder
			if strings.HasPrefix(m.full, "/fidelis.partners.v1.PartnerService/") {
				conn = otherPartner
			}
			// A key of its own for every call: a refusal is stored under
			// its key, which then refuses any other request.
			if f := req.ProtoReflect().Descriptor().Fields().ByName("idempotency_key"); f != nil {
				req.ProtoReflect().Set(f, protoreflect.ValueOfString("denied:"+m.full))
			}
			if err := invoke(ctx(t), conn, m, req); status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s from programme tiered: %v, want PermissionDenied", m.full, err)
			}
		}
		for m := range cases {
			if !tried[m] {
				t.Errorf("case for %s, which no service serves", m)
			}
		}
		sameRowsButRefusals(t, before, rowCounts(t, db), refusedBefore, refusalsStored(t, db))
		audited := map[string]bool{}
		for _, r := range s.audit(t) {
			if r.Code == "PermissionDenied" && (r.Principal == "intruder" || r.OnBehalfOf == "intruder" || strings.HasPrefix(r.Principal, "partner:")) {
				audited["/"+r.Method] = true
			}
		}
		for m := range tried {
			if !audited[m] {
				t.Errorf("%s: the denied call is not audited", m)
			}
		}
	})
}

// A service acting for a principal is bound to that principal's
// programmes: a POS of programme tiered redeeming, through the rewards
// service, a reward of tiered for a member of programme test is refused by
// the ledger (the rewards service's own credential reaches every
// programme) and nothing is written; the audit names both.
func TestServiceCallCarriesTheCallersProgramme(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		s := start(t, db, nil)
		c := ctx(t)
		ops := s.conn(t, s.key(t, "ops", []string{"pos", "operator"}))
		enrolled, err := ledgerv1.NewLedgerServiceClient(ops).EnrolMember(c, &ledgerv1.EnrolMemberRequest{IdempotencyKey: "e",
			ProgrammeId: "test", ExternalRef: "CARD-T"})
		if err != nil {
			t.Fatal(err)
		}
		m := enrolled.GetMember().GetMemberId()
		if _, err := ledgerv1.NewLedgerServiceClient(ops).Earn(c, &ledgerv1.EarnRequest{IdempotencyKey: "earn", MemberId: m,
			Channel: typev1.Channel_CHANNEL_POS, Basis: &ledgerv1.EarnRequest_Points{Points: 500}}); err != nil {
			t.Fatal(err)
		}
		reward, err := rewardsv1.NewRewardsServiceClient(ops).CreateReward(c, &rewardsv1.CreateRewardRequest{IdempotencyKey: "r",
			ProgrammeId: "tiered", Terms: &rewardsv1.RewardTerms{Name: "Mug", PointsCost: 100, Benefit: &rewardsv1.Benefit{Kind: &rewardsv1.Benefit_FreeProductSku{FreeProductSku: "MUG"}}, VoucherValidity: durationpb.New(time.Hour), StockTotal: 5}})
		if err != nil {
			t.Fatal(err)
		}
		pos := rewardsv1.NewRewardsServiceClient(s.conn(t, s.key(t, "pos-tiered", []string{"pos"}, "tiered")))
		s.audit(t)
		s.settle(t)
		before, refusedBefore := rowCounts(t, db), refusalsStored(t, db)
		_, err = pos.Redeem(c, &rewardsv1.RedeemRequest{IdempotencyKey: "steal", MemberId: m, RewardId: reward.GetReward().GetRewardId(),
			Channel: typev1.Channel_CHANNEL_POS})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("redeem for another programme's member: %v, want PermissionDenied", err)
		}
		refused := refusalsStored(t, db)
		if refused["rewards_idempotency"] != refusedBefore["rewards_idempotency"]+1 {
			t.Fatalf("the refusal is not stored under its key: %v, were %v", refused, refusedBefore)
		}
		sameRowsButRefusals(t, before, rowCounts(t, db), refusedBefore, refused)
		var ledgerDenied, rewardsDenied bool
		for _, r := range s.audit(t) {
			ledgerDenied = ledgerDenied || r.Method == "fidelis.ledger.v1.LedgerService/GetMember" && r.Principal == "fidelis-rewards" &&
				r.OnBehalfOf == "pos-tiered" && r.Code == "PermissionDenied"
			rewardsDenied = rewardsDenied || r.Method == "fidelis.rewards.v1.RewardsService/Redeem" && r.Principal == "pos-tiered" &&
				r.Code == "PermissionDenied"
		}
		if !ledgerDenied || !rewardsDenied {
			t.Fatalf("audit: the ledger's denial %v, the rewards' %v", ledgerDenied, rewardsDenied)
		}
	})
}
