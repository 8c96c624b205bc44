// Package apptest states what any implementation of the rewards service's
// store (app.Store) must do (Contract), through the interface only.
package apptest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
	"github.com/fidelis-loyalty/fidelis/services/internal/storetest"
	"github.com/fidelis-loyalty/fidelis/services/rewards/app"
	"github.com/fidelis-loyalty/fidelis/services/rewards/domain"
)

// Contract states what any app.Store must do. open returns an empty store
// of its own for each subtest (a fresh, migrated database).
func Contract(t *testing.T, open func(t *testing.T) app.Store) {
	t.Run("Rewards", func(t *testing.T) { rewards(t, open(t)) })
	t.Run("Stock", func(t *testing.T) { stock(t, open(t)) })
	t.Run("StockConcurrent", func(t *testing.T) { stockConcurrent(t, open(t)) })
	t.Run("MemberLimits", func(t *testing.T) { memberLimits(t, open(t)) })
	t.Run("MemberLimitsConcurrent", func(t *testing.T) { memberLimitsConcurrent(t, open(t)) })
	t.Run("Redemptions", func(t *testing.T) { redemptions(t, open(t)) })
	t.Run("Unfinished", func(t *testing.T) { unfinished(t, open(t)) })
	t.Run("Vouchers", func(t *testing.T) { vouchers(t, open(t)) })
	t.Run("VoucherConcurrent", func(t *testing.T) { voucherConcurrent(t, open(t)) })
	t.Run("Idempotency", func(t *testing.T) { storetest.Idem[app.Tx](t, open(t), app.ErrConflict) })
	t.Run("PurgeIdem", func(t *testing.T) {
		s := open(t)
		storetest.PurgeIdem[app.Tx](t, s, s.PurgeIdem)
	})
	t.Run("FailuresWriteNothing", func(t *testing.T) { failuresWriteNothing(t, open(t)) })
}

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func eur(s string) *money.Money { return &money.Money{Amount: dec(s), Currency: "EUR"} }

