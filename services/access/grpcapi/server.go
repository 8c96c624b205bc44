// Package grpcapi is the access service's gRPC edge: AccessService, for
// operators, over the access app.
package grpcapi

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	"github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/access/domain"
	"github.com/fidelis-loyalty/fidelis/services/internal/audit/auditpb"
	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
)

// ServiceName is AccessService's fully qualified name.
const ServiceName = "fidelis.access.v1.AccessService"

// Server implements fidelis.access.v1.AccessService.
type Server struct {
	accessv1.UnimplementedAccessServiceServer
	app *app.Service
}

// Register adds AccessService to a gRPC server.
func Register(s grpc.ServiceRegistrar, a *app.Service) {
	accessv1.RegisterAccessServiceServer(s, &Server{app: a})
}

var roles = map[accessv1.Role]principal.Role{
	accessv1.Role_ROLE_POS:              principal.POS,
	accessv1.Role_ROLE_ECOMMERCE:        principal.Ecommerce,
	accessv1.Role_ROLE_OPERATOR:         principal.Operator,
	accessv1.Role_ROLE_BI:               principal.BI,
	accessv1.Role_ROLE_MARKETING:        principal.Marketing,
	accessv1.Role_ROLE_SERVICE:          principal.Service,
	accessv1.Role_ROLE_PARTNER:          principal.Partner,
	accessv1.Role_ROLE_IMPORT:           principal.Import,
	accessv1.Role_ROLE_CUSTOMER_SERVICE: principal.CustomerService,
}

func rolesFromProto(rs []accessv1.Role) []principal.Role {
	out := make([]principal.Role, 0, len(rs))
	for _, r := range rs {
		out = append(out, roles[r])
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func limitsFromProto(l *accessv1.Limits) *principal.Limits {
	if l == nil {
		return nil
	}
	return &principal.Limits{MaxEarnPoints: l.GetMaxEarnPoints(), MaxAdjustPoints: l.GetMaxAdjustPoints(), RatePerSecond: l.GetRequestsPerSecond()}
}

func principalToProto(p *domain.Principal) *accessv1.Principal {
	out := &accessv1.Principal{
		PrincipalId: p.ID, Programmes: p.Programmes, PartnerId: p.PartnerID,
		Limits: &accessv1.Limits{MaxEarnPoints: p.Limits.MaxEarnPoints, MaxAdjustPoints: p.Limits.MaxAdjustPoints,
			RequestsPerSecond: p.Limits.RatePerSecond},
		CreateTime: ts(p.CreatedAt), CreatedBy: p.CreatedBy, UpdateTime: ts(p.UpdatedAt),
	}
	for _, r := range p.Roles {
		for k, v := range roles {
			if v == r {
				out.Roles = append(out.Roles, k)
			}
		}
	}
	slices.Sort(out.Roles)
	return out
}

var keyStates = map[domain.State]accessv1.ApiKeyState{
	domain.Active:  accessv1.ApiKeyState_API_KEY_STATE_ACTIVE,
	domain.Expired: accessv1.ApiKeyState_API_KEY_STATE_EXPIRED,
	domain.Revoked: accessv1.ApiKeyState_API_KEY_STATE_REVOKED,
}

func (s *Server) keyToProto(k *domain.Key) *accessv1.ApiKey {
	if k == nil {
		return nil
	}
	return &accessv1.ApiKey{
		KeyId: k.ID, PrincipalId: k.PrincipalID, State: keyStates[s.app.KeyState(k)], CreateTime: ts(k.CreatedAt),
		CreatedBy: k.CreatedBy, ExpireTime: ts(k.ExpiresAt), RevokeTime: ts(k.RevokedAt), ReplacedBy: k.ReplacedBy,
	}
}

func (s *Server) CreatePrincipal(ctx context.Context, r *accessv1.CreatePrincipalRequest) (*accessv1.CreatePrincipalResponse, error) {
	p := r.GetPrincipal()
	made, err := s.app.CreatePrincipal(ctx, principal.Of(ctx), r.GetIdempotencyKey(), app.NewPrincipal{
		ID: p.GetPrincipalId(), Roles: rolesFromProto(p.GetRoles()), Programmes: p.GetProgrammes(), Limits: limitsFromProto(p.GetLimits()),
	})
	if err != nil {
		return nil, err
	}
	return &accessv1.CreatePrincipalResponse{Principal: principalToProto(made)}, nil
}

func (s *Server) GetPrincipal(ctx context.Context, r *accessv1.GetPrincipalRequest) (*accessv1.GetPrincipalResponse, error) {
	p, err := s.app.Principal(ctx, r.GetPrincipalId())
	if err != nil {
		return nil, err
	}
	return &accessv1.GetPrincipalResponse{Principal: principalToProto(p)}, nil
}

func (s *Server) ListPrincipals(ctx context.Context, r *accessv1.ListPrincipalsRequest) (*accessv1.ListPrincipalsResponse, error) {
	ps, next, err := s.app.Principals(ctx, r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, err
	}
	resp := &accessv1.ListPrincipalsResponse{NextPageToken: next}
	for _, p := range ps {
		resp.Principals = append(resp.Principals, principalToProto(p))
	}
	return resp, nil
}

func (s *Server) UpdatePrincipal(ctx context.Context, r *accessv1.UpdatePrincipalRequest) (*accessv1.UpdatePrincipalResponse, error) {
	p := r.GetPrincipal()
	u := app.PrincipalUpdate{ID: p.GetPrincipalId()}
	for _, path := range r.GetUpdateMask().GetPaths() {
		switch path {
		case "roles":
			u.Roles = rolesFromProto(p.GetRoles())
		case "programmes":
			u.Programmes = slices.Clone(p.GetProgrammes())
		case "limits":
			if u.Limits = limitsFromProto(p.GetLimits()); u.Limits == nil {
				u.Limits = &principal.Limits{}
			}
		default:
			return nil, fault.Invalid("update_mask", "path %q: want roles, programmes or limits", path)
		}
	}
	if len(r.GetUpdateMask().GetPaths()) == 0 {
		return nil, fault.Invalid("update_mask", "names nothing to change")
	}
	made, err := s.app.UpdatePrincipal(ctx, principal.Of(ctx), r.GetIdempotencyKey(), u)
	if err != nil {
		return nil, err
	}
	return &accessv1.UpdatePrincipalResponse{Principal: principalToProto(made)}, nil
}

func (s *Server) CreateApiKey(ctx context.Context, r *accessv1.CreateApiKeyRequest) (*accessv1.CreateApiKeyResponse, error) {
	k, err := s.app.CreateKey(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetPrincipalId(), r.GetTtl().AsDuration())
	if err != nil {
		return nil, err
	}
	return &accessv1.CreateApiKeyResponse{Key: s.keyToProto(k.Key), SecretKey: k.Secret}, nil
}

func (s *Server) ListApiKeys(ctx context.Context, r *accessv1.ListApiKeysRequest) (*accessv1.ListApiKeysResponse, error) {
	keys, next, err := s.app.Keys(ctx, r.GetPrincipalId(), r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, err
	}
	resp := &accessv1.ListApiKeysResponse{NextPageToken: next}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, s.keyToProto(k))
	}
	return resp, nil
}

