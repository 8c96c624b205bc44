// Package apptest states what any implementation of the partners service's
// store (app.Store) must do (Contract), through the interface only.
package apptest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/idem"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
	"github.com/fidelis-loyalty/fidelis/services/internal/storetest"
	"github.com/fidelis-loyalty/fidelis/services/partners/app"
	"github.com/fidelis-loyalty/fidelis/services/partners/domain"
)

// Contract states what any app.Store must do. open returns an empty store
// of its own for each subtest (a fresh, migrated database).
func Contract(t *testing.T, open func(t *testing.T) app.Store) {
	t.Run("Partners", func(t *testing.T) { partners(t, open(t)) })
	t.Run("Links", func(t *testing.T) { links(t, open(t)) })
	t.Run("Offers", func(t *testing.T) { offers(t, open(t)) })
	t.Run("Budget", func(t *testing.T) { budget(t, open(t)) })
	t.Run("BudgetConcurrent", func(t *testing.T) { budgetConcurrent(t, open(t)) })
	t.Run("Uses", func(t *testing.T) { uses(t, open(t)) })
	t.Run("UsesConcurrent", func(t *testing.T) { usesConcurrent(t, open(t)) })
	t.Run("LastOffer", func(t *testing.T) { lastOffer(t, open(t)) })
	t.Run("Txns", func(t *testing.T) { txns(t, open(t)) })
	t.Run("TxnConcurrent", func(t *testing.T) { txnConcurrent(t, open(t)) })
	t.Run("PendingTxns", func(t *testing.T) { pendingTxns(t, open(t)) })
	t.Run("Statement", func(t *testing.T) { statement(t, open(t)) })
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

// insert saves partners, offers and transactions in one transaction.
func insert(t testing.TB, s app.Store, xs ...any) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, x := range xs {
			var err error
			switch x := x.(type) {
			case *domain.Partner:
				err = tx.InsertPartner(ctx, x)
			case *domain.Offer:
				err = tx.InsertOffer(ctx, x)
			case *domain.Txn:
				err = tx.InsertTxn(ctx, x)
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

func newPartner(id, programme string, created time.Time) *domain.Partner {
	return &domain.Partner{ID: id, Name: "Partner " + id, ProgrammeID: programme, EarnUnit: "EUR", EarnRate: dec("1.5"),
		Rounding: money.RoundFloor, PricePerPoint: money.Money{Amount: dec("0.012"), Currency: "EUR"},
		ValuePerPoint: money.Money{Amount: dec("0.008"), Currency: "EUR"}, Active: true, Salt: []byte("salt of " + id),
		CreatedAt: created}
}

// Partners read back as inserted; an id is taken once.
func partners(t *testing.T, s app.Store) {
	acme := newPartner("acme", "p", day(0).Add(time.Microsecond))
	air := &domain.Partner{ID: "air", Name: "Air", ProgrammeID: "q", EarnUnit: domain.UnitMiles, EarnRate: dec("0.25"),
		Rounding: money.RoundHalfEven, PricePerPoint: money.Money{Amount: dec("0.0105"), Currency: "USD"},
		ValuePerPoint: money.Money{Amount: dec("0.007"), Currency: "USD"}, Salt: []byte{0, 1, 0xff}, CreatedAt: day(1)}
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Partner(ctx, "acme")
		storetest.Check(t, "Partner of an empty store", got, (*domain.Partner)(nil))
		return err
	})
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		if err := tx.InsertPartner(ctx, acme); err != nil {
			return err
		}
		got, err := tx.Partner(ctx, "acme")
		storetest.Check(t, "Partner in its transaction", got, acme)
		return err
	})
	insert(t, s, air)
	conflict(t, s, "InsertPartner of an id taken", func(ctx context.Context, tx app.Tx) error {
		return tx.InsertPartner(ctx, newPartner("acme", "q", day(9)))
	})
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, p := range []*domain.Partner{acme, air} {
			got, err := tx.Partner(ctx, p.ID)
			if err != nil {
				return err
			}
			storetest.Check(t, "Partner "+p.ID, got, p)
			if got != nil && string(got.Salt) != string(p.Salt) { // (the JSON of a failure leaves the salt out)
				t.Errorf("Partner %s: salt %x, want %x", p.ID, got.Salt, p.Salt)
			}
		}
		got, err := tx.Partner(ctx, "none")
		storetest.Check(t, "Partner(none)", got, (*domain.Partner)(nil))
		return err
	})
}

// link is what Link or LinkOwner returns.
type link struct {
	ID string
	OK bool
}

