package grpcapi_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/access/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/access/accesstest"
	"github.com/fidelis-loyalty/fidelis/services/access/grpcapi"
	"github.com/fidelis-loyalty/fidelis/services/internal/grpcserver"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
)

type env struct {
	*accesstest.Env
	addr string
	// admin is an operator of every programme.
	admin accessv1.AccessServiceClient
}

// start serves AccessService on db over a real gRPC connection, with the
// access guard every Fidelis server runs.
func start(t *testing.T, db *sqldb.DB) *env {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	a := accesstest.Start(t, db, accesstest.Options{Logger: log})
	srv, err := grpcserver.New(grpcserver.Options{Logger: log, Guard: a.Guard})
	if err != nil {
		t.Fatal(err)
	}
	grpcapi.Register(srv, a.App)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	e := &env{Env: a, addr: lis.Addr().String()}
	e.admin = e.client(t, a.Key(t, "admin", []principal.Role{principal.Operator}))
	return e
}

// client connects with key ("" for none).
func (e *env) client(t *testing.T, key string) accessv1.AccessServiceClient {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if key != "" {
		opts = append(opts, accesstest.Creds(key))
	}
	conn, err := grpc.NewClient(e.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return accessv1.NewAccessServiceClient(conn)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// refusal checks that err is a refusal with code and reason, in an
// ErrorInfo of Fidelis's domain, and returns its details.
func refusal(t *testing.T, what string, err error, c codes.Code, reason string) (*errdetails.ErrorInfo, *errdetails.ResourceInfo, *errdetails.BadRequest) {
	t.Helper()
	st := status.Convert(err)
	if err == nil || st.Code() != c {
		t.Errorf("%s: %v, want %s", what, err, c)
		return nil, nil, nil
	}
	var info *errdetails.ErrorInfo
	var res *errdetails.ResourceInfo
	var bad *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.ResourceInfo:
			res = d
		case *errdetails.BadRequest:
			bad = d
		}
	}
	if info == nil || info.GetReason() != reason || info.GetDomain() != "fidelis-loyalty.github.io" {
		t.Errorf("%s: ErrorInfo %v, want reason %s in domain fidelis-loyalty.github.io", what, info, reason)
	}
	return info, res, bad
}

func badField(t *testing.T, what string, bad *errdetails.BadRequest, field string) {
	t.Helper()
	for _, v := range bad.GetFieldViolations() {
		if v.GetField() == field {
			return
		}
	}
	t.Errorf("%s: violations %v, want one on %s", what, bad.GetFieldViolations(), field)
}

func pos(id string, programmes ...string) *accessv1.Principal {
	if len(programmes) == 0 {
		programmes = []string{"test"}
	}
	return &accessv1.Principal{PrincipalId: id, Roles: []accessv1.Role{accessv1.Role_ROLE_POS}, Programmes: programmes}
}