func view(t testing.TB, s app.Store, fn func(ctx context.Context, tx app.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func update(t testing.TB, s app.Store, fn func(ctx context.Context, tx app.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// conflict runs op in a transaction and fails the test unless op and the
// transaction fail with app.ErrConflict.
func conflict(t testing.TB, s app.Store, what string, op func(ctx context.Context, tx app.Tx) error) {
	t.Helper()
	var opErr error
	err := s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
		opErr = op(ctx, tx)
		return opErr
	})
	if !errors.Is(opErr, app.ErrConflict) || !errors.Is(err, app.ErrConflict) {
		t.Errorf("%s: %v, transaction: %v; want app.ErrConflict from both", what, opErr, err)
	}
}

// insert saves rewards, redemptions and vouchers in one transaction.
func insert(t testing.TB, s app.Store, xs ...any) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, x := range xs {
			var err error
			switch x := x.(type) {
			case *domain.Reward:
				err = tx.InsertReward(ctx, x)
			case *domain.Redemption:
				err = tx.InsertRedemption(ctx, x)
			case *domain.Voucher:
				err = tx.InsertVoucher(ctx, x)
			default:
				err = fmt.Errorf("cannot insert %T", x)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// newReward is an amount voucher reward of programme with only the terms
// every reward has.
func newReward(id, programme, name string, cost int64, created time.Time) *domain.Reward {
	return &domain.Reward{ID: id, ProgrammeID: programme, State: domain.StateActive, Version: 1, CreatedAt: created, UpdatedAt: created,
		Terms: domain.Terms{Name: name, Description: "all about " + name, PointsCost: cost, Type: domain.TypeVoucherAmount,
			Amount: eur("10.50"), VoucherValidity: 30 * 24 * time.Hour, StockTotal: 100}}
}

func reward(t testing.TB, s app.Store, id string) *domain.Reward {
	t.Helper()
	var r *domain.Reward
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		var err error
		r, err = tx.Reward(ctx, id)
		return err
	})
	if r == nil {
		t.Fatalf("reward %s not found", id)
	}
	return r
}

// Rewards read back as inserted, every term; UpdateReward changes the
// terms, whether the reward is offered and when it was updated, and
// nothing else: the programme, the creation time and the stock allocated
// (an update from a reward read before an allocation does not undo it).
// Rewards lists a programme's rewards cheapest first, then by name and id,
// the inactive ones only when asked; an id is taken once.
func rewards(t *testing.T, s app.Store) {
	cinema := newReward("r-cinema", "p", "Cinema", 100, day(0))
	cinema.Terms = domain.Terms{Name: "Cinema", Description: "Two tickets", PointsCost: 100, Type: domain.TypeVoucherAmount,
		Amount: eur("10.50"), ValidFrom: day(1), ValidUntil: day(60), VoucherValidity: 90*time.Minute + 30*time.Second,
		StockTotal: 5, MemberLimit: 2, LimitPeriod: period.Month, MinTier: "gold", Segments: []string{"young", "urban"},
		StoreIDs: []string{"paris-01", "lyon-02"}, Channels: []domain.Channel{domain.ChannelPOS, domain.ChannelEcommerce}}
	coffee := newReward("r-coffee", "p", "Coffee", 50, day(1))
	coffee.Type, coffee.Amount, coffee.ProductSKU, coffee.State, coffee.StockAllocated = domain.TypeFreeProduct, nil, "sku-42", domain.StateInactive, 2
	brunch1 := newReward("r-x1", "p", "Brunch", 100, day(2))
	brunch1.Type, brunch1.Amount, brunch1.Percent = domain.TypeVoucherPercent, nil, dec("12.5")
	brunch2 := newReward("r-x2", "p", "Brunch", 100, day(2))
	brunch2.Type, brunch2.Amount, brunch2.PartnerID, brunch2.PartnerRef = domain.TypePartner, nil, "acme", "acme-brunch"
	brunch2.StoreIDs, brunch2.Version = []string{`odd,id`, `back\slash`}, 7
	apple := newReward("r-apple", "p", "Apple", 200, day(3))
	other := newReward("r-other", "q", "Apple", 10, day(3))

	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Reward(ctx, "r-cinema")
		storetest.Check(t, "Reward of an empty store", got, (*domain.Reward)(nil))
		return err
	})
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, r := range []*domain.Reward{brunch2, cinema, coffee} {
			if err := tx.InsertReward(ctx, r); err != nil {
				return err
			}
		}
		got, err := tx.Reward(ctx, "r-cinema")
		storetest.Check(t, "Reward in its transaction", got, cinema)
		return err
	})
	insert(t, s, apple, other, brunch1)
	conflict(t, s, "InsertReward of an id taken", func(ctx context.Context, tx app.Tx) error {
		return tx.InsertReward(ctx, newReward("r-cinema", "q", "Other", 1, day(9)))
	})

	check := func(what string, all, active, others []*domain.Reward) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			for _, r := range append(all, others...) {
				got, err := tx.Reward(ctx, r.ID)
				if err != nil {
					return err
				}
				storetest.Check(t, what+": Reward "+r.ID, got, r)
			}
			got, err := tx.Reward(ctx, "r-none")
			if err != nil {
				return err
			}
			storetest.Check(t, what+": Reward(r-none)", got, (*domain.Reward)(nil))
			for _, c := range []struct {
				programme string
				inactive  bool
				want      []*domain.Reward
			}{
				{"p", true, all},
				{"p", false, active},
				{"q", false, others},
				{"none", true, nil},
			} {
				got, err := tx.Rewards(ctx, app.RewardsQuery{ProgrammeID: c.programme, IncludeInactive: c.inactive, Limit: 100})
				if err != nil {
					return err
				}
				storetest.Check(t, fmt.Sprintf("%s: Rewards(%q, %v)", what, c.programme, c.inactive), got, c.want)
				// Page by page, two at a time, after the last of each.
				var paged []*domain.Reward
				q := app.RewardsQuery{ProgrammeID: c.programme, IncludeInactive: c.inactive, Limit: 2}
				for range 10 {
					page, err := tx.Rewards(ctx, q)
					if err != nil {
						return err
					}
					paged = append(paged, page...)
					if len(page) < 2 {
						break
					}
					last := page[len(page)-1]
					q.After = &app.RewardCursor{PointsCost: last.PointsCost, Name: last.Name, ID: last.ID}
				}
				storetest.Check(t, fmt.Sprintf("%s: Rewards(%q, %v) in pages of 2", what, c.programme, c.inactive), paged, c.want)
			}
			return nil
		})
	}
	check("inserted", []*domain.Reward{coffee, brunch1, brunch2, cinema, apple}, []*domain.Reward{brunch1, brunch2, cinema, apple},
		[]*domain.Reward{other})

	stale := reward(t, s, "r-cinema")
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		ok, err := tx.AllocateStock(ctx, "r-cinema", 3)
		if !ok && err == nil {
			err = errors.New("AllocateStock(r-cinema, 3) refused")
		}
		return err
	})
	upd := *stale
	upd.Terms = domain.Terms{Name: "Cinema for two", Description: "Two tickets, popcorn", PointsCost: 300,
		Type: domain.TypeVoucherPercent, Percent: dec("25"), VoucherValidity: time.Hour, StockTotal: 7, MemberLimit: 1,
		LimitPeriod: period.Week, Channels: []domain.Channel{domain.ChannelPartner}}
	upd.State, upd.UpdatedAt, upd.Version = domain.StateInactive, day(5), stale.Version+1
	mangled := upd
	mangled.ProgrammeID, mangled.CreatedAt = "q", day(9) // and StockAllocated 0, as read before the allocation
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.UpdateReward(ctx, &mangled, stale.Version) })
	lost := *stale
	lost.Name, lost.Version = "Lost update", stale.Version+1
	conflict(t, s, "UpdateReward from a version it left", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateReward(ctx, &lost, stale.Version)
	})
	unknownReward := *newReward("r-none", "p", "None", 1, day(9))
	conflict(t, s, "UpdateReward of a reward unknown", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateReward(ctx, &unknownReward, 1)
	})
	upd.StockAllocated = 3
	check("updated", []*domain.Reward{coffee, brunch1, brunch2, apple, &upd}, []*domain.Reward{brunch1, brunch2, apple},
		[]*domain.Reward{other})
}

