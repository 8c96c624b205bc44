package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnersv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/partners/v1"
	accessapp "github.com/fidelis-loyalty/fidelis/services/access/app"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/partners/partnerstest"
)

// auditOf counts a principal's audited calls by method:decision:code.
func auditOf(t testing.TB, env *partnerstest.Env, principal string) map[string]int {
	t.Helper()
	env.Access.Flush(t)
	recs, _, err := env.Access.App.AuditRecords(ctx(t), accessapp.AuditFilter{Principal: principal}, "", 500)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range recs {
		out[shortMethod(r.Method)+":"+string(r.Decision)+":"+r.Code] += int(r.Count)
	}
	return out
}

// keysOf lists a partner's keys: id and state.
func keysOf(t testing.TB, env *partnerstest.Env, partnerID string) string {
	t.Helper()
	keys, _, err := env.Access.App.Keys(ctx(t), "partner:"+partnerID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s:%d", k.ID, env.Access.App.KeyState(k)))
	}
	return strings.Join(out, ",")
}

// wrongSecret is a key with its secret's last character changed.
func wrongSecret(key string) string {
	last := "A"
	if strings.HasSuffix(key, last) {
		last = "B"
	}
	return key[:len(key)-1] + last
}

// PartnerAdminService is for operators. A partner's own API key cannot
// read another partner's statement or rotate (take over) its key:
// PermissionDenied, nothing written, audited; no or a wrong credential is
// Unauthenticated and counted per address.
func TestPartnerAdminNeedsAnOperator(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		airline := createPartner(t, env, "test", "MILES", "0.1")
		hotel := createPartner(t, env, "test", "EUR", "1")
		_, card := enrolCard(t, env, "test", true)
		ref := link(t, env, airline, card)
		if _, err := env.Partners.Earn(partnerstest.As(ctx(t), airline.key), &partnersv1.EarnRequest{IdempotencyKey: key(),
			MemberRef: ref, Amount: miles("500")}); err != nil {
			t.Fatal(err)
		}
		now := env.Clock.Now()
		stmt := &partnersv1.GetPartnerStatementRequest{PartnerId: airline.id,
			PeriodStart: timestamppb.New(now.Add(-time.Hour)), PeriodEnd: timestamppb.New(now.Add(time.Hour))}
		rotate := &partnersv1.RotatePartnerKeyRequest{IdempotencyKey: key(), PartnerId: airline.id}
		offer := &partnersv1.CreateOfferRequest{IdempotencyKey: key(), PartnerId: airline.id, Terms: &partnersv1.OfferTerms{
			Name: "Mine", Bonus: fixedBonus(1000), BudgetPoints: 1000000}}

		before, keys := partnerRows(t, env), keysOf(t, env, airline.id)
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
		try(partnerstest.As(ctx(t), wrongSecret(env.Key)), codes.Unauthenticated)
		sameRows(t, before, partnerRows(t, env))
		if got := keysOf(t, env, airline.id); got != keys {
			t.Fatalf("the airline's keys changed: %s, were %s", got, keys)
		}
		if _, err := env.Partners.GetMemberBalance(partnerstest.As(ctx(t), airline.key),
			&partnersv1.GetMemberBalanceRequest{MemberRef: ref}); err != nil {
			t.Fatalf("the airline's key stopped working: %v", err)
		}

		// An operator's key works.
		st, err := env.AdminBare.GetPartnerStatement(partnerstest.As(ctx(t), env.Key), stmt)
		if err != nil || st.GetStatement().GetPointsIssued() != 50 {
			t.Fatalf("statement as an operator: %v %v", st, err)
		}

		for principal, want := range map[string]map[string]int{
			"partner:" + hotel.id: {"PartnerAdminService/GetPartnerStatement:denied:PermissionDenied": 1,
				"PartnerAdminService/RotatePartnerKey:denied:PermissionDenied": 1, "PartnerAdminService/CreateOffer:denied:PermissionDenied": 1},
			"partner:" + airline.id: {"PartnerAdminService/GetPartnerStatement:denied:PermissionDenied": 1,
				"PartnerAdminService/RotatePartnerKey:denied:PermissionDenied": 1, "PartnerAdminService/CreateOffer:denied:PermissionDenied": 1,
				// The partner's earn, and the ledger's, made for it by the partners service.
				"PartnerService/Earn:allowed:OK": 1, "LedgerService/Earn:allowed:OK": 1, "PartnerService/LinkMember:allowed:OK": 1},
			"test-client": {"PartnerAdminService/CreatePartner:allowed:OK": 2, "PartnerAdminService/GetPartnerStatement:allowed:OK": 0},
		} {
			got := auditOf(t, env, principal)
			for k, n := range want {
				if got[k] != n {
					t.Errorf("audit of %s: %s %d times, want %d (%v)", principal, k, got[k], n, got)
				}
			}
		}
		if got := failures(t, env); got != 9 {
			t.Errorf("%d failed authentications counted, want 9", got)
		}
	})
}

// Mutations refused by request validation are audited too, and stay
// InvalidArgument with the bad field named; reads that succeed or are
// refused for bad input are not audited.
func TestPartnerCallsAuditedWhenInvalid(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := partnerstest.Start(t, db)
		airline := createPartner(t, env, "test", "MILES", "0.1")
		_, card := enrolCard(t, env, "test", true)
		ref := link(t, env, airline, card)
		bad := &partnersv1.EarnRequest{IdempotencyKey: key(), MemberRef: ref, Amount: miles("lots")}

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
		if len(fields) != 1 || fields[0] != "miles" {
			t.Fatalf("violations %v, want miles", fields)
		}
		_, err = env.Partners.Earn(ctx(t), bad)
		wantCode(t, err, codes.Unauthenticated)
		_, err = env.Admin.GetPartner(ctx(t), &partnersv1.GetPartnerRequest{PartnerId: "not-a-uuid"})
		wantCode(t, err, codes.InvalidArgument)
		sameRows(t, before, partnerRows(t, env))

		if got := auditOf(t, env, "partner:"+airline.id); got["PartnerService/Earn:refused:InvalidArgument"] != 1 {
			t.Errorf("the airline's invalid earn is not audited: %v", got)
		}
		if got := failures(t, env); got != 1 {
			t.Errorf("the earn without a key is counted %d times, want 1", got)
		}
		if got := auditOf(t, env, "test-client"); got["PartnerAdminService/GetPartner:refused:InvalidArgument"] != 0 {
			t.Errorf("a read refused for bad input is audited: %v", got)
		}
	})
}