func (s *Server) RotateApiKey(ctx context.Context, r *accessv1.RotateApiKeyRequest) (*accessv1.RotateApiKeyResponse, error) {
	k, err := s.app.RotateKey(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetKeyId(), r.GetOverlap().AsDuration(), r.GetTtl().AsDuration())
	if err != nil {
		return nil, err
	}
	return &accessv1.RotateApiKeyResponse{Key: s.keyToProto(k.Key), Previous: s.keyToProto(k.Previous), SecretKey: k.Secret}, nil
}

func (s *Server) RevokeApiKey(ctx context.Context, r *accessv1.RevokeApiKeyRequest) (*accessv1.RevokeApiKeyResponse, error) {
	k, err := s.app.RevokeKey(ctx, principal.Of(ctx), r.GetIdempotencyKey(), r.GetKeyId())
	if err != nil {
		return nil, err
	}
	return &accessv1.RevokeApiKeyResponse{Key: s.keyToProto(k)}, nil
}

var failureReasons = map[string]accessv1.AuthenticationFailureReason{
	domain.FailMissing:       accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_MISSING_CREDENTIALS,
	domain.FailMalformed:     accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_MALFORMED_KEY,
	domain.FailUnknownKey:    accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_UNKNOWN_KEY,
	domain.FailWrongSecret:   accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_WRONG_SECRET,
	domain.FailExpired:       accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_EXPIRED_KEY,
	domain.FailRevoked:       accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_REVOKED_KEY,
	domain.FailUnknownCert:   accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_UNKNOWN_CERTIFICATE,
	domain.FailRateLimited:   accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_RATE_LIMITED,
	domain.FailNoPrincipal:   accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_UNKNOWN_PRINCIPAL,
	domain.FailBadDelegation: accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_BAD_DELEGATION,
}

// timeOf is an optional time filter: zero when unset.
func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func (s *Server) ListAuditRecords(ctx context.Context, r *accessv1.ListAuditRecordsRequest) (*accessv1.ListAuditRecordsResponse, error) {
	f := app.AuditFilter{Principal: r.GetPrincipalId(), Method: strings.TrimPrefix(r.GetMethod(), "/"),
		Since: timeOf(r.GetStartTime()), Until: timeOf(r.GetEndTime())}
	recs, next, err := s.app.AuditRecords(ctx, f, r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, err
	}
	resp := &accessv1.ListAuditRecordsResponse{NextPageToken: next}
	for _, a := range recs {
		resp.Records = append(resp.Records, &accessv1.AuditRecord{
			AuditId: a.ID, Time: ts(a.At), Method: a.Method, PrincipalId: a.Principal, OnBehalfOf: a.OnBehalfOf,
			Decision: auditpb.Decision(a.Decision), Code: auditpb.Code(a.Code), Source: a.Source, Calls: a.Count,
		})
	}
	return resp, nil
}

func (s *Server) ListAuthenticationFailures(ctx context.Context, r *accessv1.ListAuthenticationFailuresRequest) (*accessv1.ListAuthenticationFailuresResponse, error) {
	f := app.FailureFilter{Since: timeOf(r.GetStartTime()), Until: timeOf(r.GetEndTime())}
	fs, next, err := s.app.Failures(ctx, f, r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, err
	}
	resp := &accessv1.ListAuthenticationFailuresResponse{NextPageToken: next}
	for _, f := range fs {
		resp.Failures = append(resp.Failures, &accessv1.AuthenticationFailures{MinuteStart: ts(f.Minute), Source: f.Source,
			Reason: failureReasons[f.Reason], Count: f.Count})
	}
	return resp, nil
}
