package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// The refusals a program acts on carry their reason, and what it needs to
// act, in the status details (google.rpc.ErrorInfo, ResourceInfo), as a
// client reads them over gRPC; a replayed refusal carries them again.
func TestRefusalsCarryTheirReason(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		c := env.Client
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 30)

		t.Run("insufficient points, with the figures", func(t *testing.T) {
			req := &ledgerv1.BurnRequest{IdempotencyKey: "burn-45", MemberId: m, Points: 45, Channel: typev1.Channel_CHANNEL_POS}
			_, err := c.Burn(ctx(t), req)
			st := wantReason(t, err, codes.FailedPrecondition, "INSUFFICIENT_POINTS")
			md := errorInfo(st).GetMetadata()
			if md["available"] != "30" || md["requested"] != "45" {
				t.Fatalf("metadata %v, want available 30, requested 45", md)
			}
			// The stored refusal, replayed once the cause is gone: the same
			// reason and metadata, not a bare status.
			earnPoints(t, env, m, 100)
			_, err = c.Burn(ctx(t), req)
			st = wantReason(t, err, codes.FailedPrecondition, "INSUFFICIENT_POINTS")
			if md := errorInfo(st).GetMetadata(); md["available"] != "30" || md["requested"] != "45" {
				t.Fatalf("replayed metadata %v, want available 30, requested 45", md)
			}
			// The key with another request.
			req.Points = 5
			_, err = c.Burn(ctx(t), req)
			wantReason(t, err, codes.AlreadyExists, "IDEMPOTENCY_KEY_REUSED")
		})

		t.Run("duplicate enrolment names the member", func(t *testing.T) {
			first, err := c.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-twice"})
			if err != nil {
				t.Fatal(err)
			}
			again := &ledgerv1.EnrolMemberRequest{IdempotencyKey: "enrol-twice", ProgrammeId: "test", ExternalRef: "card-twice"}
			for range 2 { // the refusal, then its replay
				_, err = c.EnrolMember(ctx(t), again)
				st := wantReason(t, err, codes.AlreadyExists, "MEMBER_ALREADY_ENROLLED")
				res := resourceOf(st)
				if res.GetResourceType() != "fidelis.ledger.v1.Member" || res.GetResourceName() != first.GetMember().GetMemberId() {
					t.Fatalf("ResourceInfo %v, want member %s", res, first.GetMember().GetMemberId())
				}
			}
		})

		t.Run("a hold is captured once", func(t *testing.T) {
			h, err := c.Hold(ctx(t), &ledgerv1.HoldRequest{IdempotencyKey: key(), MemberId: m, Points: 10, Channel: typev1.Channel_CHANNEL_ECOMMERCE})
			if err != nil {
				t.Fatal(err)
			}
			id := h.GetHold().GetHoldId()
			if _, err := c.Release(ctx(t), &ledgerv1.ReleaseRequest{IdempotencyKey: key(), HoldId: id}); err != nil {
				t.Fatal(err)
			}
			_, err = c.Capture(ctx(t), &ledgerv1.CaptureRequest{IdempotencyKey: key(), HoldId: id})
			st := wantReason(t, err, codes.FailedPrecondition, "HOLD_NOT_ACTIVE")
			if res := resourceOf(st); res.GetResourceName() != id {
				t.Fatalf("ResourceInfo %v, want hold %s", res, id)
			}
		})

		t.Run("an expired hold says so", func(t *testing.T) {
			h, err := c.Hold(ctx(t), &ledgerv1.HoldRequest{IdempotencyKey: key(), MemberId: m, Points: 10, Channel: typev1.Channel_CHANNEL_POS,
				Ttl: durationpb.New(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(2 * time.Minute)
			balance(t, env, m) // settles the member: the hold is now recorded as expired
			_, err = c.Capture(ctx(t), &ledgerv1.CaptureRequest{IdempotencyKey: key(), HoldId: h.GetHold().GetHoldId()})
			wantReason(t, err, codes.FailedPrecondition, "HOLD_EXPIRED")
		})

		t.Run("another programme's member", func(t *testing.T) {
			k := env.Access.Key(t, "pos-strict", []principal.Role{principal.POS}, "strict")
			strict := ledgerv1.NewLedgerServiceClient(ledgertest.Dial(t, env.Addr, k))
			_, err := strict.GetBalance(ctx(t), &ledgerv1.GetBalanceRequest{MemberId: m})
			wantReason(t, err, codes.PermissionDenied, "PROGRAMME_NOT_ALLOWED")
		})
	})
}

// A member's birth date and consent read back as they were given; a
// member enrolled without them has no birth date and has withheld consent.
func TestMemberDateAndConsentReadBack(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		r, err := env.Client.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-bd",
			BirthDate: ymd("2000-02-29"), PartnerMarketingConsent: ledgerv1.ConsentState_CONSENT_STATE_GRANTED})
		if err != nil {
			t.Fatal(err)
		}
		got, err := env.Client.GetMember(ctx(t), &ledgerv1.GetMemberRequest{MemberId: r.GetMember().GetMemberId()})
		if err != nil {
			t.Fatal(err)
		}
		if d := got.GetMember().GetBirthDate(); d.GetYear() != 2000 || d.GetMonth() != 2 || d.GetDay() != 29 ||
			got.GetMember().GetPartnerMarketingConsent() != ledgerv1.ConsentState_CONSENT_STATE_GRANTED {
			t.Fatalf("member %v", got.GetMember())
		}
		got, err = env.Client.GetMember(ctx(t), &ledgerv1.GetMemberRequest{MemberId: enrol(t, env, "test")})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetMember().GetBirthDate() != nil || got.GetMember().GetPartnerMarketingConsent() != ledgerv1.ConsentState_CONSENT_STATE_WITHHELD {
			t.Fatalf("member without date or consent: %v", got.GetMember())
		}
	})
}
