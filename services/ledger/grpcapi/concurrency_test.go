package grpcapi_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// replicas starts one ledger, or two sharing the database as two replicas
// of the service would, so that concurrency control is the database's.
func replicas(t *testing.T, db *sqldb.DB, n int) []*ledgertest.Env {
	first := ledgertest.Start(t, db, ledgertest.Options{})
	envs := []*ledgertest.Env{first}
	for range n - 1 {
		envs = append(envs, ledgertest.Start(t, sqldbtest.Reopen(t, db), ledgertest.Options{Clock: first.Clock}))
	}
	return envs
}

// 50 concurrent burns of X points on a member holding B points: exactly
// floor(B/X) succeed, the rest fail with FailedPrecondition, and the balance
// never goes below zero.
func TestConcurrentBurnsOneMember(t *testing.T) {
	const balanceB, burnX, burns = 1000, 30, 50
	for _, n := range []int{1, 2} {
		t.Run(map[int]string{1: "one-replica", 2: "two-replicas"}[n], func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
				envs := replicas(t, db, n)
				m := enrol(t, envs[0], "test")
				earnPoints(t, envs[0], m, balanceB)

				var wg sync.WaitGroup
				codesSeen := make([]codes.Code, burns)
				for i := range burns {
					wg.Go(func() {
						_, err := burn(t, envs[i%n], m, burnX)
						codesSeen[i] = status.Code(err)
					})
				}
				wg.Wait()
				ok := 0
				for _, c := range codesSeen {
					switch c {
					case codes.OK:
						ok++
					case codes.FailedPrecondition:
					default:
						t.Fatalf("burn failed with %s", c)
					}
				}
				if want := balanceB / burnX; ok != want {
					t.Fatalf("%d burns succeeded, want %d", ok, want)
				}
				wantBalance(t, envs[0], m, want{available: balanceB - burnX*(balanceB/burnX)})
			})
		})
	}
}

// 20 concurrent identical Earn calls with one idempotency key write one
// entry, and every caller gets the same reply.
func TestConcurrentIdempotentEarn(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(map[int]string{1: "one-replica", 2: "two-replicas"}[n], func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
				envs := replicas(t, db, n)
				m := enrol(t, envs[0], "test")
				req := &ledgerv1.EarnRequest{
					IdempotencyKey: "till-7-receipt-4411", MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
					Basis: &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "37.45", CurrencyCode: "EUR"}},
				}
				const calls = 20
				replies := make([]*ledgerv1.EarnResponse, calls)
				errs := make([]error, calls)
				var wg sync.WaitGroup
				for i := range calls {
					wg.Go(func() { replies[i], errs[i] = envs[i%n].Client.Earn(ctx(t), req) })
				}
				wg.Wait()
				for i := range calls {
					if errs[i] != nil {
						t.Fatalf("call %d: %v", i, errs[i])
					}
					if !proto.Equal(replies[i], replies[0]) {
						t.Fatalf("reply %d differs:\n%v\nvs\n%v", i, replies[i], replies[0])
					}
				}
				var entries int
				if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM ledger_entries WHERE member_id = $1`, m).Scan(&entries); err != nil {
					t.Fatal(err)
				}
				if entries != 1 {
					t.Fatalf("%d entries written, want 1", entries)
				}
				wantBalance(t, envs[0], m, want{pending: 37})

				// The same key with another body is refused and writes nothing.
				before := ledgertest.Counts(t, db)
				other := proto.Clone(req).(*ledgerv1.EarnRequest)
				other.Basis = &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "37.46", CurrencyCode: "EUR"}}
				_, err := envs[0].Client.Earn(ctx(t), other)
				wantCode(t, err, codes.AlreadyExists)
				wantSameCounts(t, before, ledgertest.Counts(t, db))
			})
		})
	}
}

// Idempotency keys belong to the authenticated principal: two POS fleets
// may use the same key for different purchases, and a header naming
// another caller opens no other key space.
func TestIdempotencyKeysAreScopedToThePrincipal(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earn := func(c ledgerv1.LedgerServiceClient, x context.Context, key string, points int64) error {
			_, err := c.Earn(x, &ledgerv1.EarnRequest{
				IdempotencyKey: key, MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
				Basis: &ledgerv1.EarnRequest_Points{Points: points},
			})
			return err
		}
		for _, who := range []string{"pos-north", "pos-south"} {
			key := env.Access.Key(t, who, []principal.Role{principal.POS}, "test")
			if err := earn(ledgerv1.NewLedgerServiceClient(ledgertest.Dial(t, env.Addr, key)), ctx(t), "receipt-1", 10); err != nil {
				t.Fatalf("%s: %v", who, err)
			}
		}
		if err := earn(env.Client, metadata.AppendToOutgoingContext(ctx(t), "x-fidelis-caller", "pos-east"), "receipt-2", 10); err != nil {
			t.Fatal(err)
		}
		err := earn(env.Client, metadata.AppendToOutgoingContext(ctx(t), "x-fidelis-caller", "pos-west"), "receipt-2", 11)
		wantCode(t, err, codes.AlreadyExists)
		wantBalance(t, env, m, want{available: 30})
	})
}

func wantSameCounts(t *testing.T, before, after map[string]int) {
	t.Helper()
	for table, n := range before {
		if after[table] != n {
			t.Fatalf("%s: %d rows before, %d after", table, n, after[table])
		}
	}
}