func resolve(ctx context.Context, tx app.Tx, partner, ref string) (link, error) {
	var l link
	var err error
	if partner == "" {
		l.ID, l.OK, err = tx.LinkOwner(ctx, ref)
	} else {
		l.ID, l.OK, err = tx.Link(ctx, partner, ref)
	}
	return l, err
}

// Link resolves a reference of a partner to its member, LinkOwner a
// reference to its partner; linking again is no error and changes
// nothing; a member has one reference per partner (another is
// app.ErrConflict).
func links(t *testing.T, s app.Store) {
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, l := range [][3]string{{"acme", "ref-a1", "m-1"}, {"acme", "ref-a2", "m-2"}, {"beta", "ref-b1", "m-1"}} {
			if err := tx.InsertLink(ctx, l[0], l[1], l[2], day(0)); err != nil {
				return err
			}
		}
		got, err := resolve(ctx, tx, "acme", "ref-a1")
		storetest.Check(t, "Link in its transaction", got, link{"m-1", true})
		return err
	})
	check := func(what string) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			for _, c := range []struct {
				partner, ref string
				want         link
			}{
				{"acme", "ref-a1", link{"m-1", true}},
				{"acme", "ref-a2", link{"m-2", true}},
				{"beta", "ref-b1", link{"m-1", true}},
				{"acme", "ref-b1", link{}}, // another partner's
				{"beta", "ref-a1", link{}},
				{"acme", "ref-none", link{}},
				{"", "ref-a1", link{"acme", true}},
				{"", "ref-a2", link{"acme", true}},
				{"", "ref-b1", link{"beta", true}},
				{"", "ref-none", link{}},
			} {
				got, err := resolve(ctx, tx, c.partner, c.ref)
				if err != nil {
					return err
				}
				name := "Link(" + c.partner + ", " + c.ref + ")"
				if c.partner == "" {
					name = "LinkOwner(" + c.ref + ")"
				}
				storetest.Check(t, what+": "+name, got, c.want)
			}
			return nil
		})
	}
	check("linked")
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertLink(ctx, "acme", "ref-a1", "m-1", day(5)) })
	conflict(t, s, "InsertLink of another reference of a member linked", func(ctx context.Context, tx app.Tx) error {
		return tx.InsertLink(ctx, "acme", "ref-a9", "m-1", day(5))
	})
	check("linked again")
}

func newOffer(id, partner string, created time.Time) *domain.Offer {
	return &domain.Offer{ID: id, PartnerID: partner, CreatedAt: created, OfferTerms: domain.OfferTerms{
		Name: "Offer " + id, Kind: domain.OfferFixedBonus, BonusPoints: 50, BudgetPoints: 10000}}
}

func offer(t testing.TB, s app.Store, id string) *domain.Offer {
	t.Helper()
	var o *domain.Offer
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		var err error
		o, err = tx.Offer(ctx, id)
		return err
	})
	if o == nil {
		t.Fatalf("offer %s not found", id)
	}
	return o
}

