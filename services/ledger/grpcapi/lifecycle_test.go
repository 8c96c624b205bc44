package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
	"github.com/fidelis-loyalty/fidelis/services/internal/principal"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/ledger/domain"
	"github.com/fidelis-loyalty/fidelis/services/ledger/ledgertest"
)

const day = 24 * time.Hour

func schedule(b *ledgerv1.Balance) []int64 {
	var out []int64
	for _, e := range b.GetExpiring() {
		out = append(out, e.GetPoints())
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Lots expire 12 months after release; burns take the earliest-expiring
// lot first; a refund puts points back in their lots with their expiry, and
// points of a lot that expired meanwhile come back expired.
func TestExpiryFIFOAndRefunds(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 100) // lot A, expires in 12 months
		env.Clock.Advance(180 * day)
		earnPoints(t, env, m, 100) // lot B, six months later
		if got := schedule(wantBalance(t, env, m, want{available: 200})); !equal(got, []int64{100, 100}) {
			t.Fatalf("schedule %v", got)
		}
		b, err := burn(t, env, m, 150)
		if err != nil {
			t.Fatal(err)
		}
		if got := schedule(wantBalance(t, env, m, want{available: 50})); !equal(got, []int64{50}) {
			t.Fatalf("after burning 150: schedule %v, want lot A empty and 50 left in B", got)
		}
		// A partial refund restores the latest-expiring points first.
		if _, err := env.Client.Reverse(ctx(t), &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: b.GetEntry().GetEntryId(),
			Portion: &ledgerv1.ReverseRequest_Points{Points: 30}}); err != nil {
			t.Fatal(err)
		}
		if got := schedule(wantBalance(t, env, m, want{available: 80})); !equal(got, []int64{80}) {
			t.Fatalf("after refunding 30: schedule %v", got)
		}
		// Lot A expires; RunExpiry finds nothing to do in A (it is empty) and
		// is a no-op when run again.
		env.Clock.Advance(200 * day)
		run, err := runExpiry(t, env, &ledgerv1.RunExpiryRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if run.GetPointsExpired() != 0 {
			t.Fatalf("expired %d points from an empty lot", run.GetPointsExpired())
		}
		// Refunding the rest returns lot A's 100 points expired.
		r, err := env.Client.Reverse(ctx(t), &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: b.GetEntry().GetEntryId(),
			Portion: &ledgerv1.ReverseRequest_Full{Full: true}})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetEntry().GetPoints() != 120 || r.GetBalance().GetAvailable() != 100 {
			t.Fatalf("full refund: %d points, available %d; want 120 refunded, 100 expired again", r.GetEntry().GetPoints(), r.GetBalance().GetAvailable())
		}
		if got := schedule(wantBalance(t, env, m, want{available: 100})); !equal(got, []int64{100}) {
			t.Fatalf("after full refund: %v", got)
		}
		// Lot B expires too.
		env.Clock.Advance(200 * day)
		run, err = runExpiry(t, env, &ledgerv1.RunExpiryRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if run.GetPointsExpired() != 100 || run.GetLotsExpired() != 1 || run.GetMembersProcessed() != 1 {
			t.Fatalf("expiry run %v", run)
		}
		again, err := runExpiry(t, env, &ledgerv1.RunExpiryRequest{})
		if err != nil || again.GetMembersProcessed() != 0 {
			t.Fatalf("second run %v %v", again, err)
		}
		wantBalance(t, env, m, want{})
	})
}

// RunExpiry(as_of) expires as of that time only: a later lot survives.
func TestRunExpiryAsOf(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		start := env.Clock.Now()
		earnPoints(t, env, m, 40)
		env.Clock.Advance(60 * day)
		earnPoints(t, env, m, 60)
		env.Clock.Advance(400 * day) // both lots have expired by now
		run, err := runExpiry(t, env, &ledgerv1.RunExpiryRequest{AsOf: timestamppb.New(start.AddDate(1, 0, 2))})
		if err != nil {
			t.Fatal(err)
		}
		if run.GetPointsExpired() != 40 {
			t.Fatalf("expired %d as of 12 months + 2 days, want 40", run.GetPointsExpired())
		}
		ledgertest.CheckInvariants(t, db, env.Cfg)
		wantBalance(t, env, m, want{}) // reading settles the rest as of now
	})
}

// A purchase recorded late, after its points would have expired, earns
// them and expires them in the same call.
func TestBackdatedEarnPastItsExpiry(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 5)
		if _, err := env.Client.Earn(ctx(t), &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m, Channel: typev1.Channel_CHANNEL_POS,
			Basis:      &ledgerv1.EarnRequest_Purchase{Purchase: &typev1.Money{Amount: "30", CurrencyCode: "EUR"}},
			OccurredAt: timestamppb.New(env.Clock.Now().AddDate(-2, 0, 0))}); err != nil {
			t.Fatal(err)
		}
		wantBalance(t, env, m, want{available: 5})
		ledgertest.CheckInvariants(t, db, env.Cfg)
	})
}