// Every refusal of AccessService names its reason, listed in the proto,
// and the resource it is about.
func TestRefusalsNameTheirReason(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := start(t, db)
		c, admin := ctx(t), e.admin
		if _, err := admin.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "p1", Principal: pos("pos-1")}); err != nil {
			t.Fatal(err)
		}
		_, err := admin.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "p2", Principal: pos("pos-1")})
		if _, res, _ := refusal(t, "a principal again", err, codes.AlreadyExists, "PRINCIPAL_ALREADY_EXISTS"); res.GetResourceName() != "pos-1" ||
			res.GetResourceType() != "fidelis.access.v1.Principal" {
			t.Errorf("a principal again: resource %v", res)
		}
		// The refusal is stored with its reason: a retry replays it.
		_, err = admin.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "p2", Principal: pos("pos-1")})
		refusal(t, "a principal again, replayed", err, codes.AlreadyExists, "PRINCIPAL_ALREADY_EXISTS")
		_, err = admin.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "p2", Principal: pos("pos-2")})
		refusal(t, "the key of another request", err, codes.AlreadyExists, "IDEMPOTENCY_KEY_REUSED")

		_, err = admin.GetPrincipal(c, &accessv1.GetPrincipalRequest{PrincipalId: "nobody"})
		if _, res, _ := refusal(t, "an unknown principal", err, codes.NotFound, "PRINCIPAL_NOT_FOUND"); res.GetResourceName() != "nobody" {
			t.Errorf("an unknown principal: resource %v", res)
		}
		_, err = admin.CreateApiKey(c, &accessv1.CreateApiKeyRequest{IdempotencyKey: "k0", PrincipalId: "nobody"})
		refusal(t, "a key of an unknown principal", err, codes.NotFound, "PRINCIPAL_NOT_FOUND")
		_, err = admin.UpdatePrincipal(c, &accessv1.UpdatePrincipalRequest{IdempotencyKey: "u0", Principal: pos("nobody"),
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"programmes"}}})
		refusal(t, "an update of an unknown principal", err, codes.NotFound, "PRINCIPAL_NOT_FOUND")

		partner := uuid.NewString()
		if _, err := e.App.IssuePartnerKey(c, principal.System("fidelis-partners"), "pk", partner, "test", 0); err != nil {
			t.Fatal(err)
		}
		_, err = admin.UpdatePrincipal(c, &accessv1.UpdatePrincipalRequest{IdempotencyKey: "u1", Principal: pos("partner:"+partner, "other"),
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"programmes"}}})
		refusal(t, "a partner's programmes", err, codes.FailedPrecondition, "PRINCIPAL_OF_PARTNER")

		made, err := admin.CreateApiKey(c, &accessv1.CreateApiKeyRequest{IdempotencyKey: "k1", PrincipalId: "pos-1"})
		if err != nil {
			t.Fatal(err)
		}
		id := made.GetKey().GetKeyId()
		if _, err := admin.RotateApiKey(c, &accessv1.RotateApiKeyRequest{IdempotencyKey: "r1", KeyId: id,
			Overlap: durationpb.New(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		_, err = admin.RotateApiKey(c, &accessv1.RotateApiKeyRequest{IdempotencyKey: "r2", KeyId: id})
		if info, _, _ := refusal(t, "a second rotation", err, codes.FailedPrecondition, "API_KEY_ALREADY_ROTATED"); info.GetMetadata()["replaced_by"] == "" {
			t.Errorf("a second rotation: metadata %v, want replaced_by", info.GetMetadata())
		}
		other, err := admin.CreateApiKey(c, &accessv1.CreateApiKeyRequest{IdempotencyKey: "k2", PrincipalId: "pos-1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.RevokeApiKey(c, &accessv1.RevokeApiKeyRequest{IdempotencyKey: "v1", KeyId: other.GetKey().GetKeyId()}); err != nil {
			t.Fatal(err)
		}
		_, err = admin.RotateApiKey(c, &accessv1.RotateApiKeyRequest{IdempotencyKey: "r3", KeyId: other.GetKey().GetKeyId()})
		if info, _, _ := refusal(t, "a revoked key's rotation", err, codes.FailedPrecondition, "API_KEY_NOT_ACTIVE"); info.GetMetadata()["state"] != "API_KEY_STATE_REVOKED" {
			t.Errorf("a revoked key's rotation: metadata %v", info.GetMetadata())
		}
		_, err = admin.RotateApiKey(c, &accessv1.RotateApiKeyRequest{IdempotencyKey: "r4", KeyId: "fk_nosuchkey"})
		refusal(t, "an unknown key's rotation", err, codes.NotFound, "API_KEY_NOT_FOUND")
		_, err = admin.RevokeApiKey(c, &accessv1.RevokeApiKeyRequest{IdempotencyKey: "v2", KeyId: "fk_nosuchkey"})
		refusal(t, "an unknown key's revocation", err, codes.NotFound, "API_KEY_NOT_FOUND")

		// An operator of one programme may not administer access.
		local := e.client(t, e.Key(t, "ops-test", []principal.Role{principal.Operator}, "test"))
		_, err = local.ListPrincipals(c, &accessv1.ListPrincipalsRequest{})
		refusal(t, "an operator of one programme", err, codes.PermissionDenied, "PROGRAMME_REQUIRED")
		// A principal without the role.
		_, err = e.client(t, made.GetSecretKey()).ListPrincipals(c, &accessv1.ListPrincipalsRequest{})
		refusal(t, "a POS", err, codes.PermissionDenied, "PERMISSION_DENIED")
		_, err = e.client(t, "").ListPrincipals(c, &accessv1.ListPrincipalsRequest{})
		refusal(t, "no credential", err, codes.Unauthenticated, "UNAUTHENTICATED")
	})
}

// The schema's rules refuse what the service would: the partner role,
// "*" among programmes, an update_mask naming other fields, a time range
// that ends before it starts.
func TestSchemaRules(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := start(t, db)
		c, admin := ctx(t), e.admin
		partner := pos("p-1")
		partner.Roles = []accessv1.Role{accessv1.Role_ROLE_PARTNER}
		for _, tc := range []struct {
			what  string
			call  func() error
			field string
		}{
			{"the partner role", func() error {
				_, err := admin.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "a", Principal: partner})
				return err
			}, "principal"},
			{"* among programmes", func() error {
				_, err := admin.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "b", Principal: pos("p-2", "*", "test")})
				return err
			}, "principal.programmes"},
			{"the partner role by update", func() error {
				_, err := admin.UpdatePrincipal(c, &accessv1.UpdatePrincipalRequest{IdempotencyKey: "c", Principal: partner,
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"roles"}}})
				return err
			}, ""},
			{"an update of created_by", func() error {
				_, err := admin.UpdatePrincipal(c, &accessv1.UpdatePrincipalRequest{IdempotencyKey: "d", Principal: pos("p-1"),
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"limits", "created_by"}}})
				return err
			}, "update_mask"},
			{"an empty update", func() error {
				_, err := admin.UpdatePrincipal(c, &accessv1.UpdatePrincipalRequest{IdempotencyKey: "e", Principal: pos("p-1"),
					UpdateMask: &fieldmaskpb.FieldMask{}})
				return err
			}, "update_mask"},
			{"audit records ending before they start", func() error {
				now := time.Now()
				_, err := admin.ListAuditRecords(c, &accessv1.ListAuditRecordsRequest{StartTime: timestamppb.New(now),
					EndTime: timestamppb.New(now.Add(-time.Hour))})
				return err
			}, ""},
			{"failures over an empty range", func() error {
				now := timestamppb.Now()
				_, err := admin.ListAuthenticationFailures(c, &accessv1.ListAuthenticationFailuresRequest{StartTime: now, EndTime: now})
				return err
			}, ""},
			{"a partner id that is not a UUID", func() error {
				p := pos("p-3")
				p.PartnerId = "hotel"
				_, err := admin.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "f", Principal: p})
				return err
			}, "principal.partner_id"},
		} {
			_, _, bad := refusal(t, tc.what, tc.call(), codes.InvalidArgument, "INVALID_ARGUMENT")
			if tc.field != "" {
				badField(t, tc.what, bad, tc.field)
			}
		}
	})
}