// Offers read back as inserted, every term; Offers lists a partner's,
// ProgrammeOffers those of a programme's partners, oldest first then by
// id, a page after a position at a time; an id is taken once.
func offers(t *testing.T, s app.Store) {
	oA := newOffer("o-a", "acme", day(1))
	oA.OfferTerms = domain.OfferTerms{Name: "Double points", Kind: domain.OfferMultiplier, Multiplier: dec("1.5"),
		Tiers: []string{"gold", "silver"}, Segments: []string{"young"}, ValidFrom: day(1), ValidUntil: day(60).Add(time.Microsecond),
		CapPerMember: 3, CapPeriod: period.Month, MinInterval: 90*time.Minute + time.Second, BudgetPoints: 1_000_000}
	oB := newOffer("o-b", "acme", day(0))
	oB.SpentPoints = 20
	o0 := newOffer("o-0", "acme", day(1))
	oC := newOffer("o-c", "beta", day(0))
	oQ := newOffer("o-q", "gamma", day(0))
	insert(t, s, newPartner("acme", "p", day(0)), newPartner("beta", "p", day(0)), newPartner("gamma", "q", day(0)))
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Offer(ctx, "o-a")
		storetest.Check(t, "Offer of an empty store", got, (*domain.Offer)(nil))
		return err
	})
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		if err := tx.InsertOffer(ctx, oA); err != nil {
			return err
		}
		got, err := tx.Offer(ctx, "o-a")
		storetest.Check(t, "Offer in its transaction", got, oA)
		return err
	})
	insert(t, s, oQ, oC, o0, oB)
	conflict(t, s, "InsertOffer of an id taken", func(ctx context.Context, tx app.Tx) error {
		return tx.InsertOffer(ctx, newOffer("o-a", "beta", day(9)))
	})
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		for _, o := range []*domain.Offer{oA, oB, o0, oC, oQ} {
			got, err := tx.Offer(ctx, o.ID)
			if err != nil {
				return err
			}
			storetest.Check(t, "Offer "+o.ID, got, o)
		}
		got, err := tx.Offer(ctx, "o-none")
		if err != nil {
			return err
		}
		storetest.Check(t, "Offer(o-none)", got, (*domain.Offer)(nil))
		for _, c := range []struct {
			partner string
			want    []*domain.Offer
		}{{"acme", []*domain.Offer{oB, o0, oA}}, {"beta", []*domain.Offer{oC}}, {"none", nil}} {
			got, err := tx.Offers(ctx, c.partner, app.OfferPosition{}, 100)
			if err != nil {
				return err
			}
			storetest.Check(t, "Offers("+c.partner+")", got, c.want)
		}
		// Pages: after a position, at most limit.
		for _, c := range []struct {
			after app.OfferPosition
			limit int
			want  []*domain.Offer
		}{
			{app.OfferPosition{}, 2, []*domain.Offer{oB, o0}},
			{app.OfferPosition{CreatedAt: oB.CreatedAt, ID: oB.ID}, 2, []*domain.Offer{o0, oA}},
			{app.OfferPosition{CreatedAt: o0.CreatedAt, ID: o0.ID}, 2, []*domain.Offer{oA}},
			{app.OfferPosition{CreatedAt: oA.CreatedAt, ID: oA.ID}, 2, nil},
		} {
			got, err := tx.Offers(ctx, "acme", c.after, c.limit)
			if err != nil {
				return err
			}
			storetest.Check(t, fmt.Sprintf("Offers(acme) after %s, %d", c.after.ID, c.limit), got, c.want)
		}
		for _, c := range []struct {
			programme string
			want      []*domain.Offer
		}{{"p", []*domain.Offer{oB, oC, o0, oA}}, {"q", []*domain.Offer{oQ}}, {"none", nil}} {
			got, err := tx.ProgrammeOffers(ctx, c.programme, app.OfferPosition{}, 100)
			if err != nil {
				return err
			}
			storetest.Check(t, "ProgrammeOffers("+c.programme+")", got, c.want)
		}
		page, err := tx.ProgrammeOffers(ctx, "p", app.OfferPosition{CreatedAt: oC.CreatedAt, ID: oC.ID}, 1)
		storetest.Check(t, "ProgrammeOffers(p) after o-c, 1", page, []*domain.Offer{o0})
		return err
	})
}

// SpendBudget takes points only if that much of the budget is left, else
// changes nothing (an offer unknown has none); ReturnBudget gives them
// back; the points spent never go below zero.
func budget(t *testing.T, s app.Store) {
	o := newOffer("o-1", "acme", day(0))
	o.BudgetPoints = 100
	insert(t, s, o, newOffer("o-2", "acme", day(0)))
	spend := func(id string, points int64, want bool) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx app.Tx) error {
			ok, err := tx.SpendBudget(ctx, id, points)
			if ok != want {
				t.Errorf("SpendBudget(%s, %d) = %v, want %v", id, points, ok, want)
			}
			return err
		})
	}
	give := func(points int64) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.ReturnBudget(ctx, "o-1", points) })
	}
	spent := func(what string, want int64) {
		t.Helper()
		if got := offer(t, s, "o-1"); got.SpentPoints != want || got.BudgetPoints != 100 {
			t.Errorf("%s: %d of %d points spent, want %d of 100", what, got.SpentPoints, got.BudgetPoints, want)
		}
	}
	spend("o-1", 60, true)
	spend("o-1", 50, false)
	spent("after a refusal", 60)
	spend("o-1", 40, true)
	spend("o-1", 1, false)
	spent("all spent", 100)
	give(30)
	spent("after a return", 70)
	spend("o-1", 30, true)
	spent("spent again", 100)
	spend("o-none", 1, false)
	if got := offer(t, s, "o-2"); got.SpentPoints != 0 {
		t.Errorf("another offer's points spent: %d", got.SpentPoints)
	}

	// Returning more than was spent may fail, but never leaves more than
	// the budget.
	give(100)
	_ = s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error { return tx.ReturnBudget(ctx, "o-1", 1) })
	spent("after returning more than was spent", 0)
	spend("o-1", 101, false)
	spend("o-1", 100, true)
}

