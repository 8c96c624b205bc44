package domain

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// tieredProgramme is baseProgramme with tiers on status points over a
// rolling 12 months, one step down at a time: blue, silver from 300 (x1.5),
// gold from 1000 (x2).
func tieredProgramme(t *testing.T) *Programme {
	t.Helper()
	p := baseProgramme(t)
	p.Tiers = &TierPolicy{Basis: TierBasisStatusPoints, Window: TierWindowRolling, Months: 12, Downgrade: DowngradeOneStep,
		Levels: []TierLevel{
			{ID: "blue", Threshold: decimal.Zero, Multiplier: decimal.NewFromInt(1)},
			{ID: "silver", Threshold: decimal.NewFromInt(300), Multiplier: decimal.RequireFromString("1.5")},
			{ID: "gold", Threshold: decimal.NewFromInt(1000), Multiplier: decimal.NewFromInt(2)},
		},
		Location: p.Location}
	return p
}

func tierBook(t *testing.T) *TierBook {
	t.Helper()
	return &TierBook{Policy: tieredProgramme(t).Tiers}
}

func add(tb *TierBook, at time.Time, amount int64) []TierChange {
	return tb.Add(Contribution{EntryID: at.String(), OccurredAt: at, RecordedAt: at, Amount: decimal.NewFromInt(amount)})
}

func TestTierUpgradeOnCrossingAndRollingValidity(t *testing.T) {
	tb := tierBook(t)
	if cs := add(tb, t0, 200); len(cs) != 0 {
		t.Fatalf("200 points upgraded: %+v", cs)
	}
	cs := add(tb, t0.AddDate(0, 1, 0), 150)
	if len(cs) != 1 || cs[0].To != 1 || cs[0].Cause != CauseQualified {
		t.Fatalf("crossing 300: %+v", cs)
	}
	if want := t0.AddDate(0, 13, 0); !tb.State.ValidUntil.Equal(want) {
		t.Fatalf("valid until %s, want %s", tb.State.ValidUntil, want)
	}
	// Straight to gold from silver.
	if cs := add(tb, t0.AddDate(0, 2, 0), 700); len(cs) != 1 || cs[0].To != 2 {
		t.Fatalf("crossing 1000: %+v", cs)
	}
	// The first 200 fall out of the 12-month window: a purchase then counts
	// against the rest only.
	o := tb.Outlook(t0.AddDate(0, 12, 15))
	if !o.Qualifying.Equal(decimal.NewFromInt(850)) || o.Next != -1 {
		t.Fatalf("outlook %+v", o)
	}
}

func TestTierDowngradeOneStepPerPeriod(t *testing.T) {
	tb := tierBook(t)
	add(tb, t0, 1200) // gold until t0 + 12 months
	// No purchases: at the end of the validity gold drops to silver, a year
	// later silver drops to blue.
	cs := tb.CloseUntil(t0.AddDate(3, 0, 0))
	if len(cs) != 2 || cs[0].To != 1 || cs[1].To != 0 {
		t.Fatalf("changes %+v", cs)
	}
	if !cs[0].At.Equal(t0.AddDate(1, 0, 0)) || !cs[1].At.Equal(t0.AddDate(2, 0, 0)) || !tb.State.ValidUntil.IsZero() {
		t.Fatalf("changes %+v state %+v", cs, tb.State)
	}
}

func TestTierRequalifiesAndToQualifiedDowngrade(t *testing.T) {
	tb := tierBook(t)
	tb.Policy.Downgrade = DowngradeToQualified
	add(tb, t0, 1200)
	add(tb, t0.AddDate(0, 11, 0), 1000) // requalifies gold in the window ending at t0+12m
	if cs := tb.CloseUntil(t0.AddDate(1, 0, 1)); len(cs) != 0 || tb.State.Level != 2 {
		t.Fatalf("requalified gold dropped: %+v %+v", cs, tb.State)
	}
	// Next window: only 100 points, below silver: straight down to blue.
	add(tb, t0.AddDate(1, 6, 0), 100)
	cs := tb.CloseUntil(t0.AddDate(2, 0, 1))
	if len(cs) != 1 || cs[0].To != 0 {
		t.Fatalf("to_qualified: %+v", cs)
	}
}