// A page size above the maximum is capped, not refused; a page token
// continues only the listing and filters that returned it.
func TestPageTokensAreBound(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := start(t, db)
		c, admin := ctx(t), e.admin
		for i, id := range []string{"pos-a", "pos-b"} {
			if _, err := admin.CreatePrincipal(c, &accessv1.CreatePrincipalRequest{IdempotencyKey: "p" + id, Principal: pos(id)}); err != nil {
				t.Fatal(err)
			}
			for k := range 3 {
				if _, err := admin.CreateApiKey(c, &accessv1.CreateApiKeyRequest{IdempotencyKey: id + string(rune('0'+k)),
					PrincipalId: id}); err != nil {
					t.Fatal(err, i)
				}
			}
		}
		all, err := admin.ListApiKeys(c, &accessv1.ListApiKeysRequest{PageSize: 100000})
		if err != nil || len(all.GetKeys()) != 7 || all.GetNextPageToken() != "" {
			t.Fatalf("every key, a page size over the maximum: %d keys, %q, %v", len(all.GetKeys()), all.GetNextPageToken(), err)
		}
		first, err := admin.ListApiKeys(c, &accessv1.ListApiKeysRequest{PrincipalId: "pos-a", PageSize: 2})
		if err != nil || len(first.GetKeys()) != 2 || first.GetNextPageToken() == "" {
			t.Fatalf("pos-a's first page: %v, %v", first, err)
		}
		tok := first.GetNextPageToken()
		next, err := admin.ListApiKeys(c, &accessv1.ListApiKeysRequest{PrincipalId: "pos-a", PageSize: 2, PageToken: tok})
		if err != nil || len(next.GetKeys()) != 1 || next.GetKeys()[0].GetPrincipalId() != "pos-a" || next.GetNextPageToken() != "" {
			t.Fatalf("pos-a's second page: %v, %v", next, err)
		}
		for _, tc := range []struct {
			what string
			call func() error
		}{
			{"another principal's keys", func() error {
				_, err := admin.ListApiKeys(c, &accessv1.ListApiKeysRequest{PrincipalId: "pos-b", PageToken: tok})
				return err
			}},
			{"every principal's keys", func() error {
				_, err := admin.ListApiKeys(c, &accessv1.ListApiKeysRequest{PageToken: tok})
				return err
			}},
			{"the principals", func() error {
				_, err := admin.ListPrincipals(c, &accessv1.ListPrincipalsRequest{PageToken: tok})
				return err
			}},
			{"the audit log", func() error {
				_, err := admin.ListAuditRecords(c, &accessv1.ListAuditRecordsRequest{PageToken: tok})
				return err
			}},
			{"the failures", func() error {
				_, err := admin.ListAuthenticationFailures(c, &accessv1.ListAuthenticationFailuresRequest{PageToken: tok})
				return err
			}},
			{"a token made by hand", func() error {
				_, err := admin.ListApiKeys(c, &accessv1.ListApiKeysRequest{PrincipalId: "pos-a", PageToken: "a2V5OjE"})
				return err
			}},
		} {
			_, _, bad := refusal(t, "pos-a's key token on "+tc.what, tc.call(), codes.InvalidArgument, "INVALID_ARGUMENT")
			badField(t, tc.what, bad, "page_token")
		}

		// The audit log: its token is bound to the principal, method and
		// time range.
		e.Flush(t)
		filter := &accessv1.ListAuditRecordsRequest{Method: "fidelis.access.v1.AccessService", PageSize: 1,
			StartTime: timestamppb.New(time.Now().Add(-time.Hour))}
		page, err := admin.ListAuditRecords(c, filter)
		if err != nil || len(page.GetRecords()) != 1 || page.GetNextPageToken() == "" {
			t.Fatalf("audit, first page: %v, %v", page, err)
		}
		rec := page.GetRecords()[0]
		if rec.GetCode() != code.Code_OK || rec.GetDecision() != accessv1.AuditDecision_AUDIT_DECISION_ALLOWED || rec.GetPrincipalId() != "admin" {
			t.Errorf("audit record %v: want admin's, OK and allowed", rec)
		}
		filter.PageToken = page.GetNextPageToken()
		if _, err := admin.ListAuditRecords(c, filter); err != nil {
			t.Errorf("audit, second page: %v", err)
		}
		for what, change := range map[string]func(r *accessv1.ListAuditRecordsRequest){
			"another method": func(r *accessv1.ListAuditRecordsRequest) { r.Method = "fidelis.access.v1.AccessService/CreateApiKey" },
			"a principal":    func(r *accessv1.ListAuditRecordsRequest) { r.PrincipalId = "admin" },
			"another start time": func(r *accessv1.ListAuditRecordsRequest) {
				r.StartTime = timestamppb.New(time.Now().Add(-2 * time.Hour))
			},
			"an end time": func(r *accessv1.ListAuditRecordsRequest) { r.EndTime = timestamppb.Now() },
		} {
			r := &accessv1.ListAuditRecordsRequest{Method: filter.GetMethod(), StartTime: filter.GetStartTime(), PageToken: filter.GetPageToken()}
			change(r)
			_, err := admin.ListAuditRecords(c, r)
			_, _, bad := refusal(t, "an audit token with "+what, err, codes.InvalidArgument, "INVALID_ARGUMENT")
			badField(t, what, bad, "page_token")
		}
	})
}