// AllocateStock takes stock only if that much is left, else changes
// nothing (a reward unknown has none); ReturnStock gives it back; the
// stock allocated never goes below zero.
func stock(t *testing.T, s app.Store) {
	r := newReward("r-1", "p", "Mug", 10, day(0))
	r.StockTotal = 3
	other := newReward("r-2", "p", "Cup", 10, day(0))
	insert(t, s, r, other)
	allocate := func(id string, n int64, want bool) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx app.Tx) error {
			ok, err := tx.AllocateStock(ctx, id, n)
			if ok != want {
				t.Errorf("AllocateStock(%s, %d) = %v, want %v", id, n, ok, want)
			}
			return err
		})
	}
	give := func(id string, n int64) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.ReturnStock(ctx, id, n) })
	}
	allocated := func(what string, want int64) {
		t.Helper()
		if got := reward(t, s, "r-1"); got.StockAllocated != want || got.StockLeft() != r.StockTotal-want {
			t.Errorf("%s: stock allocated %d, left %d; want %d allocated of %d", what, got.StockAllocated, got.StockLeft(), want, r.StockTotal)
		}
	}
	allocate("r-1", 2, true)
	allocate("r-1", 2, false)
	allocated("after a refused allocation", 2)
	allocate("r-1", 1, true)
	allocate("r-1", 1, false)
	allocated("all allocated", 3)
	give("r-1", 2)
	allocated("after a return", 1)
	allocate("r-1", 2, true)
	allocated("allocated again", 3)
	allocate("r-none", 1, false)
	if got := reward(t, s, "r-2"); got.StockAllocated != 0 {
		t.Errorf("another reward's stock allocated: %d", got.StockAllocated)
	}

	// Returning more than is allocated may fail, but never leaves more
	// stock than the total.
	give("r-1", 3)
	_ = s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error { return tx.ReturnStock(ctx, "r-1", 1) })
	if got := reward(t, s, "r-1"); got.StockAllocated != 0 {
		t.Errorf("stock allocated after returning more than was allocated: %d, want 0", got.StockAllocated)
	}
	allocate("r-1", 4, false)
	allocate("r-1", 3, true)
}

// Concurrent transactions never oversell: of fifty allocations of a
// stock of ten, exactly ten succeed.
func stockConcurrent(t *testing.T, s app.Store) {
	r := newReward("r-1", "p", "Mug", 10, day(0))
	r.StockTotal = 10
	insert(t, s, r)
	const n = 50
	oks := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
				var err error
				oks[i], err = tx.AllocateStock(ctx, "r-1", 1)
				return err
			})
		})
	}
	wg.Wait()
	allocated := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("allocation %d: %v", i, errs[i])
		} else if oks[i] {
			allocated++
		}
	}
	if got := reward(t, s, "r-1"); allocated != 10 || got.StockAllocated != 10 {
		t.Errorf("%d concurrent allocations of a stock of 10: %d succeeded, %d allocated; want 10", n, allocated, got.StockAllocated)
	}
}

// usage is Usage without the rewards used zero times: a store may keep or
// drop a count returned to zero.
func usage(ctx context.Context, tx app.Tx, member string, periods map[string]string) (map[string]int, error) {
	u, err := tx.Usage(ctx, member, periods)
	maps.DeleteFunc(u, func(_ string, n int) bool { return n == 0 })
	return u, err
}

