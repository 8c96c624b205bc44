package grpcapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/partners/partnerstest"
)

// auditOf counts a principal's audit entries by method:decision:code.
func auditOf(t testing.TB, env *partnerstest.Env, principal string) map[string]int {
	t.Helper()
	r, err := env.Admin.ListAudit(ctx(t), &partnersv1.ListAuditRequest{PartnerId: principal, PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range r.GetEntries() {
		out[e.GetMethod()+":"+e.GetDecision()+":"+e.GetCode()]++
	}
	return out
}

func keyHash(t testing.TB, env *partnerstest.Env, partnerID string) string {
	t.Helper()
	var h []byte
	if err := env.DB.QueryRowContext(ctx(t), `SELECT key_hash FROM partners_partners WHERE partner_id = $1`, partnerID).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// PartnerAdminService takes the operators' token only. A partner's own API
// key cannot read another partner's statement or rotate (take over) its
// key: PermissionDenied, nothing written; no or a wrong credential is
// Unauthenticated; every decision is audited.
func TestPartnerAdminNeedsTheOperatorToken(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		airline := createPartner(t, env, "test", "MILES", "0.1")
		hotel := createPartner(t, env, "test", "EUR", "1")
		_, card := enrolCard(t, env, "test", true)
		ref := link(t, env, airline, card)
		if _, err := env.Partners.Earn(partnerstest.As(ctx(t), airline.key), &partnersv1.EarnRequest{IdempotencyKey: key(),
			MemberRef: ref, Amount: "500", Unit: "MILES"}); err != nil {
			t.Fatal(err)
		}
		now := env.Clock.Now()
		stmt := &partnersv1.GetPartnerStatementRequest{PartnerId: airline.id,
			PeriodStart: timestamppb.New(now.Add(-time.Hour)), PeriodEnd: timestamppb.New(now.Add(time.Hour))}
		rotate := &partnersv1.RotatePartnerKeyRequest{IdempotencyKey: key(), PartnerId: airline.id}
		offer := &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: airline.id, Terms: &partnersv1.OfferTerms{
			Name: "Mine", Kind: partnersv1.OfferKind_OFFER_KIND_FIXED_BONUS, BonusPoints: 1000, BudgetPoints: 1000000}}

		before, hash := partnerRows(t, env), keyHash(t, env, airline.id)
		try := func(c context.Context, want codes.Code) {
			t.Helper()
			_, err := env.AdminBare.GetPartnerStatement(c, stmt)
			wantCode(t, err, want)
			_, err = env.AdminBare.RotatePartnerKey(c, rotate)
			wantCode(t, err, want)
			_, err = env.AdminBare.CreateOffer(c, offer)
			wantCode(t, err, want)
		}
		try(partnerstest.As(ctx(t), hotel.key), codes.PermissionDenied)   // another partner's
		try(partnerstest.As(ctx(t), airline.key), codes.PermissionDenied) // its own
		try(ctx(t), codes.Unauthenticated)
		try(partnerstest.As(ctx(t), strings.Repeat("x", 43)), codes.Unauthenticated)
		try(partnerstest.As(ctx(t), env.AdminToken[1:]), codes.Unauthenticated)
		sameRows(t, before, partnerRows(t, env))
		if keyHash(t, env, airline.id) != hash {
			t.Fatal("the airline's key was rotated")
		}
		if _, err := env.Partners.GetMemberBalance(partnerstest.As(ctx(t), airline.key),
			&partnersv1.GetMemberBalanceRequest{MemberRef: ref}); err != nil {
			t.Fatalf("the airline's key stopped working: %v", err)
		}

		// The operators' token works.
		st, err := env.AdminBare.GetPartnerStatement(partnerstest.As(ctx(t), env.AdminToken), stmt)
		if err != nil || st.GetStatement().GetPointsIssued() != 50 {
			t.Fatalf("statement with the operator token: %v %v", st, err)
		}

		for principal, want := range map[string]map[string]int{
			hotel.id: {"GetPartnerStatement:denied:PermissionDenied": 1, "RotatePartnerKey:denied:PermissionDenied": 1,
				"CreateOffer:denied:PermissionDenied": 1},
			airline.id: {"GetPartnerStatement:denied:PermissionDenied": 1, "RotatePartnerKey:denied:PermissionDenied": 1,
				"CreateOffer:denied:PermissionDenied": 1},
			"unauthenticated": {"GetPartnerStatement:denied:Unauthenticated": 3, "RotatePartnerKey:denied:Unauthenticated": 3,
				"CreateOffer:denied:Unauthenticated": 3},
			"operator": {"GetPartnerStatement:allowed:OK": 1, "CreatePartner:allowed:OK": 2},
		} {
			got := auditOf(t, env, principal)
			for k, n := range want {
				if got[k] != n {
					t.Errorf("audit of %s: %s %d times, want %d (%v)", principal, k, got[k], n, got)
				}
			}
		}
	})
}

// Calls refused by request validation are audited too, with or without a
// key, and stay InvalidArgument with the bad field named.
func TestPartnerCallsAuditedWhenInvalid(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		airline := createPartner(t, env, "test", "MILES", "0.1")
		_, card := enrolCard(t, env, "test", true)
		ref := link(t, env, airline, card)
		bad := &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: "lots", Unit: "MILES"}

		before := partnerRows(t, env)
		_, err := env.Partners.Earn(partnerstest.As(ctx(t), airline.key), bad)
		wantCode(t, err, codes.InvalidArgument)
		var fields []string
		for _, d := range status.Convert(err).Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
				}
			}
		}
		if len(fields) != 1 || fields[0] != "amount" {
			t.Fatalf("violations %v, want amount", fields)
		}
		_, err = env.Partners.Earn(ctx(t), bad)
		wantCode(t, err, codes.Unauthenticated)
		_, err = env.Admin.GetPartner(ctx(t), &partnersv1.GetPartnerRequest{PartnerId: "not-a-uuid"})
		wantCode(t, err, codes.InvalidArgument)
		sameRows(t, before, partnerRows(t, env))

		if got := auditOf(t, env, airline.id); got["Earn:refused:InvalidArgument"] != 1 {
			t.Errorf("the airline's invalid earn is not audited: %v", got)
		}
		if got := auditOf(t, env, "unauthenticated"); got["Earn:denied:Unauthenticated"] != 1 {
			t.Errorf("the invalid earn without a key is not audited: %v", got)
		}
		if got := auditOf(t, env, "operator"); got["GetPartner:refused:InvalidArgument"] != 1 {
			t.Errorf("the operator's invalid call is not audited: %v", got)
		}
	})
}
