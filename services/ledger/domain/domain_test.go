package domain

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
)

// baseProgramme is programme p, version 1, in euros (one point per euro,
// rounded down) and Paris time, with what the configuration file leaves
// out set as services/ledger/config sets it: no return window, no expiry,
// floor 0 (capped), holds of 15m up to 24h, RFM over 12 months daily,
// inactive after 90 days, a 52-week churn horizon, moments at 30 and 90
// days.
func baseProgramme(t *testing.T) *Programme {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	p := &Programme{ID: "p", Timezone: "Europe/Paris", Currency: "EUR", FloorPolicy: FloorCap, Version: 1, Location: paris}
	p.Earning.Rates = map[string]decimal.Decimal{"EUR": decimal.NewFromInt(1)}
	p.Earning.Rounding = money.RoundFloor
	p.Expiry.Policy = ExpiryNone
	p.Holds.DefaultTTL, p.Holds.MaxTTL = 15*time.Minute, 24*time.Hour
	p.RFM.WindowMonths, p.RFM.Every = 12, 24*time.Hour
	p.KPI.InactiveDays, p.KPI.HorizonWeeks = 90, 52
	p.Moments.ExpiringWithinDays, p.Moments.InactiveAfterDays = 30, 90
	return p
}

// testProgramme is baseProgramme, version 3, with 1.5 points per euro, a
// 14-day return window, lots expiring 12 months after their release and a
// floor of -50.
func testProgramme(t *testing.T) *Programme {
	t.Helper()
	p := baseProgramme(t)
	p.Version = 3
	p.Earning.Rates["EUR"] = decimal.RequireFromString("1.5")
	p.PendingDays = 14
	p.Expiry.Policy, p.Expiry.Months = ExpiryLot, 12
	p.Floor = -50
	return p
}

func newTestBook(t *testing.T, p *Programme) *Book {
	t.Helper()
	n := 0
	b := NewBook(Member{ID: "m", ProgrammeID: "p"}, p, func() string { n++; return fmt.Sprintf("id%03d", n) })
	b.LoadLots(nil, nil)
	return b
}

var t0 = time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)

