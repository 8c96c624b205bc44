package grpcapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	dpb "google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// Every bad request gets the right status, InvalidArgument names the
// field, and nothing is written.
func TestBadInputGetsTheRightCodeAndWritesNothing(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		c := env.Client
		m := enrol(t, env, "test")
		earn := earnPoints(t, env, m, 100)
		b, err := burn(t, env, m, 10)
		if err != nil {
			t.Fatal(err)
		}
		hold, err := c.Hold(ctx(t), &ledgerv1.HoldRequest{IdempotencyKey: key(), MemberId: m, Points: 20, Channel: typev1.Channel_CHANNEL_ECOMMERCE})
		if err != nil {
			t.Fatal(err)
		}
		released, err := c.Hold(ctx(t), &ledgerv1.HoldRequest{IdempotencyKey: key(), MemberId: m, Points: 5, Channel: typev1.Channel_CHANNEL_ECOMMERCE})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Release(ctx(t), &ledgerv1.ReleaseRequest{IdempotencyKey: key(), HoldId: released.GetHold().GetHoldId()}); err != nil {
			t.Fatal(err)
		}
		strict := enrol(t, env, "strict")
		strictEarn := earnPoints(t, env, strict, 10)
		if _, err := burn(t, env, strict, 10); err != nil {
			t.Fatal(err)
		}
		const unknown = "0190c8a4-0000-7000-8000-000000000000"
		pos := typev1.Channel_CHANNEL_POS
		eur := func(a string) *typev1.Money { return &typev1.Money{Amount: a, CurrencyCode: "EUR"} }
		purchase := func(m *typev1.Money) *ledgerv1.EarnRequest_Purchase {
			return &ledgerv1.EarnRequest_Purchase{Purchase: m}
		}
		pts := func(n int64) *ledgerv1.EarnRequest_Points { return &ledgerv1.EarnRequest_Points{Points: n} }

		cases := []struct {
			name  string
			call  func(context.Context) error
			code  codes.Code
			field string
		}{
			{"earn without key", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{MemberId: m, Basis: pts(1), Channel: pos})
				return err
			}, codes.InvalidArgument, "idempotency_key"},
			{"earn bad member id", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: "42", Basis: pts(1), Channel: pos})
				return err
			}, codes.InvalidArgument, "member_id"},
			{"earn without basis", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Channel: pos})
				return err
			}, codes.InvalidArgument, "basis"},
			{"earn zero points", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Basis: pts(0), Channel: pos})
				return err
			}, codes.InvalidArgument, "points"},
			{"earn negative amount", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Basis: purchase(eur("-5")), Channel: pos})
				return err
			}, codes.InvalidArgument, "purchase"},
			{"earn float amount", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Basis: purchase(eur("1e3")), Channel: pos})
				return err
			}, codes.InvalidArgument, "purchase.amount"},
			{"earn lower-case currency", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Basis: purchase(&typev1.Money{Amount: "5", CurrencyCode: "eur"}), Channel: pos})
				return err
			}, codes.InvalidArgument, "purchase.currency_code"},
			{"earn currency not accepted", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Basis: purchase(&typev1.Money{Amount: "5", CurrencyCode: "GBP"}), Channel: pos})
				return err
			}, codes.InvalidArgument, "purchase.currency_code"},
			{"earn without channel", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Basis: pts(1)})
				return err
			}, codes.InvalidArgument, "channel"},
			{"earn in the future", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Basis: pts(1), Channel: pos,
					OccurredAt: timestamppb.New(env.Clock.Now().Add(time.Hour))})
				return err
			}, codes.InvalidArgument, "occurred_at"},
			{"earn unknown member", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: unknown, Basis: pts(1), Channel: pos})
				return err
			}, codes.NotFound, ""},
			{"earn reusing a key", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: "k-reused", MemberId: m, Basis: pts(2), Channel: pos})
				return err
			}, codes.AlreadyExists, ""},
			{"burn more than available", func(x context.Context) error {
				_, err := c.Burn(x, &ledgerv1.BurnRequest{IdempotencyKey: key(), MemberId: m, Points: 72, Channel: pos})
				return err
			}, codes.FailedPrecondition, ""},
			{"burn zero", func(x context.Context) error {
				_, err := c.Burn(x, &ledgerv1.BurnRequest{IdempotencyKey: key(), MemberId: m, Channel: pos})
				return err
			}, codes.InvalidArgument, "points"},
			{"hold ttl above maximum", func(x context.Context) error {
				_, err := c.Hold(x, &ledgerv1.HoldRequest{IdempotencyKey: key(), MemberId: m, Points: 1, Channel: pos, Ttl: durationpb.New(2 * time.Hour)})
				return err
			}, codes.InvalidArgument, "ttl"},
			{"hold more than available", func(x context.Context) error {
				_, err := c.Hold(x, &ledgerv1.HoldRequest{IdempotencyKey: key(), MemberId: m, Points: 72, Channel: pos})
				return err
			}, codes.FailedPrecondition, ""},
			{"capture unknown hold", func(x context.Context) error {
				_, err := c.Capture(x, &ledgerv1.CaptureRequest{IdempotencyKey: key(), HoldId: unknown})
				return err
			}, codes.NotFound, ""},
			{"capture more than held", func(x context.Context) error {
				_, err := c.Capture(x, &ledgerv1.CaptureRequest{IdempotencyKey: key(), HoldId: hold.GetHold().GetHoldId(), Points: 21})
				return err
			}, codes.FailedPrecondition, ""},
			{"capture a released hold", func(x context.Context) error {
				_, err := c.Capture(x, &ledgerv1.CaptureRequest{IdempotencyKey: key(), HoldId: released.GetHold().GetHoldId()})
				return err
			}, codes.FailedPrecondition, ""},
			{"release a released hold", func(x context.Context) error {
				_, err := c.Release(x, &ledgerv1.ReleaseRequest{IdempotencyKey: key(), HoldId: released.GetHold().GetHoldId()})
				return err
			}, codes.FailedPrecondition, ""},
			{"reverse unknown entry", func(x context.Context) error {
				_, err := c.Reverse(x, &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: unknown, Portion: &ledgerv1.ReverseRequest_Full{Full: true}})
				return err
			}, codes.NotFound, ""},
			{"reverse without portion", func(x context.Context) error {
				_, err := c.Reverse(x, &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: earn.GetEntry().GetEntryId()})
				return err
			}, codes.InvalidArgument, "portion"},
			{"reverse an explicit earn by amount", func(x context.Context) error {
				_, err := c.Reverse(x, &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: earn.GetEntry().GetEntryId(),
					Portion: &ledgerv1.ReverseRequest_Returned{Returned: eur("5")}})
				return err
			}, codes.FailedPrecondition, ""},
			{"reverse more than earned", func(x context.Context) error {
				_, err := c.Reverse(x, &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: earn.GetEntry().GetEntryId(),
					Portion: &ledgerv1.ReverseRequest_Points{Points: 101}})
				return err
			}, codes.FailedPrecondition, ""},
			{"refund more than burned", func(x context.Context) error {
				_, err := c.Reverse(x, &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: b.GetEntry().GetEntryId(),
					Portion: &ledgerv1.ReverseRequest_Points{Points: 11}})
				return err
			}, codes.FailedPrecondition, ""},
			{"reverse a hold entry", func(x context.Context) error {
				_, err := c.Reverse(x, &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: hold.GetEntry().GetEntryId(),
					Portion: &ledgerv1.ReverseRequest_Full{Full: true}})
				return err
			}, codes.FailedPrecondition, ""},
			{"clawback below the floor (reject policy)", func(x context.Context) error {
				_, err := c.Reverse(x, &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: strictEarn.GetEntry().GetEntryId(),
					Portion: &ledgerv1.ReverseRequest_Full{Full: true}})
				return err
			}, codes.FailedPrecondition, ""},
			{"adjust without reason", func(x context.Context) error {
				_, err := env.Admin.Adjust(x, &ledgerv1.AdjustRequest{IdempotencyKey: key(), MemberId: m, Points: 5})
				return err
			}, codes.InvalidArgument, "reason"},
			{"adjust below the floor", func(x context.Context) error {
				_, err := env.Admin.Adjust(x, &ledgerv1.AdjustRequest{IdempotencyKey: key(), MemberId: m, Points: -172, Reason: "fraud"})
				return err
			}, codes.FailedPrecondition, ""},
			{"enrol a taken card", func(x context.Context) error {
				_, err := c.EnrolMember(x, &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-dup"})
				return err
			}, codes.AlreadyExists, ""},
			{"enrol in an unknown programme", func(x context.Context) error {
				_, err := c.EnrolMember(x, &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "nope", ExternalRef: "card-x"})
				return err
			}, codes.NotFound, ""},
			{"enrol with an impossible birth date", func(x context.Context) error {
				_, err := c.EnrolMember(x, &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-y",
					BirthDate: &dpb.Date{Year: 2024, Month: 13, Day: 45}})
				return err
			}, codes.InvalidArgument, "birth_date"},
			{"enrol with a 30 February birth date", func(x context.Context) error {
				_, err := c.EnrolMember(x, &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-y",
					BirthDate: &dpb.Date{Year: 1990, Month: 2, Day: 30}})
				return err
			}, codes.InvalidArgument, "birth_date"},
			{"enrol with a future birth date", func(x context.Context) error {
				next := time.Now().UTC().AddDate(1, 0, 0)
				_, err := c.EnrolMember(x, &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-y",
					BirthDate: &dpb.Date{Year: int32(next.Year()), Month: int32(next.Month()), Day: int32(next.Day())}})
				return err
			}, codes.InvalidArgument, "birth_date"},
			{"enrol born after the ledger's today", func(x context.Context) error {
				// A day after the ledger's clock, long before the wall clock the
				// schema's rule reads: the app refuses it too.
				_, err := c.EnrolMember(x, &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-y",
					BirthDate: ymd(env.Clock.Now().AddDate(0, 0, 1).Format(time.DateOnly))})
				return err
			}, codes.InvalidArgument, "birth_date"},
			{"reverse by a zero amount", func(x context.Context) error {
				_, err := c.Reverse(x, &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: earn.GetEntry().GetEntryId(),
					Portion: &ledgerv1.ReverseRequest_Returned{Returned: eur("0.00")}})
				return err
			}, codes.InvalidArgument, "returned"},
			{"list holds with a forged page token", func(x context.Context) error {
				_, err := c.ListHolds(x, &ledgerv1.ListHoldsRequest{MemberId: m, PageToken: "bm9wZQ"})
				return err
			}, codes.InvalidArgument, "page_token"},
			{"get an unknown hold", func(x context.Context) error {
				_, err := c.GetHold(x, &ledgerv1.GetHoldRequest{HoldId: unknown})
				return err
			}, codes.NotFound, ""},
			{"earn for a partner that is no UUID", func(x context.Context) error {
				_, err := c.Earn(x, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Basis: pts(1), Channel: pos, PartnerId: "p1"})
				return err
			}, codes.InvalidArgument, "partner_id"},
			{"expiry in the future", func(x context.Context) error {
				_, err := env.Admin.RunExpiry(x, &ledgerv1.RunExpiryRequest{IdempotencyKey: key(), AsOf: timestamppb.New(env.Clock.Now().Add(time.Hour))})
				return err
			}, codes.InvalidArgument, "as_of"},
			{"list with a forged page token", func(x context.Context) error {
				_, err := c.ListEntries(x, &ledgerv1.ListEntriesRequest{MemberId: m, PageToken: "bm9wZQ"})
				return err
			}, codes.InvalidArgument, "page_token"},
			{"balance of an unknown member", func(x context.Context) error {
				_, err := c.GetBalance(x, &ledgerv1.GetBalanceRequest{MemberId: unknown})
				return err
			}, codes.NotFound, ""},
		}
		if _, err := c.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: "k-reused", MemberId: m, Basis: pts(1), Channel: pos}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: key(), ProgrammeId: "test", ExternalRef: "card-dup"}); err != nil {
			t.Fatal(err)
		}
		// The reason (ErrorInfo) of every refusal that is not a bad argument.
		reasons := map[string]string{
			"earn unknown member":                      "MEMBER_NOT_FOUND",
			"earn reusing a key":                       "IDEMPOTENCY_KEY_REUSED",
			"burn more than available":                 "INSUFFICIENT_POINTS",
			"hold more than available":                 "INSUFFICIENT_POINTS",
			"capture unknown hold":                     "HOLD_NOT_FOUND",
			"capture more than held":                   "HOLD_EXCEEDED",
			"capture a released hold":                  "HOLD_NOT_ACTIVE",
			"release a released hold":                  "HOLD_NOT_ACTIVE",
			"reverse unknown entry":                    "ENTRY_NOT_FOUND",
			"reverse an explicit earn by amount":       "ENTRY_NOT_PURCHASE",
			"reverse more than earned":                 "REVERSAL_EXCEEDS_ENTRY",
			"refund more than burned":                  "REVERSAL_EXCEEDS_ENTRY",
			"reverse a hold entry":                     "ENTRY_NOT_REVERSIBLE",
			"clawback below the floor (reject policy)": "BALANCE_FLOOR_REACHED",
			"adjust below the floor":                   "BALANCE_FLOOR_REACHED",
			"enrol a taken card":                       "MEMBER_ALREADY_ENROLLED",
			"enrol in an unknown programme":            "PROGRAMME_NOT_FOUND",
			"balance of an unknown member":             "MEMBER_NOT_FOUND",
			"get an unknown hold":                      "HOLD_NOT_FOUND",
		}
		// A business refusal of a request with a key writes its key's record
		// (the refusal, replayed to retries) and nothing else; a bad
		// request writes nothing at all.
		unkeyed := map[string]bool{"earn reusing a key": true, "balance of an unknown member": true, "get an unknown hold": true}
		before := ledgertest.Counts(t, db)
		refusals := 0
		for _, tc := range cases {
			err := tc.call(ctx(t))
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
				continue
			}
			if tc.field != "" && !namesField(st, tc.field) {
				t.Errorf("%s: %v does not name field %q", tc.name, err, tc.field)
			}
			want := reasons[tc.name]
			if want == "" {
				want = map[codes.Code]string{codes.InvalidArgument: "INVALID_ARGUMENT"}[tc.code]
			}
			if got := reasonOf(st); want == "" || got != want {
				t.Errorf("%s: reason %q, want %q", tc.name, got, want)
			}
			if tc.code != codes.InvalidArgument && !unkeyed[tc.name] {
				refusals++
			}
		}
		before["ledger_idempotency"] += refusals
		wantSameCounts(t, before, ledgertest.Counts(t, db))
		wantBalance(t, env, m, want{available: 71, held: 20})
	})
}

