package app_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb/sqldbtest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// The idempotency rule (services/internal/idem) as the rewards service
// keeps it.

func sameRefusal(t *testing.T, got, want error) {
	t.Helper()
	g, ok1 := fault.As(got)
	w, ok2 := fault.As(want)
	if !ok1 || !ok2 || !reflect.DeepEqual(g, w) {
		t.Fatalf("got %v, want the refusal %v replayed", got, want)
	}
}

// A refused redemption is the reply to its key for good: refused before
// anything is created (no such member), or on allocation (out of stock),
// the retry after the cause is fixed gets the same refusal; a new key
// succeeds.
func TestRedeemRefusalsAreReplayedAfterTheCauseIsFixed(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 100, 1)
		_, first := f.redeem("k1", "m9")
		if e, ok := fault.As(first); !ok || e.Kind != fault.KindNotFound {
			t.Fatalf("redeem for an unknown member: %v", first)
		}
		f.ledger.enrol("m9", "p1", 500)
		_, again := f.redeem("k1", "m9")
		sameRefusal(t, again, first)

		f.ledger.enrol("m1", "p1", 500)
		if _, err := f.redeem("k2", "m1"); err != nil {
			t.Fatal(err)
		}
		_, first = f.redeem("k3", "m9")
		if !isPrecondition(first) {
			t.Fatalf("redeem out of stock: %v", first)
		}
		terms := f.reward.Terms
		terms.StockTotal = 5
		if _, err := f.app.UpdateReward(ctx, admin, "restock", app.RewardUpdate{RewardID: f.reward.ID, Terms: terms}); err != nil {
			t.Fatal(err)
		}
		_, again = f.redeem("k3", "m9")
		sameRefusal(t, again, first)
		if res, err := f.redeem("k4", "m9"); err != nil || res.Voucher.Status != domain.VoucherActive {
			t.Fatalf("a new key after restocking: %+v %v", res, err)
		}
		if f.stockAllocated(t) != 2 || f.ledger.available["m9"] != 400 {
			t.Fatalf("stock allocated %d, m9 has %d", f.stockAllocated(t), f.ledger.available["m9"])
		}
		f.ledger.check(t)
	})
}

// A key used for one request refuses another, and nothing of the other is
// done; the refusal is not stored, the first request still replays.
func TestRedeemKeyReusedForAnotherRequest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 100, 5)
		f.ledger.enrol("m1", "p1", 500)
		f.ledger.enrol("m2", "p1", 500)
		res, err := f.redeem("k1", "m1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.redeem("k1", "m2")
		e, ok := fault.As(err)
		if !ok || e.Kind != fault.KindAlreadyExists || !idem.IsKeyReused(err) ||
			err.Error() != `idempotency key "k1" was already used for a different request` {
			t.Fatalf("another request with k1: %v", err)
		}
		if f.ledger.available["m2"] != 500 || f.stockAllocated(t) != 1 {
			t.Fatalf("the refused request acted: m2 has %d, stock allocated %d", f.ledger.available["m2"], f.stockAllocated(t))
		}
		again, err := f.redeem("k1", "m1")
		if err != nil || again.Voucher.Code != res.Voucher.Code {
			t.Fatalf("replay after the reuse: %+v %v", again, err)
		}
	})
}

// A bad request is not stored: fixed, it succeeds with the same key.
func TestInvalidRequestsAreNotStored(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 100, 5)
		terms := domain.Terms{Name: "Five off", PointsCost: 100, Type: domain.TypeVoucherAmount, VoucherValidity: time.Hour, StockTotal: 5}
		_, err := f.app.CreateReward(ctx, admin, "five-off", "p1", terms)
		if e, ok := fault.As(err); !ok || e.Kind != fault.KindInvalid {
			t.Fatalf("a voucher without its amount: %v", err)
		}
		terms.Amount = &money.Money{Amount: decimal.NewFromInt(5), Currency: "EUR"}
		r, err := f.app.CreateReward(ctx, admin, "five-off", "p1", terms)
		if err != nil || r.Amount == nil {
			t.Fatalf("the fixed request with the same key: %+v %v", r, err)
		}
	})
}

