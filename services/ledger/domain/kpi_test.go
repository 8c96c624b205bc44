package domain

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Two members enrol in January; A buys twice in January and once in
// February, B once in January. With a 30-day inactivity threshold, B has
// churned by the end of February.
func TestMemberKPIs(t *testing.T) {
	k := NewMemberKPIs(Months(day("2026-01-01"), day("2026-02-15")), 30*24*time.Hour, day("2026-02-28"))
	k.Add(MemberHistory{Enrolled: day("2026-01-05"), Purchases: []time.Time{day("2026-01-05"), day("2026-01-20"), day("2026-02-10")}})
	k.Add(MemberHistory{Enrolled: day("2026-01-10"), Purchases: []time.Time{day("2026-01-10")}})
	k.Add(MemberHistory{Enrolled: day("2026-03-01")}) // after the periods: counted nowhere
	jan, feb := k.Periods[0], k.Periods[1]
	if jan.Key != "2026-01" || jan.New != 2 || jan.ActiveStart != 0 || jan.ActiveEnd != 2 || jan.NewActiveEnd != 2 ||
		jan.Purchasers != 2 || jan.RepeatPurchasers != 1 || !jan.RepeatPurchaseRate().Equal(decimal.RequireFromString("0.5")) {
		t.Fatalf("January %+v", jan)
	}
	if feb.MembersStart != 2 || feb.New != 0 || feb.ActiveStart != 2 || feb.ActiveEnd != 1 || feb.Churned != 1 ||
		!feb.ChurnRate().Equal(decimal.RequireFromString("0.5")) || !feb.RetentionRate().Equal(decimal.RequireFromString("0.5")) || feb.Purchasers != 1 {
		t.Fatalf("February %+v", feb)
	}
	cells := k.Cohorts()
	want := []CohortCell{{"2026-01", 0, 2, 2}, {"2026-01", 1, 2, 1}}
	if len(cells) != len(want) {
		t.Fatalf("cohorts %+v", cells)
	}
	for i := range want {
		if cells[i] != want[i] {
			t.Fatalf("cohort %d: %+v, want %+v", i, cells[i], want[i])
		}
	}
}

func TestTransitionMatrix(t *testing.T) {
	tr := func(from, to string, at string) Transition { return Transition{From: from, To: to, At: day(at)} }
	seg := func(ts ...Transition) StateHistory { return StateHistory{Since: day("2025-06-01"), Transitions: ts} }
	byMember := map[string]StateHistory{
		"a": seg(tr("", "loyal", "2026-01-01"), tr("loyal", "champions", "2026-02-01")),
		"b": seg(tr("", "loyal", "2026-01-01")),
		"c": seg(tr("", "lost", "2026-02-05")),                                                  // new
		"d": seg(tr("", "at_risk", "2026-01-01"), tr("at_risk", SegmentInactive, "2026-02-01")), // exited
		"e": seg(tr("", "lost", "2026-03-01")),                                                  // after: left out
		"f": seg(tr("", SegmentInactive, "2025-12-01")),                                         // stays inactive
		"g": seg(tr("", "loyal", "2026-01-15")),                                                 // at from: in the period
		"h": seg(tr("", "lost", "2026-02-15")),                                                  // at to: the next period's
	}
	got := TransitionMatrix(byMember, day("2026-01-15"), day("2026-02-15"), SegmentInactive)
	wantCells(t, got, []TransitionCell{
		{"at_risk", StateExited, 1, decimal.NewFromInt(1)}, {SegmentInactive, SegmentInactive, 1, decimal.NewFromInt(1)},
		{"loyal", "champions", 1, decimal.RequireFromString("0.5")}, {"loyal", "loyal", 1, decimal.RequireFromString("0.5")},
		{StateNew, "lost", 1, decimal.RequireFromString("0.5")}, {StateNew, "loyal", 1, decimal.RequireFromString("0.5")},
	})

	// Tiers: every member is in the first tier from enrolment.
	tier := func(since string, ts ...Transition) StateHistory {
		return StateHistory{Since: day(since), Initial: "blue", Transitions: ts}
	}
	tiers := map[string]StateHistory{
		"stays":    tier("2025-06-01"),
		"upgrades": tier("2025-06-01", tr("blue", "silver", "2026-02-01")),
		"joins":    tier("2026-01-20"),
		"later":    tier("2026-03-01"), // enrolled after: left out
	}
	wantCells(t, TransitionMatrix(tiers, day("2026-01-15"), day("2026-02-15"), ""), []TransitionCell{
		{"blue", "blue", 1, decimal.RequireFromString("0.5")}, {"blue", "silver", 1, decimal.RequireFromString("0.5")},
		{StateNew, "blue", 1, decimal.NewFromInt(1)},
	})
}

func wantCells(t *testing.T, got, want []TransitionCell) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("matrix %+v, want %+v", got, want)
	}
	for i := range want {
		if g, w := got[i], want[i]; g.From != w.From || g.To != w.To || g.Members != w.Members || !g.RowShare.Equal(w.RowShare) {
			t.Fatalf("cell %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