func namesField(st *status.Status, field string) bool {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return true
				}
			}
		}
	}
	return false
}

// A stream's request is validated like a unary one: a bad WatchEvents
// request ends the stream with InvalidArgument naming the field, at once.
func TestWatchEventsBadInput(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		earnPoints(t, env, enrol(t, env, "test"), 10) // an event a filterless stream would send
		for field, req := range map[string]*ledgerv1.WatchEventsRequest{
			"types[0]":  {Types: []ledgerv1.MemberEventType{ledgerv1.MemberEventType(0)}},
			"types[0]:": {Types: []ledgerv1.MemberEventType{ledgerv1.MemberEventType(99)}},
			"member_id": {MemberId: "not-a-uuid"},
			"start":     {},
			"checkpoint_interval": {Start: &ledgerv1.WatchEventsRequest_Now{Now: &emptypb.Empty{}},
				CheckpointInterval: durationpb.New(100 * time.Millisecond)},
			"cursor": {Start: &ledgerv1.WatchEventsRequest_Cursor{}},
		} {
			c, cancel := context.WithTimeout(ctx(t), 5*time.Second)
			stream, err := env.Status.WatchEvents(c, req)
			if err == nil {
				_, err = stream.Recv()
			}
			cancel()
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("%v: %v, want InvalidArgument", req, err)
			}
			var named bool
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						named = named || strings.TrimSuffix(field, ":") == v.GetField()
					}
				}
			}
			if !named {
				t.Fatalf("%v: %v does not name %s", req, st.Details(), field)
			}
		}
	})
}