// Purchase points are pending for the return window; a return inside it
// cancels pending points first and claws back in proportion.
func TestReturnsClawBackProportionally(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 20)
		e := earnPurchase(t, env, m, "200.00") // 200 points pending
		ret := func(amount string) *ledgerv1.ReverseResponse {
			t.Helper()
			r, err := env.Client.Reverse(ctx(t), &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: e.GetEntry().GetEntryId(),
				Portion: &ledgerv1.ReverseRequest_Returned{Returned: &typev1.Money{Amount: amount, CurrencyCode: "EUR"}}})
			if err != nil {
				t.Fatalf("return %s: %v", amount, err)
			}
			return r
		}
		if r := ret("50.00"); r.GetEntry().GetPoints() != 50 || r.GetEntry().GetKind() != ledgerv1.EntryKind_ENTRY_KIND_CLAWBACK {
			t.Fatalf("return of a quarter: %v", r.GetEntry())
		}
		wantBalance(t, env, m, want{available: 20, pending: 150})
		env.Clock.Advance(15 * day)
		wantBalance(t, env, m, want{available: 170})
		if _, err := burn(t, env, m, 160); err != nil {
			t.Fatal(err)
		}
		// The remaining 150 EUR come back: 150 points, of which 10 are
		// available; the balance may go to -100 (the floor), the last 40 are
		// uncollected.
		r := ret("150.00")
		if r.GetEntry().GetPoints() != 110 || r.GetUncollectedPoints() != 40 || r.GetBalance().GetAvailable() != -100 {
			t.Fatalf("final return: %d collected, %d uncollected, available %d", r.GetEntry().GetPoints(),
				r.GetUncollectedPoints(), r.GetBalance().GetAvailable())
		}
		_, err := env.Client.Reverse(ctx(t), &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: e.GetEntry().GetEntryId(),
			Portion: &ledgerv1.ReverseRequest_Returned{Returned: &typev1.Money{Amount: "0.01", CurrencyCode: "EUR"}}})
		wantCode(t, err, codes.FailedPrecondition)
		// New points repay the debt before they can be spent.
		earnPoints(t, env, m, 130)
		wantBalance(t, env, m, want{available: 30})
		_, err = burn(t, env, m, 31)
		wantCode(t, err, codes.FailedPrecondition)
	})
}

// Holds reserve points until captured (in part: the rest returns) or
// released, and expire with their TTL.
func TestHolds(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		c := env.Client
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 100)
		hold := func(points int64, ttl time.Duration) *ledgerv1.HoldResponse {
			t.Helper()
			r, err := c.Hold(ctx(t), &ledgerv1.HoldRequest{IdempotencyKey: key(), MemberId: m, Points: points,
				Channel: typev1.Channel_CHANNEL_ECOMMERCE, Reference: "checkout-" + key(), Ttl: durationpb.New(ttl)})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		h := hold(60, 5*time.Minute)
		wantBalance(t, env, m, want{available: 40, held: 60})
		cap, err := c.Capture(ctx(t), &ledgerv1.CaptureRequest{IdempotencyKey: key(), HoldId: h.GetHold().GetHoldId(), Points: 45})
		if err != nil {
			t.Fatal(err)
		}
		if cap.GetHold().GetStatus() != ledgerv1.HoldStatus_HOLD_STATUS_CAPTURED || cap.GetReleaseEntry().GetPoints() != 15 {
			t.Fatalf("partial capture: %v", cap)
		}
		wantBalance(t, env, m, want{available: 55})
		// A captured hold is a burn: refunding it restores the points.
		if _, err := c.Reverse(ctx(t), &ledgerv1.ReverseRequest{IdempotencyKey: key(), EntryId: cap.GetEntry().GetEntryId(),
			Portion: &ledgerv1.ReverseRequest_Full{Full: true}}); err != nil {
			t.Fatal(err)
		}
		wantBalance(t, env, m, want{available: 100})

		h2 := hold(30, time.Minute)
		rel, err := c.Release(ctx(t), &ledgerv1.ReleaseRequest{IdempotencyKey: key(), HoldId: h2.GetHold().GetHoldId()})
		if err != nil || rel.GetHold().GetStatus() != ledgerv1.HoldStatus_HOLD_STATUS_RELEASED {
			t.Fatalf("release: %v %v", rel, err)
		}
		h3 := hold(70, time.Minute)
		env.Clock.Advance(2 * time.Minute)
		wantBalance(t, env, m, want{available: 100}) // the expired hold has returned its points
		_, err = c.Capture(ctx(t), &ledgerv1.CaptureRequest{IdempotencyKey: key(), HoldId: h3.GetHold().GetHoldId()})
		wantCode(t, err, codes.FailedPrecondition)
	})
}

// Entries are append-only: the database refuses to change them.
func TestEntriesAreAppendOnly(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		earnPoints(t, env, m, 10)
		for _, q := range []string{
			`UPDATE ledger_entries SET points = 1000`,
			`DELETE FROM ledger_entries`,
			`UPDATE ledger_postings SET amount = 0`,
			`DELETE FROM ledger_lot_moves`,
		} {
			if _, err := db.ExecContext(ctx(t), q); err == nil {
				t.Errorf("%s: allowed", q)
			}
		}
		wantBalance(t, env, m, want{available: 10})
	})
}

// A request whose caller has given up is not started: nothing is written.
func TestDeadlineExceededWritesNothing(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		env := ledgertest.Start(t, db, ledgertest.Options{})
		m := enrol(t, env, "test")
		before := ledgertest.Counts(t, db)
		c, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := env.Ledger.Posting.Earn(c, principal.System("pos"), key(), m, domain.EarnCmd{Points: 5})
		if err == nil {
			t.Fatal("earn with a passed deadline succeeded")
		}
		_, err = env.Client.Earn(c, &ledgerv1.EarnRequest{IdempotencyKey: key(), MemberId: m,
			Basis: &ledgerv1.EarnRequest_Points{Points: 5}, Channel: typev1.Channel_CHANNEL_POS})
		wantCode(t, err, codes.DeadlineExceeded)
		wantSameCounts(t, before, ledgertest.Counts(t, db))
	})
}
