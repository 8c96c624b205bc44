package grpcapi_test

import (
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// The idempotency rule, as the ledger keeps it (services/internal/idem):
// a business refusal is stored under its key and replayed to every retry,
// even once its cause is gone; the key then refuses any other request; a
// bad request is not stored, so the caller fixes it and retries with the
// same key.
func TestRefusalsAreReplayed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 50)
		burnReq := func(points int64, k string) *ledgerv1.BurnRequest {
			return &ledgerv1.BurnRequest{IdempotencyKey: k, MemberId: m, Points: points, Channel: typev1.Channel_CHANNEL_POS}
		}
		_, refused := env.Client.Burn(ctx(t), burnReq(80, "burn-80"))
		wantCode(t, refused, codes.FailedPrecondition)

		earnPoints(t, env, m, 100) // the cause is gone
		_, again := env.Client.Burn(ctx(t), burnReq(80, "burn-80"))
		if status.Code(again) != codes.FailedPrecondition || status.Convert(again).Message() != status.Convert(refused).Message() {
			t.Fatalf("retry of a refused burn: %v, want the refusal %v replayed", again, refused)
		}
		_, other := env.Client.Burn(ctx(t), burnReq(10, "burn-80"))
		wantCode(t, other, codes.AlreadyExists)
		wantBalance(t, env, m, want{available: 150})

		_, bad := env.Client.Burn(ctx(t), burnReq(0, "burn-fixed"))
		wantCode(t, bad, codes.InvalidArgument)
		if _, err := env.Client.Burn(ctx(t), burnReq(30, "burn-fixed")); err != nil {
			t.Fatalf("a bad request fixed, with the same key: %v", err)
		}
		wantBalance(t, env, m, want{available: 120})

		_, missing := env.Client.Capture(ctx(t), &ledgerv1.CaptureRequest{IdempotencyKey: "capture-x", HoldId: "0190c6a0-0000-7000-8000-000000000000"})
		wantCode(t, missing, codes.NotFound)
		_, missing = env.Client.Capture(ctx(t), &ledgerv1.CaptureRequest{IdempotencyKey: "capture-x", HoldId: "0190c6a0-0000-7000-8000-000000000000"})
		wantCode(t, missing, codes.NotFound)
	})
}

// Concurrent retries of one refused request, batched together or not,
// all get its refusal, and one record is stored.
func TestConcurrentRetriesOfARefusal(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 10)
		before := ledgertest.Counts(t, db)
		var wg sync.WaitGroup
		msgs := make([]string, 20)
		for i := range msgs {
			wg.Go(func() {
				_, err := env.Client.Burn(ctx(t), &ledgerv1.BurnRequest{IdempotencyKey: "burn-too-much", MemberId: m, Points: 11,
					Channel: typev1.Channel_CHANNEL_POS})
				if status.Code(err) != codes.FailedPrecondition {
					t.Errorf("retry %d: %v, want FailedPrecondition", i, err)
				}
				msgs[i] = status.Convert(err).Message()
			})
		}
		wg.Wait()
		for i, msg := range msgs {
			if msg != msgs[0] {
				t.Errorf("retry %d got %q, retry 0 %q", i, msg, msgs[0])
			}
		}
		before["ledger_idempotency"]++
		wantSameCounts(t, before, ledgertest.Counts(t, db))
		wantBalance(t, env, m, want{available: 10})
	})
}
