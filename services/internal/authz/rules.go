package authz

import (
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	rewardsv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/rewards/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// Scope says how a call is bound to the programmes of its principal.
type Scope int

// The scopes.
const (
	// ProgrammeField: the request's programme_id must be one of the
	// principal's; an empty one means every programme, which only a
	// principal bound to every programme may ask for.
	ProgrammeField Scope = iota + 1
	// OptionalProgrammeField: as ProgrammeField, but an empty programme_id
	// reads no programme's data.
	OptionalProgrammeField
	// Resource: the request names a member, hold, entry, reward, voucher,
	// redemption or partner; the service checks its programme as it loads
	// it, in the same transaction, and a call on another programme's
	// resource is PermissionDenied and writes nothing.
	Resource
	// Everything: the whole installation; only principals bound to every
	// programme.
	Everything
	// NoData: no programme's data (health, reflection).
	NoData
)

func (s Scope) String() string {
	switch s {
	case ProgrammeField:
		return "programme_id"
	case OptionalProgrammeField:
		return "programme_id, if any"
	case Resource:
		return "what it names"
	case Everything:
		return "all programmes"
	case NoData:
		return "-"
	}
	return "?"
}

// Rule is who may call one RPC.
type Rule struct {
	// Roles may call it.
	Roles []principal.Role
	// AnyRole lets any authenticated principal call it.
	AnyRole bool
	// Public needs no credential at all (health checks only).
	Public bool
	// Write marks a mutation: audited whatever its outcome.
	Write bool
	Scope Scope
	// Check refuses, as PermissionDenied, a request beyond the principal's
	// limits.
	Check func(p principal.Principal, req any) error
}

// Rules are the access rules of every RPC of every Fidelis service, keyed
// by full method name. An RPC without a rule is refused (and the
// descriptor-driven test fails): deny by default. The README's Security
// section is this table.
func Rules() map[string]Rule {
	const (
		pos       = principal.POS
		ecommerce = principal.Ecommerce
		operator  = principal.Operator
		bi        = principal.BI
		marketing = principal.Marketing
		service   = principal.Service
		partner   = principal.Partner
		importer  = principal.Import
		customer  = principal.CustomerService
	)
	roles := func(rs ...principal.Role) []principal.Role { return rs }
	till := roles(pos, ecommerce, service)                          // the shop's channels and the services acting for them
	front := roles(pos, ecommerce, operator, service)               // and the back office
	enrolEarn := roles(pos, ecommerce, operator, service, importer) // and a programme moving in
	read := func(s Scope, rs ...principal.Role) Rule { return Rule{Roles: rs, Scope: s} }
	write := func(s Scope, rs ...principal.Role) Rule { return Rule{Roles: rs, Scope: s, Write: true} }
	withCheck := func(r Rule, c func(principal.Principal, any) error) Rule { r.Check = c; return r }
	ops := write(Everything, operator)
	opsRead := read(Everything, operator)

	return map[string]Rule{
		// Health checks carry no credential (load balancers, kubelet).
		grpc_health_v1.Health_Check_FullMethodName:                             {Public: true, Scope: NoData},
		grpc_health_v1.Health_Watch_FullMethodName:                             {Public: true, Scope: NoData},
		grpc_health_v1.Health_List_FullMethodName:                              {Public: true, Scope: NoData},
		reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      {AnyRole: true, Scope: NoData},
		reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: {AnyRole: true, Scope: NoData},

		ledgerv1.LedgerService_EnrolMember_FullMethodName:          write(ProgrammeField, enrolEarn...),
		ledgerv1.LedgerService_GetMember_FullMethodName:            read(Resource, pos, ecommerce, operator, service, customer),
		ledgerv1.LedgerService_FindMember_FullMethodName:           read(ProgrammeField, front...),
		ledgerv1.LedgerService_Earn_FullMethodName:                 withCheck(write(Resource, enrolEarn...), checkEarn),
		ledgerv1.LedgerService_Burn_FullMethodName:                 withCheck(write(Resource, till...), checkBurn),
		ledgerv1.LedgerService_Hold_FullMethodName:                 write(Resource, till...),
		ledgerv1.LedgerService_Capture_FullMethodName:              write(Resource, till...),
		ledgerv1.LedgerService_Release_FullMethodName:              write(Resource, till...),
		ledgerv1.LedgerService_Reverse_FullMethodName:              write(Resource, front...),
		ledgerv1.LedgerService_GetBalance_FullMethodName:           read(Resource, front...),
		ledgerv1.LedgerService_ListEntries_FullMethodName:          read(Resource, front...),
		ledgerv1.LedgerService_GetHold_FullMethodName:              read(Resource, front...),
		ledgerv1.LedgerService_ListHolds_FullMethodName:            read(Resource, front...),
		ledgerv1.LedgerService_GetProgramme_FullMethodName:         read(ProgrammeField, pos, ecommerce, operator, bi, marketing, service),
		ledgerv1.LedgerService_ReportAnonymousSales_FullMethodName: write(ProgrammeField, pos, operator),

		// Consents: written by the channels a member gives them through and
		// the back office, read by them and marketing; the history (who
		// recorded what, when) by operators. Contact pressure: marketing.
		ledgerv1.ConsentService_SetConsent_FullMethodName:            write(Resource, front...),
		ledgerv1.ConsentService_GetConsents_FullMethodName:           read(Resource, pos, ecommerce, operator, marketing, service, customer),
		ledgerv1.ConsentService_ListConsentHistory_FullMethodName:    read(Resource, operator),
		ledgerv1.ConsentService_ClaimContact_FullMethodName:          write(Resource, operator, marketing),
		ledgerv1.ConsentService_BatchClaimContacts_FullMethodName:    write(ProgrammeField, operator, marketing),
		ledgerv1.ConsentService_SetContactExclusion_FullMethodName:   write(Resource, operator, marketing),
		ledgerv1.ConsentService_ClearContactExclusion_FullMethodName: write(Resource, operator, marketing),

		// The members' personal data: customer service reads and corrects
		// profiles; erasure is the back office's alone.
		ledgerv1.MemberService_GetMemberProfile_FullMethodName: read(Resource, pos, ecommerce, operator, customer),
		ledgerv1.MemberService_UpdateMember_FullMethodName:     write(Resource, pos, ecommerce, operator, customer),
		ledgerv1.MemberService_AddIdentifier_FullMethodName:    write(Resource, pos, ecommerce, operator, customer),
		ledgerv1.MemberService_ReplaceCard_FullMethodName:      write(Resource, pos, ecommerce, operator, customer),
		ledgerv1.MemberService_FindMember_FullMethodName:       read(ProgrammeField, pos, ecommerce, operator, customer),
		ledgerv1.MemberService_EraseMember_FullMethodName:      write(Resource, operator),

		ledgerv1.StatusService_GetTierStatus_FullMethodName: read(Resource, pos, ecommerce, operator, marketing, service),
		ledgerv1.StatusService_GetSegment_FullMethodName:    read(Resource, operator, marketing, service),
		ledgerv1.StatusService_WatchEvents_FullMethodName:   read(Resource, operator, marketing, service),
		// The histories, paged: who may read the tier or segment.
		ledgerv1.StatusService_ListTierTransitions_FullMethodName:    read(Resource, pos, ecommerce, operator, marketing, service),
		ledgerv1.StatusService_ListSegmentTransitions_FullMethodName: read(Resource, operator, marketing, service),

		ledgerv1.KpiService_GetKpis_FullMethodName:           read(ProgrammeField, bi, operator),
		ledgerv1.KpiService_GetChurnRisk_FullMethodName:      read(Resource, bi, marketing, operator),
		ledgerv1.KpiService_GetProgrammeStats_FullMethodName: read(ProgrammeField, bi, operator, service),

		// Administration: operators only (and BI, to fit a churn model).
		// The batch work starts long-running operations, read through
		// google.longrunning.Operations: by whoever started them, and by
		// operators bound to their programme (the service checks).
		ledgerv1.LedgerAdminService_Adjust_FullMethodName:             withCheck(write(Resource, operator), checkAdjust),
		ledgerv1.LedgerAdminService_SetTierFloor_FullMethodName:       write(Resource, operator),
		ledgerv1.LedgerAdminService_RunExpiry_FullMethodName:          write(ProgrammeField, operator),
		ledgerv1.LedgerAdminService_EvaluateTiers_FullMethodName:      ops,
		ledgerv1.LedgerAdminService_RecomputeSegments_FullMethodName:  write(ProgrammeField, operator),
		ledgerv1.LedgerAdminService_RunMoments_FullMethodName:         write(ProgrammeField, operator),
		ledgerv1.LedgerAdminService_RebuildProjections_FullMethodName: ops,
		ledgerv1.LedgerAdminService_RefreshKpis_FullMethodName:        write(ProgrammeField, operator),
		ledgerv1.LedgerAdminService_FitChurnModel_FullMethodName:      write(ProgrammeField, bi, operator),
		longrunningpb.Operations_GetOperation_FullMethodName:          read(Resource, operator, bi),
		longrunningpb.Operations_ListOperations_FullMethodName:        read(Resource, operator, bi),
		longrunningpb.Operations_WaitOperation_FullMethodName:         read(Resource, operator, bi),
		longrunningpb.Operations_CancelOperation_FullMethodName:       write(Resource, operator),
		longrunningpb.Operations_DeleteOperation_FullMethodName:       write(Resource, operator),

		rewardsv1.RewardsService_CreateReward_FullMethodName:          write(ProgrammeField, operator),
		rewardsv1.RewardsService_UpdateReward_FullMethodName:          write(Resource, operator),
		rewardsv1.RewardsService_DeactivateReward_FullMethodName:      write(Resource, operator),
		rewardsv1.RewardsService_GetReward_FullMethodName:             read(Resource, pos, ecommerce, operator, marketing, service),
		rewardsv1.RewardsService_ListRewards_FullMethodName:           read(ProgrammeField, pos, ecommerce, operator, marketing, service),
		rewardsv1.RewardsService_ListEligibleRewards_FullMethodName:   read(Resource, front...),
		rewardsv1.RewardsService_Redeem_FullMethodName:                write(Resource, till...),
		rewardsv1.RewardsService_CancelRedemption_FullMethodName:      write(Resource, front...),
		rewardsv1.RewardsService_ValidateVoucher_FullMethodName:       read(Resource, pos, ecommerce),
		rewardsv1.RewardsService_ConsumeVoucher_FullMethodName:        write(Resource, pos, ecommerce),
		rewardsv1.RewardsService_ListMemberRedemptions_FullMethodName: read(Resource, pos, ecommerce, operator, customer),

		partnersv1.PartnerService_LinkMember_FullMethodName:       write(Resource, partner),
		partnersv1.PartnerService_GetMemberBalance_FullMethodName: read(Resource, partner),
		partnersv1.PartnerService_Earn_FullMethodName:             write(Resource, partner),
		partnersv1.PartnerService_Burn_FullMethodName:             write(Resource, partner),
		partnersv1.PartnerService_ListOffers_FullMethodName:       read(Resource, partner),
		partnersv1.PartnerService_GetStatement_FullMethodName:     read(Resource, partner),

		partnersv1.PartnerAdminService_CreatePartner_FullMethodName:       write(ProgrammeField, operator),
		partnersv1.PartnerAdminService_RotatePartnerKey_FullMethodName:    write(Resource, operator),
		partnersv1.PartnerAdminService_GetPartner_FullMethodName:          read(Resource, operator),
		partnersv1.PartnerAdminService_CreateOffer_FullMethodName:         write(Resource, operator),
		partnersv1.PartnerAdminService_GetPartnerStatement_FullMethodName: read(Resource, operator, bi),
		partnersv1.PartnerAdminService_ListAudit_FullMethodName:           opsRead,
		partnersv1.PartnerAdminService_ListProgrammeOffers_FullMethodName: read(ProgrammeField, operator, marketing, service),

		eligibilityv1.EligibilityService_GetQuestions_FullMethodName: read(OptionalProgrammeField, operator, bi, marketing),
		eligibilityv1.EligibilityService_SelfTest_FullMethodName:     read(OptionalProgrammeField, operator, bi, marketing),

		accessv1.AccessService_CreatePrincipal_FullMethodName:            ops,
		accessv1.AccessService_GetPrincipal_FullMethodName:               opsRead,
		accessv1.AccessService_ListPrincipals_FullMethodName:             opsRead,
		accessv1.AccessService_UpdatePrincipal_FullMethodName:            ops,
		accessv1.AccessService_CreateApiKey_FullMethodName:               ops,
		accessv1.AccessService_ListApiKeys_FullMethodName:                opsRead,
		accessv1.AccessService_RotateApiKey_FullMethodName:               ops,
		accessv1.AccessService_RevokeApiKey_FullMethodName:               ops,
		accessv1.AccessService_ListAuditRecords_FullMethodName:           opsRead,
		accessv1.AccessService_ListAuthenticationFailures_FullMethodName: opsRead,
	}
}

// checkEarn bounds an Earn of explicit points by the principal's limit, and
// lets only a service charge a partner's account.
func checkEarn(p principal.Principal, req any) error {
	r := req.(*ledgerv1.EarnRequest)
	if n := r.GetPoints(); n > p.Limits.MaxEarnPoints {
		return fault.Denied(fault.LimitExceeded, "principal %s may earn at most %d explicit points in one call, not %d", p.Actor(), p.Limits.MaxEarnPoints, n)
	}
	return checkPartnerAccount(p, r.GetPartnerId())
}

func checkBurn(p principal.Principal, req any) error {
	return checkPartnerAccount(p, req.(*ledgerv1.BurnRequest).GetPartnerId())
}

// checkPartnerAccount: a partner's account is charged or credited by the
// partners service only, and, when it acts for a partner, for that partner
// only.
func checkPartnerAccount(p principal.Principal, partnerID string) error {
	switch {
	case partnerID == "":
		return nil
	case !p.Has(principal.Service):
		return fault.Denied(fault.PartnerAccountForbidden, "principal %s may not move points to or from a partner's account", p.Actor())
	case p.PartnerID != "" && p.PartnerID != partnerID:
		return fault.Denied(fault.PartnerAccountForbidden, "principal %s may not move points of partner %s", p.Actor(), partnerID)
	}
	return nil
}

func checkAdjust(p principal.Principal, req any) error {
	n := req.(*ledgerv1.AdjustRequest).GetPoints()
	if n < 0 {
		n = -n
	}
	if n > p.Limits.MaxAdjustPoints {
		return fault.Denied(fault.LimitExceeded, "principal %s may adjust by at most %d points in one call, not %d", p.Actor(), p.Limits.MaxAdjustPoints, n)
	}
	return nil
}