// UseLimit counts a member's redemptions per reward and period key, up to
// the limit (0: no limit); ReturnLimit gives one back (never below zero);
// Usage reads the counts of the periods asked for.
func memberLimits(t *testing.T, s app.Store) {
	use := func(member, reward, period string, limit int, want bool) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx app.Tx) error {
			ok, err := tx.UseLimit(ctx, member, reward, period, limit)
			if ok != want {
				t.Errorf("UseLimit(%s, %s, %s, %d) = %v, want %v", member, reward, period, limit, ok, want)
			}
			return err
		})
	}
	give := func(member, reward, period string) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.ReturnLimit(ctx, member, reward, period) })
	}
	check := func(what, member string, periods map[string]string, want map[string]int) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			got, err := usage(ctx, tx, member, periods)
			storetest.Check(t, fmt.Sprintf("%s: Usage(%s, %v)", what, member, periods), got, want)
			return err
		})
	}
	use("m-1", "r-1", "2026-01", 2, true)
	use("m-1", "r-1", "2026-01", 2, true)
	use("m-1", "r-1", "2026-01", 2, false)
	use("m-1", "r-1", "2026-02", 2, true) // another period
	use("m-2", "r-1", "2026-01", 2, true) // another member
	use("m-1", "r-2", "2026-01", 1, true) // another reward
	use("m-1", "r-2", "2026-01", 1, false)
	use("m-1", "r-1", "2026-01", 3, true) // a limit raised
	use("m-1", "r-1", "2026-01", 1, false)
	for range 3 {
		use("m-1", "r-3", "lifetime", 0, true) // no limit
	}
	both := map[string]string{"r-1": "2026-01", "r-2": "2026-01"}
	check("used", "m-1", both, map[string]int{"r-1": 3, "r-2": 1})
	check("used", "m-1", map[string]string{"r-1": "2026-02", "r-2": "2026-02"}, map[string]int{"r-1": 1})
	check("used", "m-2", both, map[string]int{"r-1": 1})
	check("used", "m-1", map[string]string{}, map[string]int{})
	check("used", "m-3", both, map[string]int{})

	give("m-1", "r-1", "2026-01")
	check("after a return", "m-1", both, map[string]int{"r-1": 2, "r-2": 1})
	use("m-1", "r-1", "2026-01", 3, true)
	use("m-1", "r-1", "2026-01", 3, false)

	// Returns never count below zero.
	give("m-2", "r-1", "2026-01")
	give("m-2", "r-1", "2026-01")
	give("m-3", "r-1", "2026-01")
	check("after returns of more than was used", "m-2", both, map[string]int{})
	use("m-2", "r-1", "2026-01", 1, true)
	use("m-2", "r-1", "2026-01", 1, false)
	use("m-3", "r-1", "2026-01", 1, true)
	use("m-3", "r-1", "2026-01", 1, false)
}

// Concurrent transactions keep within a limit: of fifty uses of a limit
// of ten, exactly ten succeed.
func memberLimitsConcurrent(t *testing.T, s app.Store) {
	const n = 50
	oks := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
				var err error
				oks[i], err = tx.UseLimit(ctx, "m-1", "r-1", "2026-W02", 10)
				return err
			})
		})
	}
	wg.Wait()
	used := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("use %d: %v", i, errs[i])
		} else if oks[i] {
			used++
		}
	}
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Usage(ctx, "m-1", map[string]string{"r-1": "2026-W02"})
		if used != 10 || got["r-1"] != 10 {
			t.Errorf("%d concurrent uses of a limit of 10: %d succeeded, %d counted; want 10", n, used, got["r-1"])
		}
		return err
	})
}

func newRedemption(id string, status domain.RedemptionStatus, updated time.Time) *domain.Redemption {
	return &domain.Redemption{ID: id, RewardID: "r-1", MemberID: "m-" + id, ProgrammeID: "p", Status: status, Points: 100,
		PeriodKey: "2026-01", CreatedAt: day(0), UpdatedAt: updated}
}

