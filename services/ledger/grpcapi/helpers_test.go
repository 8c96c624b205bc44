package grpcapi_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
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
		Channel: ledgerv1.Channel_CHANNEL_POS,
	})
	if err != nil {
		t.Fatalf("earn %d: %v", points, err)
	}
	return r
}

func earnPurchase(t testing.TB, env *ledgertest.Env, member, amount string) *ledgerv1.EarnResponse {
	t.Helper()
	r, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{
		IdempotencyKey: key(), MemberId: member, Channel: ledgerv1.Channel_CHANNEL_POS, OrderRef: "order-" + key(),
		Basis:      &ledgerv1.EarnRequest_Purchase{Purchase: &ledgerv1.Money{Amount: amount, Currency: "EUR"}},
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
		IdempotencyKey: key(), MemberId: member, Points: points, Channel: ledgerv1.Channel_CHANNEL_POS,
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