// Concurrent transactions never overspend: of fifty spends of ten points
// of a budget of a hundred, exactly ten succeed.
func budgetConcurrent(t *testing.T, s app.Store) {
	o := newOffer("o-1", "acme", day(0))
	o.BudgetPoints = 100
	insert(t, s, o)
	const n = 50
	oks := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
				var err error
				oks[i], err = tx.SpendBudget(ctx, "o-1", 10)
				return err
			})
		})
	}
	wg.Wait()
	spent := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("spend %d: %v", i, errs[i])
		} else if oks[i] {
			spent++
		}
	}
	if got := offer(t, s, "o-1"); spent != 10 || got.SpentPoints != 100 {
		t.Errorf("%d concurrent spends of 10 of a budget of 100: %d succeeded, %d spent; want 10 and 100", n, spent, got.SpentPoints)
	}
}

func used(ctx context.Context, tx app.Tx, o *domain.Offer, member, period string) (int, error) {
	u, err := tx.Usage(ctx, o, member, period)
	return u.Used, err
}

// CountUse counts a member's uses of an offer per period key; ReturnUse
// gives one back, never below zero; Usage reads the count of one offer,
// member and period.
func uses(t *testing.T, s app.Store) {
	o1, o2, o3 := newOffer("o-1", "acme", day(0)), newOffer("o-2", "acme", day(0)), newOffer("o-3", "beta", day(0))
	insert(t, s, o1, o2, o3)
	count := func(o *domain.Offer, member, period string) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.CountUse(ctx, o.ID, member, period, day(1)) })
	}
	give := func(o *domain.Offer, member, period string) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.ReturnUse(ctx, o.ID, member, period) })
	}
	check := func(what string, o *domain.Offer, member, period string, want int) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			got, err := used(ctx, tx, o, member, period)
			if got != want {
				t.Errorf("%s: uses of %s by %s in %s: %d, want %d", what, o.ID, member, period, got, want)
			}
			return err
		})
	}
	check("none", o1, "m-1", "2026-01", 0)
	count(o1, "m-1", "2026-01")
	count(o1, "m-1", "2026-01")
	count(o1, "m-1", "2026-02")
	count(o1, "m-2", "2026-01")
	count(o2, "m-1", "2026-01")
	check("counted", o1, "m-1", "2026-01", 2)
	check("counted", o1, "m-1", "2026-02", 1)
	check("counted", o1, "m-2", "2026-01", 1)
	check("counted", o2, "m-1", "2026-01", 1)
	check("counted", o3, "m-1", "2026-01", 0)
	check("counted", o1, "m-3", "2026-01", 0)
	give(o1, "m-1", "2026-01")
	check("returned", o1, "m-1", "2026-01", 1)
	check("returned", o1, "m-1", "2026-02", 1)
	give(o1, "m-2", "2026-01")
	give(o1, "m-2", "2026-01")
	give(o1, "m-3", "2026-01")
	check("returned more than was counted", o1, "m-2", "2026-01", 0)
	check("returned more than was counted", o1, "m-3", "2026-01", 0)
	count(o1, "m-2", "2026-01")
	check("counted again", o1, "m-2", "2026-01", 1)
}

// Concurrent uses are all counted.
func usesConcurrent(t *testing.T, s app.Store) {
	o := newOffer("o-1", "acme", day(0))
	insert(t, s, o)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
				return tx.CountUse(ctx, "o-1", "m-1", "2026-01", day(0).Add(time.Duration(i)*time.Second))
			}); err != nil {
				t.Errorf("use %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := used(ctx, tx, o, "m-1", "2026-01")
		if got != n {
			t.Errorf("%d concurrent uses counted %d", n, got)
		}
		return err
	})
}

func newTxn(id, partner, member string, kind domain.TxnKind, status domain.TxnStatus, updated time.Time) *domain.Txn {
	x := &domain.Txn{ID: id, PartnerID: partner, MemberID: member, ProgrammeID: "p", Kind: kind, Status: status, Points: 100,
		MoneyMicros: 1_200_000, Currency: "EUR", Reference: "ref-" + id, OccurredAt: day(0), CreatedAt: updated, UpdatedAt: updated}
	if kind == domain.TxnEarn {
		x.Amount, x.Unit = dec("66.67"), "EUR"
	}
	return x
}