// Redemptions read back as inserted and updated; UpdateRedemption writes
// only a redemption still in the status it is told, else (a stale update,
// or a redemption unknown) it fails with app.ErrConflict and changes
// nothing; an id is taken once.
func redemptions(t *testing.T, s app.Store) {
	r1 := &domain.Redemption{ID: "red-1", RewardID: "r-1", MemberID: "m-1", ProgrammeID: "p", Status: domain.RedemptionStarted,
		Points: 150, PeriodKey: "2026-01", CreatedAt: day(1).Add(time.Microsecond), UpdatedAt: day(1).Add(time.Microsecond)}
	r2 := &domain.Redemption{ID: "red-2", RewardID: "r-2", MemberID: "m-1", ProgrammeID: "q", Status: domain.RedemptionFailed,
		Points: 10, HoldID: "hold-2", CaptureEntryID: "e-2", RefundEntryID: "e-3", VoucherCode: "V-2", PeriodKey: "lifetime",
		Failure: "insufficient points: 3 available, 10 requested", CreatedAt: day(0), UpdatedAt: day(2),
		Refusal: fault.Precondition(fault.InsufficientPoints, "insufficient points: 3 available, 10 requested").
			With("available", "3").About("fidelis.ledger.v1.Member", "m-1")}
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Redemption(ctx, "red-1")
		storetest.Check(t, "Redemption of an empty store", got, (*domain.Redemption)(nil))
		return err
	})
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		if err := tx.InsertRedemption(ctx, r1); err != nil {
			return err
		}
		got, err := tx.Redemption(ctx, "red-1")
		storetest.Check(t, "Redemption in its transaction", got, r1)
		return err
	})
	insert(t, s, r2)
	conflict(t, s, "InsertRedemption of an id taken", func(ctx context.Context, tx app.Tx) error {
		return tx.InsertRedemption(ctx, newRedemption("red-1", domain.RedemptionStarted, day(3)))
	})
	check := func(what string, want ...*domain.Redemption) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			for _, r := range want {
				got, err := tx.Redemption(ctx, r.ID)
				if err != nil {
					return err
				}
				storetest.Check(t, what+": Redemption "+r.ID, got, r)
			}
			got, err := tx.Redemption(ctx, "red-none")
			storetest.Check(t, what+": Redemption(red-none)", got, (*domain.Redemption)(nil))
			return err
		})
	}
	check("inserted", r1, r2)

	pending := *r1
	pending.Status, pending.Points, pending.HoldID, pending.VoucherCode, pending.UpdatedAt = domain.RedemptionPending, 140, "hold-1", "V-1", day(2)
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateRedemption(ctx, &pending, domain.RedemptionStarted)
	})
	check("pending", &pending, r2)
	stale := *r1
	stale.Status, stale.Failure, stale.UpdatedAt = domain.RedemptionFailed, "stale", day(3)
	stale.Refusal = fault.Precondition(fault.RewardOutOfStock, "stale")
	conflict(t, s, "UpdateRedemption from a status it left", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateRedemption(ctx, &stale, domain.RedemptionStarted)
	})
	unknown := *newRedemption("red-none", domain.RedemptionCompleted, day(3))
	conflict(t, s, "UpdateRedemption of a redemption unknown", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateRedemption(ctx, &unknown, domain.RedemptionPending)
	})
	check("after stale updates", &pending, r2)

	done := pending
	done.Status, done.CaptureEntryID, done.RefundEntryID, done.PeriodKey, done.Failure, done.UpdatedAt =
		domain.RedemptionCancelled, "e-capture", "e-refund", "2026-02", "changed my mind", day(4)
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateRedemption(ctx, &done, domain.RedemptionPending)
	})
	check("cancelled", &done, r2)
}

// Unfinished lists the redemptions started, pending or cancelling whose
// last update is after after and before before (both excluded; zero after:
// since ever), the longest unfinished first, at most limit.
func unfinished(t *testing.T, s app.Store) {
	u1 := newRedemption("u1", domain.RedemptionStarted, day(1))
	u2 := newRedemption("u2", domain.RedemptionPending, day(2))
	u3 := newRedemption("u3", domain.RedemptionCancelling, day(3))
	u4 := newRedemption("u4", domain.RedemptionStarted, day(4))
	u0 := newRedemption("u0", domain.RedemptionPending, day(0).Add(time.Microsecond))
	insert(t, s, u3, u1, newRedemption("d1", domain.RedemptionCompleted, day(1).Add(time.Hour)), u4,
		newRedemption("d2", domain.RedemptionFailed, day(2).Add(time.Hour)), u2,
		newRedemption("d3", domain.RedemptionCancelled, day(3).Add(time.Hour)), u0)
	check := func(what string, after, before time.Time, limit int, want ...*domain.Redemption) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			got, err := tx.Unfinished(ctx, after, before, limit)
			storetest.Check(t, fmt.Sprintf("%s: Unfinished(%s, %s, %d)", what, after, before, limit), got, want)
			return err
		})
	}
	us := time.Microsecond
	check("inserted", time.Time{}, day(10), 10, u0, u1, u2, u3, u4)
	check("inserted", time.Time{}, day(10), 2, u0, u1)
	check("inserted", day(1), day(4), 10, u2, u3)
	check("inserted", day(1).Add(-us), day(4).Add(us), 10, u1, u2, u3, u4)
	check("inserted", day(4), day(10), 10)

	// An update counts from when it was made.
	done, moved := *u2, *u1
	done.Status, done.UpdatedAt = domain.RedemptionCompleted, day(5)
	moved.Status, moved.UpdatedAt = domain.RedemptionPending, day(5)
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		if err := tx.UpdateRedemption(ctx, &done, domain.RedemptionPending); err != nil {
			return err
		}
		return tx.UpdateRedemption(ctx, &moved, domain.RedemptionStarted)
	})
	check("updated", time.Time{}, day(10), 10, u0, u3, u4, &moved)
	check("updated", day(0), day(5), 10, u0, u3, u4)
}

