package grpcapi_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/rewardstest"
)

// A reward targeted at segments is a personalised offer: redeemed only by
// a member of the segment who consents to profiling at the moment of the
// redemption (ConsentService).
func TestSegmentRewardsFollowProfilingConsent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := rewardstest.Start(t, db)
		m := member(t, env, "tiered", 0)
		if _, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
			OrderRef: "o-1", Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "100", CurrencyCode: "EUR"}},
			OccurredAt: timestamppb.New(env.Clock.Now())}); err != nil {
			t.Fatal(err)
		}
		// Score the member once the purchase is projected.
		segment := ""
		for deadline := time.Now().Add(10 * time.Second); segment == "" && time.Now().Before(deadline); {
			op, err := env.Admin.RecomputeSegments(ctx(t), &ledgerv1.RecomputeSegmentsRequest{IdempotencyKey: key(), ProgrammeId: "tiered"})
			if err := env.Await(ctx(t), op, err, &ledgerv1.RecomputeSegmentsResponse{}); err != nil {
				t.Fatal(err)
			}
			s, err := env.Status.GetSegment(ctx(t), &ledgerv1.GetSegmentRequest{MemberId: m})
			if err != nil {
				t.Fatal(err)
			}
			if segment = s.GetSegment(); segment == "" {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if segment == "" {
			t.Fatal("the member was never scored")
		}
		terms := voucherTerms(10, 10)
		terms.Segments = []string{segment}
		rw := createReward(t, env, "tiered", terms)
		profiling := func(st ledgerv1.ConsentState) {
			t.Helper()
			if _, err := env.Consent.SetConsent(ctx(t), &ledgerv1.SetConsentRequest{IdempotencyKey: key(), MemberId: m,
				Purpose: ledgerv1.ConsentPurpose_CONSENT_PURPOSE_PROFILING, State: st, Source: ledgerv1.ConsentSource_CONSENT_SOURCE_APP,
				TextVersion: "profiling-2026-01"}); err != nil {
				t.Fatal(err)
			}
		}

		_, err := redeem(t, env, m, rw.GetRewardId())
		wantCode(t, err, codes.FailedPrecondition) // never consented
		profiling(ledgerv1.ConsentState_CONSENT_STATE_GRANTED)
		if _, err := redeem(t, env, m, rw.GetRewardId()); err != nil {
			t.Fatalf("redeem with profiling consent: %v", err)
		}
		profiling(ledgerv1.ConsentState_CONSENT_STATE_WITHHELD)
		_, err = redeem(t, env, m, rw.GetRewardId())
		wantCode(t, err, codes.FailedPrecondition)
	})
}