func offerTxn(id, partner, member, offer string, status domain.TxnStatus, created time.Time) *domain.Txn {
	x := newTxn(id, partner, member, domain.TxnEarn, status, created)
	x.OfferID, x.PeriodKey, x.BonusPoints = offer, "2026-01", 50
	return x
}

// Usage's LastAt is when the member's last transaction with an offer of
// the offer's partner (any of its offers, failed ones aside) was made.
func lastOffer(t *testing.T, s app.Store) {
	o1, o2, o3 := newOffer("o-1", "acme", day(0)), newOffer("o-2", "acme", day(0)), newOffer("o-3", "beta", day(0))
	t2 := offerTxn("t2", "acme", "m-1", "o-2", domain.TxnPending, day(3))
	insert(t, s, o1, o2, o3,
		offerTxn("t1", "acme", "m-1", "o-1", domain.TxnCompleted, day(2)),
		t2,
		newTxn("t3", "acme", "m-1", domain.TxnEarn, domain.TxnCompleted, day(5)),
		newTxn("t4", "acme", "m-1", domain.TxnBurn, domain.TxnCompleted, day(5).Add(time.Hour)),
		offerTxn("t5", "acme", "m-1", "o-1", domain.TxnFailed, day(6)),
		offerTxn("t6", "beta", "m-1", "o-3", domain.TxnCompleted, day(7)),
		offerTxn("t7", "acme", "m-2", "o-1", domain.TxnCompleted, day(8)))
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.CountUse(ctx, "o-1", "m-1", "2026-01", day(9)) })
	check := func(what string, o *domain.Offer, member string, want domain.Usage) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			got, err := tx.Usage(ctx, o, member, "2026-01")
			storetest.Check(t, fmt.Sprintf("%s: Usage(%s, %s)", what, o.ID, member), got, want)
			return err
		})
	}
	check("inserted", o1, "m-1", domain.Usage{Used: 1, LastAt: day(3)})
	check("inserted", o2, "m-1", domain.Usage{LastAt: day(3)})
	check("inserted", o3, "m-1", domain.Usage{LastAt: day(7)})
	check("inserted", o1, "m-2", domain.Usage{LastAt: day(8)})
	check("inserted", o1, "m-3", domain.Usage{})
	failed := *t2
	failed.Status, failed.Failure, failed.UpdatedAt = domain.TxnFailed, "refused", day(10)
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.UpdateTxn(ctx, &failed, domain.TxnPending) })
	check("after a failure", o1, "m-1", domain.Usage{Used: 1, LastAt: day(2)})
}

// Transactions read back as inserted; UpdateTxn writes only a transaction
// still in the status it is told, else (a stale update, or a transaction
// unknown) it fails with app.ErrConflict and changes nothing. It writes
// the outcome (status, entry, failure and its reason) and when; what was sent to the
// ledger never changes. An id is taken once.
func txns(t *testing.T, s app.Store) {
	earn := offerTxn("t-earn", "acme", "m-1", "o-1", domain.TxnPending, day(1).Add(time.Microsecond))
	earn.Amount, earn.Points, earn.BonusPoints, earn.MoneyMicros, earn.OccurredAt = dec("12.34"), 18, 9, 324_000, day(0).Add(-time.Hour)
	burn := newTxn("t-burn", "acme", "m-1", domain.TxnBurn, domain.TxnPending, day(2))
	burn.Points, burn.MoneyMicros, burn.Currency, burn.ProgrammeID = 500, 4_000_000, "USD", "q"
	done := newTxn("t-done", "beta", "m-2", domain.TxnEarn, domain.TxnCompleted, day(3))
	done.EntryID = "e-9"
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Txn(ctx, "t-earn")
		storetest.Check(t, "Txn of an empty store", got, (*domain.Txn)(nil))
		return err
	})
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		if err := tx.InsertTxn(ctx, earn); err != nil {
			return err
		}
		got, err := tx.Txn(ctx, "t-earn")
		storetest.Check(t, "Txn in its transaction", got, earn)
		return err
	})
	insert(t, s, burn, done)
	conflict(t, s, "InsertTxn of an id taken", func(ctx context.Context, tx app.Tx) error {
		return tx.InsertTxn(ctx, newTxn("t-earn", "beta", "m-9", domain.TxnBurn, domain.TxnPending, day(9)))
	})
	check := func(what string, want ...*domain.Txn) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			for _, x := range want {
				got, err := tx.Txn(ctx, x.ID)
				if err != nil {
					return err
				}
				storetest.Check(t, what+": Txn "+x.ID, got, x)
			}
			got, err := tx.Txn(ctx, "t-none")
			storetest.Check(t, what+": Txn(t-none)", got, (*domain.Txn)(nil))
			return err
		})
	}
	check("inserted", earn, burn, done)

	completed := *earn
	completed.Status, completed.EntryID, completed.UpdatedAt = domain.TxnCompleted, "e-1", day(4)
	mangled := completed
	mangled.Points, mangled.BonusPoints, mangled.MoneyMicros, mangled.Reference, mangled.OccurredAt = 1, 2, 3, "mangled", day(9)
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.UpdateTxn(ctx, &mangled, domain.TxnPending) })
	failed := *burn
	failed.Status, failed.Failure, failed.FailureReason, failed.UpdatedAt = domain.TxnFailed, "not enough points", fault.InsufficientPoints, day(5)
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.UpdateTxn(ctx, &failed, domain.TxnPending) })
	check("updated", &completed, &failed, done)

	stale := *earn
	stale.Status, stale.Failure, stale.FailureReason = domain.TxnFailed, "stale", fault.BalanceFloorReached
	conflict(t, s, "UpdateTxn from a status it left", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateTxn(ctx, &stale, domain.TxnPending)
	})
	conflict(t, s, "UpdateTxn of a transaction unknown", func(ctx context.Context, tx app.Tx) error {
		return tx.UpdateTxn(ctx, newTxn("t-none", "acme", "m-1", domain.TxnEarn, domain.TxnCompleted, day(6)), domain.TxnPending)
	})
	check("after stale updates", &completed, &failed, done)
}