func newVoucher(code, redemption string, status domain.VoucherStatus) *domain.Voucher {
	return &domain.Voucher{Code: code, RedemptionID: redemption, RewardID: "r-1", MemberID: "m-1", Status: status,
		IssuedAt: day(0), ExpiresAt: day(30), Offer: domain.Offer{Type: domain.TypeVoucherAmount, Amount: eur("5")}}
}

// Vouchers read back as inserted, their offer included; UpdateVoucher
// writes only a voucher still in the status it is told, else (a stale
// update, or a voucher unknown) it fails with app.ErrConflict and changes
// nothing. It writes the status, issue and expiry, and the use; the offer
// a voucher was issued with never changes. A code is taken once, and a
// redemption has one voucher.
func vouchers(t *testing.T, s app.Store) {
	v1 := &domain.Voucher{Code: "V1", RedemptionID: "red-1", RewardID: "r-1", MemberID: "m-1", Status: domain.VoucherPending,
		IssuedAt: day(0).Add(time.Microsecond), ExpiresAt: day(30),
		Offer: domain.Offer{Type: domain.TypeVoucherAmount, Amount: eur("10.50"), StoreIDs: []string{"paris-01", "lyon-02"},
			Channels: []domain.Channel{domain.ChannelPOS, domain.ChannelEcommerce}}}
	v2 := newVoucher("V2", "red-2", domain.VoucherActive)
	v2.Offer = domain.Offer{Type: domain.TypeVoucherPercent, Percent: dec("12.5")}
	v3 := newVoucher("V3", "red-3", domain.VoucherConsumed)
	v3.Offer = domain.Offer{Type: domain.TypePartner, PartnerID: "acme", PartnerRef: "acme-ref", ProductSKU: "sku-1"}
	v3.ConsumedAt, v3.ConsumedStore, v3.ConsumedChannel, v3.ConsumedOrderRef, v3.ConsumeKey =
		day(2), "paris-01", domain.ChannelPartner, "order-9", "pos-1/k9"
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Voucher(ctx, "V1")
		storetest.Check(t, "Voucher of an empty store", got, (*domain.Voucher)(nil))
		return err
	})
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		if err := tx.InsertVoucher(ctx, v1); err != nil {
			return err
		}
		got, err := tx.Voucher(ctx, "V1")
		storetest.Check(t, "Voucher in its transaction", got, v1)
		return err
	})
	insert(t, s, v3, v2)
	conflict(t, s, "InsertVoucher of a code taken", func(ctx context.Context, tx app.Tx) error {
		return tx.InsertVoucher(ctx, newVoucher("V1", "red-9", domain.VoucherPending))
	})
	conflict(t, s, "InsertVoucher of a redemption with a voucher", func(ctx context.Context, tx app.Tx) error {
		return tx.InsertVoucher(ctx, newVoucher("V9", "red-1", domain.VoucherPending))
	})
	check := func(what string, want ...*domain.Voucher) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			for _, v := range want {
				got, err := tx.Voucher(ctx, v.Code)
				if err != nil {
					return err
				}
				storetest.Check(t, what+": Voucher "+v.Code, got, v)
			}
			got, err := tx.Voucher(ctx, "V-none")
			storetest.Check(t, what+": Voucher(V-none)", got, (*domain.Voucher)(nil))
			return err
		})
	}
	check("inserted", v1, v2, v3)

	active := *v1
	active.Status, active.IssuedAt, active.ExpiresAt = domain.VoucherActive, day(1), day(31)
	mangled := active
	mangled.Offer = domain.Offer{Type: domain.TypeVoucherAmount, Amount: &money.Money{Amount: dec("99"), Currency: "USD"}}
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateVoucher(ctx, &mangled, domain.VoucherPending)
	})
	check("activated", &active, v2, v3)

	stale := *v1
	stale.Status = domain.VoucherCancelled
	conflict(t, s, "UpdateVoucher from a status it left", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateVoucher(ctx, &stale, domain.VoucherPending)
	})
	unknown := newVoucher("V-none", "red-none", domain.VoucherConsumed)
	conflict(t, s, "UpdateVoucher of a voucher unknown", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateVoucher(ctx, unknown, domain.VoucherActive)
	})
	check("after stale updates", &active, v2, v3)

	used := active
	used.Status, used.ConsumedAt, used.ConsumedStore, used.ConsumedChannel, used.ConsumedOrderRef, used.ConsumeKey =
		domain.VoucherConsumed, day(3).Add(time.Microsecond), "lyon-02", domain.ChannelEcommerce, "order-1", "pos-1/k1"
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.UpdateVoucher(ctx, &used, domain.VoucherActive) })
	cancel := active
	cancel.Status = domain.VoucherCancelled
	conflict(t, s, "UpdateVoucher of a voucher used meanwhile", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateVoucher(ctx, &cancel, domain.VoucherActive)
	})
	check("consumed", &used, v2, v3)
}

