package grpcapi

import (
	"context"

	"google.golang.org/grpc"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/ledger/app/members"
)

// MembersServiceName is the members' personal data service's fully
// qualified gRPC service name.
const MembersServiceName = "fidelis.ledger.v1.MemberService"

// Members implements fidelis.ledger.v1.MemberService.
type Members struct {
	ledgerv1.UnimplementedMemberServiceServer
	vault *members.Service
}

// RegisterMembers adds MemberService to a gRPC server.
func RegisterMembers(s grpc.ServiceRegistrar, v *members.Service) {
	ledgerv1.RegisterMemberServiceServer(s, &Members{vault: v})
}

var kinds = map[ledgerv1.IdentifierKind]string{
	ledgerv1.IdentifierKind_IDENTIFIER_KIND_CARD:  members.KindCard,
	ledgerv1.IdentifierKind_IDENTIFIER_KIND_APP:   members.KindApp,
	ledgerv1.IdentifierKind_IDENTIFIER_KIND_EMAIL: members.KindEmail,
	ledgerv1.IdentifierKind_IDENTIFIER_KIND_PHONE: members.KindPhone,
}

func kindToProto(k string) ledgerv1.IdentifierKind {
	for p, v := range kinds {
		if v == k {
			return p
		}
	}
	return ledgerv1.IdentifierKind_IDENTIFIER_KIND_UNSPECIFIED
}

func profileToProto(m *members.Member) *ledgerv1.MemberProfile {
	out := &ledgerv1.MemberProfile{MemberId: m.ID, ProgrammeId: m.ProgrammeID, Version: m.Version, Erased: m.Erased,
		Profile: &ledgerv1.Profile{Name: m.Profile.Name, Emails: m.Profile.Emails, Phones: m.Profile.Phones,
			BirthDate: dateToProto(m.Profile.BirthDate), PreferredStore: m.Profile.PreferredStore, Language: m.Profile.Language}}
	for _, id := range m.Identifiers {
		out.Identifiers = append(out.Identifiers, &ledgerv1.Identifier{IdentifierId: id.ID, Kind: kindToProto(id.Kind), Value: id.Value,
			CreateTime: ts(id.CreatedAt), ReplacedTime: ts(id.ReplacedAt)})
	}
	return out
}

func (s *Members) GetMemberProfile(ctx context.Context, r *ledgerv1.GetMemberProfileRequest) (*ledgerv1.GetMemberProfileResponse, error) {
	m, err := s.vault.Get(ctx, principal.Of(ctx), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.GetMemberProfileResponse{Member: profileToProto(m)}, nil
}

func (s *Members) UpdateMember(ctx context.Context, r *ledgerv1.UpdateMemberRequest) (*ledgerv1.UpdateMemberResponse, error) {
	p := r.GetProfile()
	m, err := s.vault.UpdateMember(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetMemberId(), members.Profile{
		Name: p.GetName(), Emails: p.GetEmails(), Phones: p.GetPhones(), BirthDate: dateFromProto(p.GetBirthDate()),
		PreferredStore: p.GetPreferredStore(), Language: p.GetLanguage(),
	}, r.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.UpdateMemberResponse{Member: profileToProto(m)}, nil
}

func (s *Members) AddIdentifier(ctx context.Context, r *ledgerv1.AddIdentifierRequest) (*ledgerv1.AddIdentifierResponse, error) {
	m, err := s.vault.AddIdentifier(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetMemberId(), kinds[r.GetKind()], r.GetValue())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.AddIdentifierResponse{Member: profileToProto(m)}, nil
}

func (s *Members) ReplaceCard(ctx context.Context, r *ledgerv1.ReplaceCardRequest) (*ledgerv1.ReplaceCardResponse, error) {
	m, err := s.vault.ReplaceCard(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetMemberId(), r.GetOldCard(), r.GetNewCard())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.ReplaceCardResponse{Member: profileToProto(m)}, nil
}

func (s *Members) FindMember(ctx context.Context, r *ledgerv1.MemberServiceFindMemberRequest) (*ledgerv1.MemberServiceFindMemberResponse, error) {
	m, err := s.vault.FindMember(ctx, principal.Of(ctx), r.GetProgrammeId(), kinds[r.GetKind()], r.GetValue())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.MemberServiceFindMemberResponse{Member: profileToProto(m)}, nil
}

func (s *Members) EraseMember(ctx context.Context, r *ledgerv1.EraseMemberRequest) (*ledgerv1.EraseMemberResponse, error) {
	e, err := s.vault.EraseMember(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetMemberId())
	if err != nil {
		return nil, err
	}
	return &ledgerv1.EraseMemberResponse{MemberId: e.MemberID, EraseTime: ts(e.At)}, nil
}