// A transaction is posted once: of ten concurrent completions, one
// succeeds, the others fail with app.ErrConflict.
func txnConcurrent(t *testing.T, s app.Store) {
	x := newTxn("t-1", "acme", "m-1", domain.TxnEarn, domain.TxnPending, day(0))
	insert(t, s, x)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			done := *x
			done.Status, done.EntryID, done.UpdatedAt = domain.TxnCompleted, fmt.Sprint("e-", i), day(1)
			errs[i] = s.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
				return tx.UpdateTxn(ctx, &done, domain.TxnPending)
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
			t.Errorf("completions %d and %d both succeeded", winner, i)
		case !errors.Is(err, app.ErrConflict):
			t.Errorf("completion %d: %v, want app.ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no completion succeeded")
	}
	view(t, s, func(ctx context.Context, tx app.Tx) error {
		got, err := tx.Txn(ctx, "t-1")
		if err == nil && (got.Status != domain.TxnCompleted || got.EntryID != fmt.Sprint("e-", winner)) {
			t.Errorf("transaction after concurrent completions: %s, want completed by %d", storetest.Show(got), winner)
		}
		return err
	})
}

// PendingTxns lists the transactions pending whose last update is after
// after and before before (both excluded; zero after: since ever), the
// longest pending first, at most limit.
func pendingTxns(t *testing.T, s app.Store) {
	// (ids in the reverse order of their updates)
	p0 := newTxn("t-d", "acme", "m-1", domain.TxnEarn, domain.TxnPending, day(0).Add(time.Microsecond))
	p1 := newTxn("t-c", "acme", "m-1", domain.TxnBurn, domain.TxnPending, day(1))
	p2 := newTxn("t-b", "beta", "m-2", domain.TxnEarn, domain.TxnPending, day(2))
	p3 := newTxn("t-a", "acme", "m-3", domain.TxnEarn, domain.TxnPending, day(3))
	insert(t, s, p3, newTxn("d1", "acme", "m-1", domain.TxnEarn, domain.TxnCompleted, day(1).Add(time.Hour)), p1,
		newTxn("d2", "acme", "m-1", domain.TxnBurn, domain.TxnFailed, day(2).Add(time.Hour)), p2, p0)
	check := func(what string, after, before time.Time, limit int, want ...*domain.Txn) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			got, err := tx.PendingTxns(ctx, after, before, limit)
			storetest.Check(t, fmt.Sprintf("%s: PendingTxns(%s, %s, %d)", what, after, before, limit), got, want)
			return err
		})
	}
	us := time.Microsecond
	check("inserted", time.Time{}, day(10), 10, p0, p1, p2, p3)
	check("inserted", time.Time{}, day(10), 2, p0, p1)
	check("inserted", day(1), day(3), 10, p2)
	check("inserted", day(1).Add(-us), day(3).Add(us), 10, p1, p2, p3)
	check("inserted", day(3), day(10), 10)

	done := *p1
	done.Status, done.EntryID, done.UpdatedAt = domain.TxnCompleted, "e-1", day(4)
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.UpdateTxn(ctx, &done, domain.TxnPending) })
	check("after a completion", time.Time{}, day(10), 10, p0, p2, p3)
}

