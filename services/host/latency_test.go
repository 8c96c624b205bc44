package host_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/host"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/config"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

// With PostgreSQL slow (300 ms added to each chunk either way, through a
// proxy), a call with a 200 ms deadline ends DEADLINE_EXCEEDED (or
// UNAVAILABLE) within twice its deadline, and a call without a deadline
// ends by the server's default one (CallTimeout), neither hanging. Once
// the database is fast again, calls pass at once, and a retry of each
// refused call with its idempotency key has exactly one effect.
func TestDatabaseLatency(t *testing.T) {
	const (
		latency     = 300 * time.Millisecond
		deadline    = 200 * time.Millisecond
		callTimeout = time.Second
		members     = 4
		rounds      = 3
	)
	db := sqldbtest.Open(t, sqldb.Postgres)
	px, dsn := sqldbtest.NewProxy(t, db.DSN)
	s := start(t, db, func(c *host.Config) { c.DB = dsn; c.CallTimeout = callTimeout })
	ledger := ledgerv1.NewLedgerServiceClient(s.conn(t, s.key(t, "pos", []string{"pos"})))
	ids := make([]string, members)
	earn := func(member, key string) *ledgerv1.EarnRequest {
		return &ledgerv1.EarnRequest{IdempotencyKey: key, MemberId: member, Channel: typev1.Channel_CHANNEL_POS,
			Basis: &ledgerv1.EarnRequest_Points{Points: 1}}
	}
	for i := range ids {
		r, err := ledger.EnrolMember(ctx(t), &ledgerv1.EnrolMemberRequest{IdempotencyKey: fmt.Sprint("e", i), ProgrammeId: "test",
			ExternalRef: fmt.Sprint("CARD-SLOW-", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.GetMember().GetMemberId()
		if _, err := ledger.Earn(ctx(t), earn(ids[i], fmt.Sprint("before-", i))); err != nil {
			t.Fatal(err)
		}
	}
	// The calls refused while the database is slow, retried after.
	var mu sync.Mutex
	var refused []*ledgerv1.EarnRequest
	ended := map[string]int{} // code/reason -> calls
	// slowCall makes one call with the deadline (none when 0) and checks
	// how it ends and how long it took.
	slowCall := func(req *ledgerv1.EarnRequest, timeout, bound time.Duration) time.Duration {
		c, cancel := context.Background(), context.CancelFunc(func() {})
		if timeout > 0 {
			c, cancel = context.WithTimeout(c, timeout)
		}
		defer cancel()
		began := time.Now()
		_, err := ledger.Earn(c, req)
		took := time.Since(began)
		switch st := status.Convert(err); {
		case err == nil:
			t.Errorf("%s: acknowledged in %v with %v added each way", req.GetIdempotencyKey(), took, latency)
		case st.Code() != codes.DeadlineExceeded && st.Code() != codes.Unavailable:
			t.Errorf("%s: %v (reason %q), want DEADLINE_EXCEEDED or UNAVAILABLE", req.GetIdempotencyKey(), err, reasonOf(st))
		}
		if took > bound {
			t.Errorf("%s: ended after %v, want within %v", req.GetIdempotencyKey(), took, bound)
		}
		mu.Lock()
		refused = append(refused, req)
		ended[fmt.Sprintf("%s/%s", status.Code(err), reasonOf(status.Convert(err)))]++
		mu.Unlock()
		return took
	}

	px.SetDelay(latency)
	// A client deadline: every member's earn at once, a few rounds.
	var longest time.Duration
	for round := range rounds {
		var wg sync.WaitGroup
		for i := range members {
			wg.Go(func() {
				took := slowCall(earn(ids[i], fmt.Sprintf("slow-%d-%d", round, i)), deadline, 2*deadline)
				mu.Lock()
				longest = max(longest, took)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	t.Logf("%d calls with a %v deadline: the longest ended after %v", rounds*members, deadline, longest.Round(time.Millisecond))
	// No deadline: the server's own ends the call.
	took := slowCall(earn(ids[0], "no-deadline"), 0, 2*callTimeout)
	if took < callTimeout-50*time.Millisecond {
		t.Errorf("a call without a deadline ended after %v, before the server's default %v", took, callTimeout)
	}
	t.Logf("a call without a deadline ended after %v (server default %v); calls ended %v", took.Round(time.Millisecond), callTimeout, ended)

	px.SetDelay(0)
	fastAt := time.Now()
	// Retries with the same keys, until acknowledged: each counts once.
	for _, req := range refused {
		for {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := ledger.Earn(c, req)
			cancel()
			if err == nil {
				break
			}
			if st := status.Convert(err); st.Code() != codes.DeadlineExceeded && st.Code() != codes.Unavailable {
				t.Fatalf("retry of %s: %v", req.GetIdempotencyKey(), err)
			}
			if time.Since(fastAt) > 20*time.Second {
				t.Fatalf("retry of %s still refused 20 s after the database is fast again: %v", req.GetIdempotencyKey(), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("%d refused calls retried and acknowledged within %v of the latency going", len(refused), time.Since(fastAt).Round(time.Millisecond))
	// A new call is fast: nothing left over from the slow period is in its way.
	began := time.Now()
	if _, err := ledger.Earn(ctx(t), earn(ids[1], "after")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("a call after the latency went took %v", d)
	}
	want := make([]int64, members)
	for i := range want {
		want[i] = 1 // before-i
	}
	want[1]++ // after
	for _, req := range refused {
		for i, id := range ids {
			if req.GetMemberId() == id {
				want[i]++
			}
		}
	}
	for i, id := range ids {
		b, err := ledger.GetBalance(ctx(t), &ledgerv1.GetBalanceRequest{MemberId: id})
		if err != nil {
			t.Fatal(err)
		}
		var entries int64
		if err := db.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM ledger_entries WHERE member_id = $1`, id).Scan(&entries); err != nil {
			t.Fatal(err)
		}
		if got := b.GetBalance().GetAvailable(); got != want[i] || entries != want[i] {
			t.Errorf("member %d: balance %d, %d entries; %d earns acknowledged", i, got, entries, want[i])
		}
	}
	cfg, err := config.Load(s.programmes)
	if err != nil {
		t.Fatal(err)
	}
	ledgertest.CheckInvariants(t, db, cfg)
	if lines := errorLog(s.logs.Bytes()); lines != "" {
		t.Logf("ERROR log lines:\n%s", lines)
	}
}