// A voucher is used once: of twenty concurrent uses, one succeeds, the
// others fail with app.ErrConflict.
func voucherConcurrent(t *testing.T, s app.Store) {
	v := newVoucher("V1", "red-1", domain.VoucherActive)
	insert(t, s, v)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			used := *v
			used.Status, used.ConsumedAt, used.ConsumedStore, used.ConsumeKey =
				domain.VoucherConsumed, day(1), "store-1", fmt.Sprint("pos-1/k", i)
			errs[i] = s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
				return tx.UpdateVoucher(ctx, &used, domain.VoucherActive)
			})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("uses %d and %d both succeeded", winner, i)
		case !errors.Is(err, app.ErrConflict):
			t.Errorf("use %d: %v, want app.ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no use succeeded")
	}
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Voucher(ctx, "V1")
		if err == nil && (got.Status != domain.VoucherConsumed || got.ConsumeKey != fmt.Sprint("pos-1/k", winner)) {
			t.Errorf("voucher after concurrent uses: %s, want used by %d", storetest.Show(got), winner)
		}
		return err
	})
}

// state is everything failuresWriteNothing's transactions write to.
type state struct {
	Rewards     []*domain.Reward
	Redemptions []*domain.Redemption
	Vouchers    []*domain.Voucher
	Usage       map[string]int
	Idem        []*idem.Record
}