// Statement sums a partner's transactions completed (posted to the
// ledger) in [from, to), by when they were posted, not when they
// occurred.
func statement(t *testing.T, s app.Store) {
	from, to := day(10), day(20)
	txn := func(id, partner string, kind domain.TxnKind, status domain.TxnStatus, updated time.Time, points, bonus, micros int64) *domain.Txn {
		x := newTxn(id, partner, "m-1", kind, status, updated)
		x.Points, x.BonusPoints, x.MoneyMicros, x.CreatedAt = points, bonus, micros, day(0)
		return x
	}
	pending := txn("e4", "acme", domain.TxnEarn, domain.TxnPending, day(12), 1000, 100, 12_000_000)
	insert(t, s,
		txn("e1", "acme", domain.TxnEarn, domain.TxnCompleted, from, 100, 20, 1_440_000), // occurred long before
		txn("e2", "acme", domain.TxnEarn, domain.TxnCompleted, day(15), 50, 0, 600_000),
		txn("b1", "acme", domain.TxnBurn, domain.TxnCompleted, to.Add(-time.Microsecond), 30, 0, 240_000),
		txn("e3", "acme", domain.TxnEarn, domain.TxnCompleted, to, 7, 0, 84_000),
		txn("e5", "acme", domain.TxnEarn, domain.TxnFailed, day(12), 9, 0, 108_000),
		txn("b2", "acme", domain.TxnBurn, domain.TxnPending, day(12), 11, 0, 88_000),
		txn("e6", "acme", domain.TxnEarn, domain.TxnCompleted, from.Add(-time.Microsecond), 13, 0, 156_000),
		txn("e7", "beta", domain.TxnEarn, domain.TxnCompleted, day(12), 17, 3, 240_000),
		pending)
	check := func(what, partner string, want domain.Statement) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			got, err := tx.Statement(ctx, partner, from, to)
			if got != nil {
				got.Currency = "" // the partner's, which the service knows
			}
			want.PartnerID, want.From, want.To = partner, from, to
			storetest.Check(t, fmt.Sprintf("%s: Statement(%s, %s, %s)", what, partner, from, to), got, &want)
			return err
		})
	}
	acme := domain.Statement{EarnCount: 2, BurnCount: 1, PointsIssued: 150, BonusPointsIssued: 20, PointsBurned: 30,
		OwedByPartnerMicro: 2_040_000, OwedToPartnerMicro: 240_000}
	check("inserted", "acme", acme)
	check("inserted", "beta", domain.Statement{EarnCount: 1, PointsIssued: 17, BonusPointsIssued: 3, OwedByPartnerMicro: 240_000})
	check("inserted", "none", domain.Statement{})

	posted := *pending
	posted.Status, posted.EntryID, posted.UpdatedAt = domain.TxnCompleted, "e-4", day(13)
	update(t, s, func(ctx context.Context, tx app.Tx) error { return tx.UpdateTxn(ctx, &posted, domain.TxnPending) })
	acme.EarnCount, acme.PointsIssued, acme.BonusPointsIssued, acme.OwedByPartnerMicro = 3, 1150, 120, 14_040_000
	check("after a posting", "acme", acme)
}

// state is everything failuresWriteNothing's transactions write to.
type state struct {
	Partners []*domain.Partner
	Offers   []*domain.Offer
	Links    []link
	Usage    []domain.Usage
	Txns     []*domain.Txn
	Idem     []*idem.Record
}