// The audit log and the failure counts speak enums: a denied call is
// PERMISSION_DENIED and AUDIT_DECISION_DENIED, a call without a
// credential AUTHENTICATION_FAILURE_REASON_MISSING_CREDENTIALS.
func TestAuditSpeaksEnums(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := start(t, db)
		c, admin := ctx(t), e.admin
		pos := e.client(t, e.Key(t, "pos-1", []principal.Role{principal.POS}, "test"))
		if _, err := pos.ListPrincipals(c, &accessv1.ListPrincipalsRequest{}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("a POS lists principals: %v", err)
		}
		if _, err := e.client(t, "").ListPrincipals(c, &accessv1.ListPrincipalsRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("no credential: %v", err)
		}
		e.Flush(t)
		recs, err := admin.ListAuditRecords(c, &accessv1.ListAuditRecordsRequest{PrincipalId: "pos-1"})
		if err != nil || len(recs.GetRecords()) != 1 {
			t.Fatalf("pos-1's audit: %v, %v", recs, err)
		}
		if r := recs.GetRecords()[0]; r.GetCode() != code.Code_PERMISSION_DENIED || r.GetDecision() != accessv1.AuditDecision_AUDIT_DECISION_DENIED ||
			r.GetMethod() != "fidelis.access.v1.AccessService/ListPrincipals" || r.GetCalls() != 1 {
			t.Errorf("pos-1's audit record: %v", r)
		}
		fs, err := admin.ListAuthenticationFailures(c, &accessv1.ListAuthenticationFailuresRequest{StartTime: timestamppb.New(time.Now().Add(-time.Hour))})
		if err != nil || len(fs.GetFailures()) != 1 {
			t.Fatalf("failures: %v, %v", fs, err)
		}
		if f := fs.GetFailures()[0]; f.GetReason() != accessv1.AuthenticationFailureReason_AUTHENTICATION_FAILURE_REASON_MISSING_CREDENTIALS || f.GetCount() != 1 {
			t.Errorf("failure: %v", f)
		}
		fs, err = admin.ListAuthenticationFailures(c, &accessv1.ListAuthenticationFailuresRequest{EndTime: timestamppb.New(time.Now().Add(-time.Hour))})
		if err != nil || len(fs.GetFailures()) != 0 {
			t.Errorf("failures an hour ago: %v, %v", fs, err)
		}
	})
}

// reasonOf is the ErrorInfo reason of a Fidelis error ("" when it has none),
// as the README shows client authors.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == "fidelis-loyalty.github.io" {
			return info.GetReason()
		}
	}
	return ""
}

// the README's Go example reads the reason of a refusal.
func TestDocsExampleReadsTheReason(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		access := start(t, db).admin
		_, err := access.GetPrincipal(ctx(t), &accessv1.GetPrincipalRequest{PrincipalId: "pos-9"})
		if reasonOf(err) != typev1.ErrorReason_PRINCIPAL_NOT_FOUND.String() {
			t.Errorf("GetPrincipal(pos-9): %v, reason %q", err, reasonOf(err))
		}
		if reasonOf(nil) != "" {
			t.Error("no error has a reason")
		}
	})
}