// A ledger that fails, or answers Unavailable, refuses nothing: nothing is
// stored, and the retry with the key resumes the redemption, holding and
// allocating once.
func TestRedeemLedgerOutagesAreNotStored(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, 200, 5)
		f.ledger.enrol("m1", "p1", 500)
		f.ledger.fail["programme"] = 1
		if _, err := f.redeem("k1", "m1"); !errors.Is(err, errLedgerDown) {
			t.Fatalf("redeem, the ledger down before anything: %v", err)
		}
		f.ledger.draining["hold"] = 1
		_, err := f.redeem("k1", "m1")
		if e, ok := fault.As(err); !ok || e.Kind != fault.KindUnavailable {
			t.Fatalf("redeem, the ledger draining at the hold: %v", err)
		}
		f.ledger.draining["capture"] = 1
		if _, err := f.redeem("k1", "m1"); err == nil || idem.Storable(err) {
			t.Fatalf("redeem, the ledger draining at the capture: %v", err)
		}
		res, err := f.redeem("k1", "m1")
		if err != nil || res.Redemption.Status != domain.RedemptionCompleted {
			t.Fatalf("the retry: %+v %v", res, err)
		}
		if len(f.ledger.holds) != 1 || f.ledger.burned("m1") != 200 || f.stockAllocated(t) != 1 {
			t.Fatalf("%d holds, burned %d, stock allocated %d", len(f.ledger.holds), f.ledger.burned("m1"), f.stockAllocated(t))
		}
		f.ledger.check(t)
	})
}

// A cancellation goes by the same rule: a refusal is replayed, a refund
// the ledger could not make is resumed by the retry.
func TestCancelRedemptionIdempotency(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 200, 5)
		f.ledger.enrol("m1", "p1", 500)
		_, first := f.app.CancelRedemption(ctx, admin, "c1", "nope", "changed mind")
		if e, ok := fault.As(first); !ok || e.Kind != fault.KindNotFound {
			t.Fatalf("cancel an unknown redemption: %v", first)
		}
		_, again := f.app.CancelRedemption(ctx, admin, "c1", "nope", "changed mind")
		sameRefusal(t, again, first)

		res, err := f.redeem("k1", "m1")
		if err != nil {
			t.Fatal(err)
		}
		f.ledger.fail["refund"] = 1
		if _, err := f.app.CancelRedemption(ctx, admin, "c2", res.Redemption.ID, "changed mind"); !errors.Is(err, errLedgerDown) {
			t.Fatalf("cancel, the ledger down: %v", err)
		}
		done, err := f.app.CancelRedemption(ctx, admin, "c2", res.Redemption.ID, "changed mind")
		if err != nil || done.Redemption.Status != domain.RedemptionCancelled || done.Voucher.Status != domain.VoucherCancelled {
			t.Fatalf("the retry: %+v %v", done, err)
		}
		if _, err := f.app.CancelRedemption(ctx, admin, "c2", res.Redemption.ID, "other reason"); !idem.IsKeyReused(err) {
			t.Fatalf("c2 for another reason: %v", err)
		}
		if f.ledger.available["m1"] != 500 || f.stockAllocated(t) != 0 {
			t.Fatalf("after the cancellation: available %d, stock allocated %d", f.ledger.available["m1"], f.stockAllocated(t))
		}
		f.ledger.check(t)
	})
}

// Keys older than the retention are purged; younger ones still replay.
func TestPurgeKeys(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 100, 5) // the reward's key
		f.ledger.enrol("m1", "p1", 500)
		if _, err := f.redeem("k1", "m1"); err != nil {
			t.Fatal(err)
		}
		if r := f.app.KeyRetention(); r != 24*time.Hour {
			t.Fatalf("retention %s", r)
		}
		f.clock.Advance(f.app.KeyRetention() - time.Second)
		young, err := f.redeem("k2", "m1")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := f.app.PurgeKeys(ctx); err != nil || n != 0 {
			t.Fatalf("purged %d %v before the retention", n, err)
		}
		f.clock.Advance(2 * time.Second)
		if n, err := f.app.PurgeKeys(ctx); err != nil || n != 2 {
			t.Fatalf("purged %d %v, want the reward's and k1's", n, err)
		}
		again, err := f.redeem("k2", "m1")
		if err != nil || again.Voucher.Code != young.Voucher.Code {
			t.Fatalf("k2 after the purge: %+v %v", again, err)
		}
	})
}

// Recovery leaves a redemption unfinished for longer than the recovery
// window (its ledger keys may be gone), and says so.
func TestRecoverLeavesRedemptionsBeyondTheWindow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, 200, 5)
		f.ledger.enrol("m1", "p1", 500)
		f.ledger.fail["capture"] = 1
		if _, err := f.redeem("k1", "m1"); !errors.Is(err, errLedgerDown) {
			t.Fatalf("redeem: %v", err)
		}
		f.clock.Advance(idem.RecoveryWindow + time.Minute)
		if n, err := f.app.Recover(ctx); err != nil || n != 0 {
			t.Fatalf("recovered %d %v, want none", n, err)
		}
		f.ledger.mu.Lock()
		held := f.ledger.available["m1"]
		f.ledger.mu.Unlock()
		if held != 300 || f.stockAllocated(t) != 1 {
			t.Fatalf("recovery acted beyond the window: available %d, stock allocated %d", held, f.stockAllocated(t))
		}
	})
}
