package domain

import (
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
)

// returnsScenario is a silver member's 7.00 purchase (7 status points, 10
// points at x1.5, rounded down) and the ledger entries of returning it in
// the given portions, numbered in sequence.
func returnsScenario(t *testing.T, portions []Portion) (*Programme, []*Entry) {
	t.Helper()
	p := tieredProgramme(t)
	n := 0
	b := NewBook(Member{ID: "m", ProgrammeID: "p", Tier: "silver"}, p, func() string { n++; return fmt.Sprintf("id%03d", n) })
	b.LoadLots(nil, nil)
	earn := must(t)(b.Earn(EarnCmd{Purchase: &money.Money{Amount: decimal.RequireFromString("7.00"), Currency: "EUR"}}, t0))
	if earn.BasePoints != 7 || earn.Points != 10 {
		t.Fatalf("purchase priced %d base, %d points; want 7, 10", earn.BasePoints, earn.Points)
	}
	entries := []*Entry{earn}
	for _, portion := range portions {
		// No stored reversals: the Book folds in the ones it wrote itself.
		entries = append(entries, must(t)(b.Reverse(ReverseCmd{Original: earn, Portion: portion}, t0)))
	}
	for i, e := range entries {
		e.Seq = int64(i + 1)
	}
	return p, entries
}

func returned(amount string) Portion {
	return Portion{Returned: &money.Money{Amount: decimal.RequireFromString(amount), Currency: "EUR"}}
}

// wantAllTakenOff fails unless the book holds nothing of the purchase: no
// status points, no spend, nothing qualifying for a tier.
func wantAllTakenOff(t *testing.T, sb *StatusBook) {
	t.Helper()
	var status, points int64
	for _, p := range sb.Purchases {
		status += p.StatusPoints
		points += p.Points
	}
	q := sb.TierBook().Outlook(t0).Qualifying
	if status != 0 || points != 0 || sb.Status.SpendMicros != 0 || !q.IsZero() {
		t.Fatalf("after returning all: %d status points, %d points, spend %d micros, qualifying %s left (%+v)",
			status, points, sb.Status.SpendMicros, q, sb.Purchases)
	}
}

// Returning a purchase in full takes off exactly its status points and
// spend, however many returns it takes: each return takes off the
// difference between the cumulative shares, floor(7 * clawed / 10), before
// and after it, not its own share rounded down (which left 4 of 7 status
// points after seven returns of 1.00).
func TestStepwiseReturnsTakeOffAllStatusPointsAndSpend(t *testing.T) {
	sevenEuros := make([]Portion, 7)
	for i := range sevenEuros {
		sevenEuros[i] = returned("1.00")
	}
	for name, c := range map[string]struct {
		portions []Portion
		status   []int64 // status points each return takes off
	}{
		"seven returns of 1.00":  {sevenEuros, []int64{0, 1, 1, 1, 1, 1, 2}},
		"one full return":        {[]Portion{{Full: true}}, []int64{7}},
		"by points, then full":   {[]Portion{{Points: 3}, {Points: 3}, {Full: true}}, []int64{2, 2, 3}},
		"by amount, then points": {[]Portion{returned("2.50"), returned("2.50"), {Points: 3}}, []int64{2, 2, 3}},
	} {
		t.Run(name, func(t *testing.T) {
			p, entries := returnsScenario(t, c.portions)
			// All at once, and one projector run per entry: a run loads the
			// stored status, purchases and the clawbacks it projected before.
			once := NewStatusBook(p, MemberStatus{MemberID: "m", ProgrammeID: "p"}, nil)
			for _, e := range entries {
				once.Apply(e)
			}
			wantAllTakenOff(t, once)
			var sb *StatusBook
			for _, e := range entries {
				if sb == nil {
					sb = NewStatusBook(p, MemberStatus{MemberID: "m", ProgrammeID: "p"}, nil)
				} else {
					sb = NewStatusBook(p, sb.Status, sb.Purchases)
					sb.AddClawbacks(entries[1:]) // as stored: the later ones too
				}
				sb.Apply(e)
			}
			wantAllTakenOff(t, sb)
			for i, ret := range once.Purchases[1:] {
				if -ret.StatusPoints != c.status[i] || ret != sb.Purchases[i+1] {
					t.Errorf("return %d takes off %d status points, want %d (one run per entry: %+v)",
						i+1, -ret.StatusPoints, c.status[i], sb.Purchases[i+1])
				}
			}
			if once.Status != sb.Status {
				t.Errorf("status projected at once %+v, one run per entry %+v", once.Status, sb.Status)
			}
		})
	}
}

// A part return takes off the same share of status points as before, and
// the spend of the amount returned.
func TestPartReturnTakesOffItsShare(t *testing.T) {
	p, entries := returnsScenario(t, []Portion{returned("3.50")})
	sb := NewStatusBook(p, MemberStatus{MemberID: "m", ProgrammeID: "p"}, nil)
	for _, e := range entries {
		sb.Apply(e)
	}
	ret := sb.Purchases[1]
	if !ret.Return || ret.Points != -5 || ret.StatusPoints != -3 || ret.SpendMicros != -3_500_000 || sb.Status.SpendMicros != 3_500_000 {
		t.Fatalf("return of 3.50: %+v, spend left %d", ret, sb.Status.SpendMicros)
	}
}
