package grpcapi_test

import (
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	dpb "google.golang.org/genproto/googleapis/type/date"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

var keySeq atomic.Int64

func key() string { return fmt.Sprintf("k-%d", keySeq.Add(1)) }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func enrol(t testing.TB, env *ledgertest.Env, programme string) string {
	t.Helper()
	r, err := env.Client.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{
		IdempotencyKey: key(), ProgrammeId: programme, ExternalRef: "card-" + key(),
	})
	if err != nil {
		t.Fatalf("enrol: %v", err)
	}
	return r.GetMember().GetMemberId()
}

func earnPoints(t testing.TB, env *ledgertest.Env, member string, points int64) *ledgerv1.EarnResponse {
	t.Helper()
	r, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{
		IdempotencyKey: key(), MemberId: member, Basis: &ledgerv1.EarnRequest_Points{Points: points},
		Channel: typev1.Channel_CHANNEL_POS,
	})
	if err != nil {
		t.Fatalf("earn %d: %v", points, err)
	}
	return r
}

func earnPurchase(t testing.TB, env *ledgertest.Env, member, amount string) *ledgerv1.EarnResponse {
	t.Helper()
	r, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{
		IdempotencyKey: key(), MemberId: member, Channel: typev1.Channel_CHANNEL_POS, OrderRef: "order-" + key(),
		Basis:      &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: amount, CurrencyCode: "EUR"}},
		OccurredAt: timestamppb.New(env.Clock.Now()),
	})
	if err != nil {
		t.Fatalf("earn purchase %s: %v", amount, err)
	}
	return r
}

func burn(t testing.TB, env *ledgertest.Env, member string, points int64) (*ledgerv1.BurnResponse, error) {
	t.Helper()
	return env.Client.Burn(ctx(t), &ledgerv1.BurnRequest{
		IdempotencyKey: key(), MemberId: member, Points: points, Channel: typev1.Channel_CHANNEL_POS,
	})
}

func balance(t testing.TB, env *ledgertest.Env, member string) *ledgerv1.Balance {
	t.Helper()
	r, err := env.Client.GetBalance(ctx(t), &ledgerv1.GetBalanceRequest{MemberId: member})
	if err != nil {
		t.Fatalf("balance: %v", err)
	}
	return r.GetBalance()
}

type want struct{ available, pending, held int64 }

func wantBalance(t testing.TB, env *ledgertest.Env, member string, w want) *ledgerv1.Balance {
	t.Helper()
	b := balance(t, env, member)
	if got := (want{b.GetAvailable(), b.GetPending(), b.GetHeld()}); got != w {
		t.Fatalf("balance = %+v, want %+v", got, w)
	}
	env.Check(t)
	return b
}

func wantCode(t testing.TB, err error, c codes.Code) {
	t.Helper()
	if got := status.Code(err); got != c {
		t.Fatalf("error = %v, want code %s", err, c)
	}
}

// errorInfo is the google.rpc.ErrorInfo of a status (nil without one).
func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// reasonOf is the ErrorInfo reason of a status, "" without one.
func reasonOf(st *status.Status) string { return errorInfo(st).GetReason() }

// resourceOf is the google.rpc.ResourceInfo of a status (nil without one).
func resourceOf(st *status.Status) *errdetails.ResourceInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ResourceInfo); ok {
			return info
		}
	}
	return nil
}

// wantReason fails the test unless err has the code and ErrorInfo reason
// (of domain fidelis-loyalty.github.io).
func wantReason(t testing.TB, err error, c codes.Code, reason string) *status.Status {
	t.Helper()
	st := status.Convert(err)
	info := errorInfo(st)
	if st.Code() != c || info.GetReason() != reason || info.GetDomain() != "fidelis-loyalty.github.io" {
		t.Fatalf("error = %v (ErrorInfo %v), want %s with reason %s", err, info, c, reason)
	}
	return st
}

// ymd is a YYYY-MM-DD date as a google.type.Date, read field by field so
// that impossible dates (2026-02-30) stay impossible.
func ymd(s string) *dpb.Date {
	var y, m, d int32
	if _, err := fmt.Sscanf(s, "%d-%d-%d", &y, &m, &d); err != nil {
		panic(err)
	}
	return &dpb.Date{Year: y, Month: m, Day: d}
}

// await polls an operation the administration service started to its
// end: its response, or its error as a gRPC status error.
func await[R any, P interface {
	*R
	proto.Message
}](t testing.TB, env *ledgertest.Env, op *longrunningpb.Operation, err error) (P, error) {
	t.Helper()
	p := P(new(R))
	if err := env.Await(ctx(t), op, err, p); err != nil {
		return nil, err
	}
	return p, nil
}

// The batch work of the administration service, started with a fresh
// idempotency key and awaited.

func runExpiry(t testing.TB, env *ledgertest.Env, r *ledgerv1.RunExpiryRequest) (*ledgerv1.RunExpiryResponse, error) {
	r.IdempotencyKey = key()
	op, err := env.Admin.RunExpiry(ctx(t), r)
	return await[ledgerv1.RunExpiryResponse](t, env, op, err)
}

func evaluateTiers(t testing.TB, env *ledgertest.Env, r *ledgerv1.EvaluateTiersRequest) (*ledgerv1.EvaluateTiersResponse, error) {
	r.IdempotencyKey = key()
	op, err := env.Admin.EvaluateTiers(ctx(t), r)
	return await[ledgerv1.EvaluateTiersResponse](t, env, op, err)
}

func recomputeSegments(t testing.TB, env *ledgertest.Env, r *ledgerv1.RecomputeSegmentsRequest) (*ledgerv1.RecomputeSegmentsResponse, error) {
	r.IdempotencyKey = key()
	op, err := env.Admin.RecomputeSegments(ctx(t), r)
	return await[ledgerv1.RecomputeSegmentsResponse](t, env, op, err)
}

func runMoments(t testing.TB, env *ledgertest.Env, r *ledgerv1.RunMomentsRequest) (*ledgerv1.RunMomentsResponse, error) {
	r.IdempotencyKey = key()
	op, err := env.Admin.RunMoments(ctx(t), r)
	return await[ledgerv1.RunMomentsResponse](t, env, op, err)
}

func rebuildProjections(t testing.TB, env *ledgertest.Env, r *ledgerv1.RebuildProjectionsRequest) (*ledgerv1.RebuildProjectionsResponse, error) {
	r.IdempotencyKey = key()
	op, err := env.Admin.RebuildProjections(ctx(t), r)
	return await[ledgerv1.RebuildProjectionsResponse](t, env, op, err)
}

func refreshKpis(t testing.TB, env *ledgertest.Env, r *ledgerv1.RefreshKpisRequest) (*ledgerv1.RefreshKpisResponse, error) {
	r.IdempotencyKey = key()
	op, err := env.Admin.RefreshKpis(ctx(t), r)
	return await[ledgerv1.RefreshKpisResponse](t, env, op, err)
}