// A transaction that fails writes nothing: not when fn returns an error of
// its own, nor when a write fails with app.ErrConflict (a key or an id
// taken, a stale update), after every kind of write.
func failuresWriteNothing(t *testing.T, s app.Store) {
	acme := newPartner("acme", "p", day(0))
	o1 := newOffer("o-1", "acme", day(0))
	o1.BudgetPoints = 100
	o2 := newOffer("o-2", "acme", day(1))
	t1 := offerTxn("t1", "acme", "m-1", "o-1", domain.TxnPending, day(1))
	insert(t, s, acme, o1, t1)
	k1, k2, k3 := idem.Key{Caller: "c", Key: "k1"}, idem.Key{Caller: "c", Key: "k2"}, idem.Key{Caller: "c", Key: "k3"}
	update(t, s, func(ctx context.Context, tx app.Tx) error {
		if ok, err := tx.SpendBudget(ctx, "o-1", 10); err != nil || !ok {
			return fmt.Errorf("SpendBudget: %v, %w", ok, err)
		}
		if err := tx.CountUse(ctx, "o-1", "m-1", "2026-01", day(1)); err != nil {
			return err
		}
		if err := tx.InsertLink(ctx, "acme", "ref-1", "m-1", day(0)); err != nil {
			return err
		}
		if err := tx.PutIdem(ctx, idem.Record{Key: k1, Method: "M", Hash: []byte("h"), HashVersion: 1, Response: []byte("r"), CreatedAt: day(0)}); err != nil {
			return err
		}
		return tx.PutIdem(ctx, idem.Record{Key: k2, Method: "M", Hash: []byte("h"), HashVersion: 1, Subject: "t1", CreatedAt: day(0)})
	})
	read := func() state {
		t.Helper()
		var st state
		view(t, s, func(ctx context.Context, tx app.Tx) error {
			for _, id := range []string{"acme", "beta"} {
				p, err := tx.Partner(ctx, id)
				if err != nil {
					return err
				}
				st.Partners = append(st.Partners, p)
			}
			var err error
			if st.Offers, err = tx.ProgrammeOffers(ctx, "p", app.OfferPosition{}, 100); err != nil {
				return err
			}
			for _, l := range [][2]string{{"acme", "ref-1"}, {"acme", "ref-2"}, {"", "ref-2"}} {
				got, err := resolve(ctx, tx, l[0], l[1])
				if err != nil {
					return err
				}
				st.Links = append(st.Links, got)
			}
			for _, o := range []*domain.Offer{o1, o2} {
				u, err := tx.Usage(ctx, o, "m-1", "2026-01")
				if err != nil {
					return err
				}
				st.Usage = append(st.Usage, u)
			}
			for _, id := range []string{"t1", "t2"} {
				x, err := tx.Txn(ctx, id)
				if err != nil {
					return err
				}
				st.Txns = append(st.Txns, x)
			}
			st.Idem, err = storetest.Records(ctx, tx, k1, k2, k3)
			return err
		})
		return st
	}
	before := read()

	// writes writes some of everything, each write succeeding.
	writes := func(ctx context.Context, tx app.Tx) error {
		posted := *t1
		posted.Status, posted.EntryID, posted.UpdatedAt = domain.TxnCompleted, "e-1", day(2)
		for _, w := range []func() error{
			func() error { return tx.InsertPartner(ctx, newPartner("beta", "p", day(2))) },
			func() error { return tx.InsertLink(ctx, "acme", "ref-2", "m-2", day(2)) },
			func() error { return tx.InsertOffer(ctx, o2) },
			func() error { return spent(tx.SpendBudget(ctx, "o-1", 20)) },
			func() error { return tx.ReturnBudget(ctx, "o-1", 5) },
			func() error { return tx.CountUse(ctx, "o-1", "m-1", "2026-01", day(2)) },
			func() error { return tx.CountUse(ctx, "o-2", "m-1", "2026-01", day(2)) },
			func() error { return tx.ReturnUse(ctx, "o-1", "m-1", "2026-01") },
			func() error {
				return tx.InsertTxn(ctx, offerTxn("t2", "acme", "m-1", "o-2", domain.TxnPending, day(2)))
			},
			func() error { return tx.UpdateTxn(ctx, &posted, domain.TxnPending) },
			func() error {
				return tx.PutIdem(ctx, idem.Record{Key: k3, Method: "M", Hash: []byte("h"), HashVersion: 1, CreatedAt: day(2)})
			},
			func() error { return finished(tx.FinishIdem(ctx, k2, []byte("done"))) },
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
		{"a partner id taken", func(ctx context.Context, tx app.Tx) error { return tx.InsertPartner(ctx, acme) }, app.ErrConflict},
		{"an offer id taken", func(ctx context.Context, tx app.Tx) error { return tx.InsertOffer(ctx, o1) }, app.ErrConflict},
		{"a member linked", func(ctx context.Context, tx app.Tx) error {
			return tx.InsertLink(ctx, "acme", "ref-9", "m-1", day(3))
		}, app.ErrConflict},
		{"a stale transaction", func(ctx context.Context, tx app.Tx) error {
			return tx.UpdateTxn(ctx, t1, domain.TxnPending)
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

func spent(ok bool, err error) error {
	if err == nil && !ok {
		err = errors.New("refused")
	}
	return err
}