// A transaction that fails writes nothing: not when fn returns an error of
// its own, nor when a write fails with app.ErrConflict (a key or an id
// taken, a stale update), after every kind of write.
func failuresWriteNothing(t *testing.T, s app.Store) {
	r := newReward("r-1", "p", "Mug", 10, day(0))
	r.StockTotal, r.MemberLimit, r.LimitPeriod = 5, 3, period.Month
	red := newRedemption("red-1", domain.RedemptionCompleted, day(1))
	v := newVoucher("V1", "red-1", domain.VoucherActive)
	insert(t, s, r, red, v)
	k1, k2, k3 := idem.Key{Caller: "c", Key: "k1"}, idem.Key{Caller: "c", Key: "k2"}, idem.Key{Caller: "c", Key: "k3"}
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		if ok, err := tx.AllocateStock(ctx, "r-1", 1); err != nil || !ok {
			return fmt.Errorf("AllocateStock: %v, %w", ok, err)
		}
		if ok, err := tx.UseLimit(ctx, "m-1", "r-1", "2026-01", 3); err != nil || !ok {
			return fmt.Errorf("UseLimit: %v, %w", ok, err)
		}
		if err := tx.PutIdem(ctx, idem.Record{Key: k1, Method: "M", Hash: []byte("h"), HashVersion: 1, Response: []byte("r"), CreatedAt: day(0)}); err != nil {
			return err
		}
		return tx.PutIdem(ctx, idem.Record{Key: k2, Method: "M", Hash: []byte("h"), HashVersion: 1, Subject: "red-1", CreatedAt: day(0)})
	})
	read := func() state {
		t.Helper()
		var st state
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			var err error
			if st.Rewards, err = tx.Rewards(ctx, app.RewardsQuery{ProgrammeID: "p", IncludeInactive: true, Limit: 100}); err != nil {
				return err
			}
			for _, id := range []string{"red-1", "red-2"} {
				x, err := tx.Redemption(ctx, id)
				if err != nil {
					return err
				}
				st.Redemptions = append(st.Redemptions, x)
			}
			for _, code := range []string{"V1", "V2"} {
				x, err := tx.Voucher(ctx, code)
				if err != nil {
					return err
				}
				st.Vouchers = append(st.Vouchers, x)
			}
			if st.Usage, err = usage(ctx, tx, "m-1", map[string]string{"r-1": "2026-01", "r-2": "2026-01"}); err != nil {
				return err
			}
			st.Idem, err = storetest.Records(ctx, tx, k1, k2, k3)
			return err
		})
		return st
	}
	before := read()

	// writes writes some of everything, each write succeeding.
	writes := func(ctx context.Context, tx app.Tx) error {
		r2 := newReward("r-2", "p", "Cup", 20, day(2))
		changed := *r
		changed.Name, changed.UpdatedAt = "Big mug", day(2)
		red2 := newRedemption("red-2", domain.RedemptionStarted, day(2))
		cancelled := *red
		cancelled.Status, cancelled.UpdatedAt = domain.RedemptionCancelling, day(2)
		used := *v
		used.Status, used.ConsumedAt, used.ConsumeKey = domain.VoucherConsumed, day(2), "c/k9"
		for _, w := range []func() error{
			func() error { return tx.InsertReward(ctx, r2) },
			func() error { changed.Version++; return tx.UpdateReward(ctx, &changed, r.Version) },
			func() error { return tx.ReturnStock(ctx, "r-1", 1) },
			func() error { return tx.ReturnLimit(ctx, "m-1", "r-1", "2026-01") },
			func() error { return tx.InsertRedemption(ctx, red2) },
			func() error { return tx.UpdateRedemption(ctx, &cancelled, domain.RedemptionCompleted) },
			func() error { return tx.InsertVoucher(ctx, newVoucher("V2", "red-2", domain.VoucherPending)) },
			func() error { return tx.UpdateVoucher(ctx, &used, domain.VoucherActive) },
			func() error {
				return tx.PutIdem(ctx, idem.Record{Key: k3, Method: "M", Hash: []byte("h"), HashVersion: 1, CreatedAt: day(2)})
			},
			func() error { return finished(tx.FinishIdem(ctx, k2, []byte("done"))) },
			func() error { return allocated(tx.AllocateStock(ctx, "r-2", 3)) },
			func() error { return allocated(tx.UseLimit(ctx, "m-1", "r-2", "2026-01", 1)) },
		} {
			if err := w(); err != nil {
				return fmt.Errorf("%w: %w", errWrite, err)
			}
		}
		return nil
	}
	errBoom := errors.New("boom")
	for _, c := range []struct {
		name string
		last func(ctx context.Context, tx app.Tx) error
		want error
	}{
		{"an error of its own", func(context.Context, app.Tx) error { return errBoom }, errBoom},
		{"an idempotency key taken", func(ctx context.Context, tx app.Tx) error {
			return tx.PutIdem(ctx, idem.Record{Key: k1, Method: "Other", Hash: []byte("x"), HashVersion: 1, CreatedAt: day(3)})
		}, app.ErrConflict},
		{"a reward id taken", func(ctx context.Context, tx app.Tx) error { return tx.InsertReward(ctx, r) }, app.ErrConflict},
		{"a stale voucher", func(ctx context.Context, tx app.Tx) error {
			void := *v
			void.Status = domain.VoucherCancelled
			return tx.UpdateVoucher(ctx, &void, domain.VoucherActive)
		}, app.ErrConflict},
		{"a stale redemption", func(ctx context.Context, tx app.Tx) error {
			return tx.UpdateRedemption(ctx, red, domain.RedemptionCompleted)
		}, app.ErrConflict},
	} {
		err := s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
			if err := writes(ctx, tx); err != nil {
				return err
			}
			return c.last(ctx, tx)
		})
		if errors.Is(err, errWrite) || !errors.Is(err, c.want) {
			t.Errorf("%s: transaction: %v, want %v", c.name, err, c.want)
		}
		storetest.Check(t, "after a transaction failing on "+c.name, read(), before)
	}
}

var errWrite = errors.New("a write that should succeed failed")

func finished(ok bool, err error) error {
	if err == nil && !ok {
		err = errors.New("FinishIdem of an open claim: false")
	}
	return err
}

func allocated(ok bool, err error) error {
	if err == nil && !ok {
		err = errors.New("refused")
	}
	return err
}