func TestReturnsReduceQualifyingAndLatePurchasesMissClosedPeriods(t *testing.T) {
	tb := tierBook(t)
	add(tb, t0, 400) // silver until V
	v := tb.State.ValidUntil
	tb.Add(Contribution{EntryID: "return", OccurredAt: t0, RecordedAt: t0.AddDate(0, 1, 0), Amount: decimal.NewFromInt(-200)})
	if tb.State.Level != 1 {
		t.Fatal("a return downgraded at once; downgrades wait for the end of the validity")
	}
	// The return halves the qualifying amount. Keeping silver takes 300
	// points within the 12 months after reaching it: the purchase that
	// reached it (and its return) is not among them.
	if o := tb.Outlook(t0.AddDate(0, 2, 0)); !o.Qualifying.Equal(decimal.NewFromInt(200)) || !o.ToKeep.Equal(decimal.NewFromInt(300)) {
		t.Fatalf("after returning half: %+v", o)
	}
	// A purchase that happened before V but is recorded after it does not
	// count for the period that closed at V: the member drops at V, and the
	// purchase then lifts them again from V.
	cs := tb.Add(Contribution{EntryID: "late", OccurredAt: v.Add(-time.Hour), RecordedAt: v.Add(time.Hour), Amount: decimal.NewFromInt(500)})
	if len(cs) != 2 || cs[0].To != 0 || cs[0].Cause != CauseExpired || !cs[0].At.Equal(v) ||
		cs[1].To != 1 || cs[1].Cause != CauseQualified || !cs[1].At.Equal(v) {
		t.Fatalf("late purchase: %+v", cs)
	}
}

func TestManualFloor(t *testing.T) {
	tb := tierBook(t)
	cs := tb.SetFloor(1, t0)
	if len(cs) != 1 || cs[0].To != 1 || cs[0].Cause != CauseManual {
		t.Fatalf("floor: %+v", cs)
	}
	add(tb, t0, 1500) // gold
	cs = tb.CloseUntil(t0.AddDate(5, 0, 0))
	if tb.State.Level != 1 || len(cs) != 1 || cs[0].To != 1 {
		t.Fatalf("dropped below the floor: %+v %+v", cs, tb.State)
	}
	tb.SetFloor(0, t0.AddDate(5, 0, 0))
	if cs := tb.CloseUntil(t0.AddDate(7, 0, 0)); tb.State.Level != 0 || len(cs) != 1 {
		t.Fatalf("after clearing the floor: %+v %+v", cs, tb.State)
	}
}

// Calendar periods: a tier reached in a period is valid to the end of the
// next one, and requalification is judged on the period just ended.
func TestCalendarTiers(t *testing.T) {
	tb := tierBook(t)
	p := tb.Policy
	p.Window, p.StartMonth = TierWindowCalendar, 4
	if got, want := p.periodStart(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)), time.Date(2025, 4, 1, 0, 0, 0, 0, p.Location); !got.Equal(want) {
		t.Fatalf("period start %s, want %s", got, want)
	}
	add(tb, t0, 350) // March 2026: period April 2025 – March 2026
	if want := time.Date(2027, 4, 1, 0, 0, 0, 0, p.Location); !tb.State.ValidUntil.Equal(want) {
		t.Fatalf("valid until %s, want %s", tb.State.ValidUntil, want)
	}
	add(tb, t0.AddDate(0, 6, 0), 320) // requalifies in April 2026 – March 2027
	if cs := tb.CloseUntil(time.Date(2027, 4, 2, 0, 0, 0, 0, p.Location)); len(cs) != 0 || tb.State.Level != 1 {
		t.Fatalf("requalified silver dropped: %+v", cs)
	}
	o := tb.Outlook(time.Date(2027, 5, 1, 0, 0, 0, 0, p.Location))
	if !o.ToKeep.Equal(decimal.NewFromInt(300)) || !o.Qualifying.IsZero() {
		t.Fatalf("outlook in a fresh period: %+v", o)
	}
}