func must(t *testing.T) func(*Entry, error) *Entry {
	return func(e *Entry, err error) *Entry {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

func check(t *testing.T, b *Book) {
	t.Helper()
	b.RefreshDue()
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}

// The return window and the expiry both end at the end of a day in the
// programme's time zone, and the expiry clock starts at the release.
func TestPendingAndExpiryEndOfLocalDay(t *testing.T) {
	p := testProgramme(t)
	// 23:30 UTC on 31 March is already 1 April in Paris (UTC+2).
	occurred := time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC)
	until := p.PendingUntil(occurred)
	if want := time.Date(2026, 4, 16, 0, 0, 0, 0, p.Location); !until.Equal(want) {
		t.Fatalf("pending until %s, want %s", until, want)
	}
	// Released as 16 April begins: expires at the end of 16 April 2027.
	if want := time.Date(2027, 4, 17, 0, 0, 0, 0, p.Location); !p.ExpiresAt(until).Equal(want) {
		t.Fatalf("expires %s, want %s", p.ExpiresAt(until), want)
	}
}

func TestEarnPurchaseIsPendingThenReleased(t *testing.T) {
	b := newTestBook(t, testProgramme(t))
	e := must(t)(b.Earn(EarnCmd{Purchase: &money.Money{Amount: decimal.RequireFromString("20.00"), Currency: "EUR"}}, t0))
	if e.Points != 30 || b.Member.Pending != 30 || b.Member.Available != 0 {
		t.Fatalf("earn: %+v member %+v", e, b.Member)
	}
	check(t, b)
	if r := b.Settle(t0.Add(10*24*time.Hour), t0); r.PendingReleased != 0 {
		t.Fatalf("released inside the window: %+v", r)
	}
	r := b.Settle(t0.Add(15*24*time.Hour), t0)
	if r.PendingReleased != 30 || b.Member.Available != 30 || b.Member.Pending != 0 {
		t.Fatalf("release: %+v member %+v", r, b.Member)
	}
	check(t, b)
}

func TestEarnRejectsUnknownCurrencyAndFutureTime(t *testing.T) {
	b := newTestBook(t, testProgramme(t))
	_, err := b.Earn(EarnCmd{Purchase: &money.Money{Amount: decimal.NewFromInt(5), Currency: "USD"}}, t0)
	if f, ok := fault.As(err); !ok || f.Field != "purchase.currency_code" {
		t.Fatalf("USD purchase: %v", err)
	}
	_, err = b.Earn(EarnCmd{Points: 5, OccurredAt: t0.Add(time.Hour)}, t0)
	if f, ok := fault.As(err); !ok || f.Field != "occurred_at" {
		t.Fatalf("future earn: %v", err)
	}
	if len(b.NewEntries) != 0 {
		t.Fatal("a refused earn wrote an entry")
	}
}

// Burns take the earliest-expiring lot first, never-expiring ones last.
func TestBurnDrawsEarliestExpiryFirst(t *testing.T) {
	b := newTestBook(t, testProgramme(t))
	late := must(t)(b.Earn(EarnCmd{Points: 100}, t0.Add(48*time.Hour)))
	early := must(t)(b.Earn(EarnCmd{Points: 100, OccurredAt: t0}, t0.Add(48*time.Hour)))
	burn := must(t)(b.Burn(BurnCmd{Points: 150}, t0.Add(49*time.Hour)))
	drawn := map[string]int64{}
	for _, m := range b.NewMoves {
		if m.EntryID == burn.ID {
			drawn[b.Lots[m.LotID].SourceEntryID] -= m.Points
		}
	}
	if drawn[early.ID] != 100 || drawn[late.ID] != 50 {
		t.Fatalf("burn drew %v, want all 100 of the earlier lot and 50 of the later", drawn)
	}
	check(t, b)
}

// A refund puts points back into the lots they came from, with their
// original expiry; points of a lot that has expired since come back
// expired.
func TestRefundRestoresLotsAndExpiry(t *testing.T) {
	b := newTestBook(t, testProgramme(t))
	must(t)(b.Earn(EarnCmd{Points: 100, OccurredAt: t0}, t0))
	must(t)(b.Earn(EarnCmd{Points: 100, OccurredAt: t0.AddDate(0, 6, 0)}, t0.AddDate(0, 6, 0)))
	burn := must(t)(b.Burn(BurnCmd{Points: 150}, t0.AddDate(0, 6, 0)))
	b.AddOriginMoves(burn.ID, nil) // the burn's own moves are in the Book already

	// 13 months on, the first lot has expired: its 100 points (drawn by the
	// burn) come back and expire at once; the 50 of the second lot stay.
	now := t0.AddDate(0, 13, 0)
	b.Settle(now, now)
	ref := must(t)(b.Reverse(ReverseCmd{Original: burn, Portion: Portion{Full: true}}, now))
	if ref.Points != 150 {
		t.Fatalf("refund of %d points, want 150", ref.Points)
	}
	r := b.Settle(now, now)
	if r.PointsExpired != 100 || b.Member.Available != 100 {
		t.Fatalf("after refund: %+v, available %d; want 100 expired and 100 left", r, b.Member.Available)
	}
	check(t, b)
	if _, err := b.Reverse(ReverseCmd{Original: burn, Portion: Portion{Points: 1}}, now); err == nil {
		t.Fatal("refunded a burn twice")
	}
}

// Returns claw back in proportion, cumulatively, taking the pending points
// first and then going negative only down to the floor.
func TestClawbackProportionalPendingFirstAndFloor(t *testing.T) {
	b := newTestBook(t, testProgramme(t))
	must(t)(b.Earn(EarnCmd{Points: 10}, t0)) // available
	earn := must(t)(b.Earn(EarnCmd{Purchase: &money.Money{Amount: decimal.RequireFromString("100"), Currency: "EUR"}}, t0))
	if earn.Points != 150 {
		t.Fatalf("earned %d", earn.Points)
	}
	ret := func(amount string) (*Entry, error) {
		// No stored reversals: the Book folds in the ones it wrote itself.
		return b.Reverse(ReverseCmd{Original: earn, Portion: Portion{Returned: &money.Money{Amount: decimal.RequireFromString(amount), Currency: "EUR"}}}, t0)
	}
	e := must(t)(ret("33.33")) // floor(150 * 33.33 / 100) = 49
	if e.Points != 49 || b.Member.Pending != 101 {
		t.Fatalf("first return: %d points, pending %d", e.Points, b.Member.Pending)
	}
	e = must(t)(ret("33.33")) // cumulative: floor(150 * 66.66 / 100) = 99, minus 49
	if e.Points != 50 {
		t.Fatalf("second return: %d points, want 50", e.Points)
	}
	if _, err := ret("33.35"); err == nil {
		t.Fatal("returned more than was bought")
	}
	// Release the rest, spend it, then return the remainder: the clawback
	// takes what is available and then the balance down to the floor.
	b.Settle(t0.AddDate(0, 0, 15), t0.AddDate(0, 0, 15))
	must(t)(b.Burn(BurnCmd{Points: b.Member.Available}, t0.AddDate(0, 0, 15)))
	e = must(t)(ret("33.34"))
	if e.Points+e.Uncollected != 51 || b.Member.Available != -50 || e.Uncollected != 1 {
		t.Fatalf("last return: %d collected, %d uncollected, available %d", e.Points, e.Uncollected, b.Member.Available)
	}
	check(t, b)
	// New points repay the debt first.
	must(t)(b.Earn(EarnCmd{Points: 80}, t0.AddDate(0, 0, 16)))
	if b.Member.Available != 30 || b.Member.Debt != 0 {
		t.Fatalf("after repaying: %+v", b.Member)
	}
	check(t, b)
}

func TestClawbackRejectPolicy(t *testing.T) {
	p := testProgramme(t)
	p.FloorPolicy = FloorReject
	b := newTestBook(t, p)
	earn := must(t)(b.Earn(EarnCmd{Points: 100}, t0))
	must(t)(b.Burn(BurnCmd{Points: 100}, t0))
	if _, err := b.Reverse(ReverseCmd{Original: earn, Portion: Portion{Full: true}}, t0); err == nil {
		t.Fatal("clawback below the floor accepted")
	}
	if e := must(t)(b.Reverse(ReverseCmd{Original: earn, Portion: Portion{Points: 50}}, t0)); b.Member.Available != -50 || e.Points != 50 {
		t.Fatalf("clawback to the floor: available %d", b.Member.Available)
	}
	check(t, b)
}

// A partial capture burns the hold's earliest-expiring points and returns
// the rest to their lots; an expired hold returns everything.
func TestHoldCaptureReleaseAndExpiry(t *testing.T) {
	b := newTestBook(t, testProgramme(t))
	must(t)(b.Earn(EarnCmd{Points: 100}, t0))
	h, _, err := b.Hold(HoldCmd{Points: 80}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Member.Available != 20 || b.Member.Held != 80 {
		t.Fatalf("hold: %+v", b.Member)
	}
	if _, _, err := b.Hold(HoldCmd{Points: 21}, t0); err == nil {
		t.Fatal("held more than available")
	}
	_, c, rel, err := b.Capture(h.ID, 50, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c.Points != 50 || rel == nil || rel.Points != 30 || b.Member.Available != 50 || b.Member.Held != 0 {
		t.Fatalf("capture: %+v %+v member %+v", c, rel, b.Member)
	}
	if _, _, _, err := b.Capture(h.ID, 0, t0.Add(time.Minute)); err == nil {
		t.Fatal("captured a hold twice")
	}
	h2, _, err := b.Hold(HoldCmd{Points: 40, TTL: time.Minute}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if r := b.Settle(t0.Add(2*time.Minute), t0.Add(2*time.Minute)); r.HoldsExpired != 1 || b.Member.Available != 50 {
		t.Fatalf("expiry: %+v %+v", r, b.Member)
	}
	if _, _, _, err := b.Capture(h2.ID, 0, t0.Add(2*time.Minute)); err == nil {
		t.Fatal("captured an expired hold")
	}
	if _, _, err := b.Hold(HoldCmd{Points: 1, TTL: 48 * time.Hour}, t0); err == nil {
		t.Fatal("hold ttl above the maximum accepted")
	}
	check(t, b)
}

func TestAdjust(t *testing.T) {
	b := newTestBook(t, testProgramme(t))
	if _, err := b.Adjust(AdjustCmd{Points: 10, Operator: "ops"}, t0); err == nil {
		t.Fatal("adjustment without a reason")
	}
	must(t)(b.Adjust(AdjustCmd{Points: 10, Reason: "goodwill", Operator: "ops"}, t0))
	must(t)(b.Adjust(AdjustCmd{Points: -60, Reason: "fraud", Operator: "ops"}, t0))
	if b.Member.Available != -50 || b.Member.Debt != 50 {
		t.Fatalf("after debit: %+v", b.Member)
	}
	if _, err := b.Adjust(AdjustCmd{Points: -1, Reason: "more", Operator: "ops"}, t0); err == nil {
		t.Fatal("debit below the floor accepted")
	}
	check(t, b)
}

func TestExpiryWritesOffLots(t *testing.T) {
	b := newTestBook(t, testProgramme(t))
	must(t)(b.Earn(EarnCmd{Points: 70}, t0))
	must(t)(b.Earn(EarnCmd{Points: 30}, t0.AddDate(0, 2, 0)))
	must(t)(b.Burn(BurnCmd{Points: 20}, t0.AddDate(0, 2, 0)))
	if got := b.ExpirySchedule(); len(got) != 2 || got[0].Points != 50 || got[1].Points != 30 {
		t.Fatalf("schedule %+v", got)
	}
	r := b.Settle(t0.AddDate(1, 0, 1), t0.AddDate(1, 0, 1))
	if r.PointsExpired != 50 || r.LotsExpired != 1 || b.Member.Available != 30 {
		t.Fatalf("expiry %+v member %+v", r, b.Member)
	}
	if r := b.Settle(t0.AddDate(1, 0, 1), t0.AddDate(1, 0, 1)); r != (SettleResult{}) {
		t.Fatalf("second run changed something: %+v", r)
	}
	check(t, b)
}
