package domain

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// RFMInput is one member's purchase summary over the RFM window as of a time.
type RFMInput struct {
	MemberID string
	// LastPurchase is the member's most recent purchase in the window.
	LastPurchase time.Time
	// Purchases is the number of purchases in the window (>= 1 for a scored
	// member).
	Purchases int64
	// Spend is the net spend in the window: purchases minus returns. It may
	// be zero, or negative when returns exceed purchases.
	Spend decimal.Decimal
}

// RFMScore is a member's recency, frequency and monetary scores, each from 1
// (worst) to 5 (best), and the segment the three scores fall in.
type RFMScore struct {
	MemberID string
	R, F, M  int
	Segment  string
}

// RFMThresholds are configured cut-offs used instead of quintiles: 4
// strictly ascending cut points per dimension. Recency is in whole days since
// the last purchase (fewer days score better), frequency in purchases and
// monetary in currency units (more scores better).
//
// A recency of d days scores 5 if d <= RecencyDays[0], 4 if d <=
// RecencyDays[1], 3 if d <= RecencyDays[2], 2 if d <= RecencyDays[3], else 1.
// A frequency or monetary value v scores 1 plus the number of its cut points
// that are <= v: below the first cut point scores 1, at or above the last
// scores 5.
type RFMThresholds struct {
	RecencyDays []int64
	Frequency   []int64
	Monetary    []decimal.Decimal
}

// rfmCuts is the number of cut points per dimension of RFMThresholds.
const rfmCuts = 4

// Validate checks that each dimension has exactly 4 strictly ascending cut
// points, recency cut points are >= 0 days and frequency cut points are >= 1
// purchase. A nil *RFMThresholds is valid: it selects quintile scoring.
// Each dimension at fault is one error (joined), named first: "recency_days:
// ...".
func (t *RFMThresholds) Validate() error {
	if t == nil {
		return nil
	}
	recency := validateCuts("recency_days", t.RecencyDays, cmp.Compare[int64])
	if recency == nil && t.RecencyDays[0] < 0 {
		recency = fmt.Errorf("recency_days: cut points must be >= 0 days, got %d", t.RecencyDays[0])
	}
	frequency := validateCuts("frequency", t.Frequency, cmp.Compare[int64])
	if frequency == nil && t.Frequency[0] < 1 {
		frequency = fmt.Errorf("frequency: cut points must be >= 1 purchase, got %d", t.Frequency[0])
	}
	return errors.Join(recency, frequency, validateCuts("monetary", t.Monetary, decimal.Decimal.Cmp))
}

// validateCuts checks that cuts holds exactly rfmCuts strictly ascending
// values.
func validateCuts[T any](field string, cuts []T, compare func(a, b T) int) error {
	if len(cuts) != rfmCuts {
		return fmt.Errorf("%s: need %d cut points, got %d", field, rfmCuts, len(cuts))
	}
	for i := 1; i < len(cuts); i++ {
		if compare(cuts[i-1], cuts[i]) >= 0 {
			return fmt.Errorf("%s: cut points must be strictly ascending, [%d] %v >= [%d] %v",
				field, i-1, cuts[i-1], i, cuts[i])
		}
	}
	return nil
}

// ScoreRFM scores members as of asOf and returns one RFMScore per input, in
// the order of the input. Each input is scored on its own: duplicate member
// IDs are not merged. The recency value is the number of whole days (floor of
// hours / 24) from LastPurchase to asOf, zero if LastPurchase is after asOf.
//
// With th nil, each dimension is scored by quintiles of mid-rank
// percentiles over the given members: a value's percentile is p = (worse +
// ties/2) / n, where worse is the number of members with a strictly worse
// value (more days, fewer purchases, less spend), ties the number with an
// equal value (itself included) and n is len(members); its score is min(5,
// 1 + floor(5 * p)). Equal values therefore always get equal scores, placed
// at the middle of the ranks they share: a lone member, or members who all
// share one value, score 3; with n distinct values each score is given to
// n/5 members. The result depends only on the multiset of inputs, not on
// their order, and takes O(n log n).
//
// With th not nil, scores come from the cut points of th (see
// RFMThresholds). ScoreRFM panics if th is not valid; validate configured
// thresholds with Validate when they are loaded.
func ScoreRFM(asOf time.Time, members []RFMInput, th *RFMThresholds) []RFMScore {
	if err := th.Validate(); err != nil {
		panic(fmt.Sprintf("domain.ScoreRFM: invalid thresholds: %v", err))
	}
	days := make([]int64, len(members))
	for i := range members {
		days[i] = rfmRecencyDays(asOf, members[i].LastPurchase)
	}
	out := make([]RFMScore, len(members))
	for i := range members {
		out[i].MemberID = members[i].MemberID
	}
	if th == nil {
		n := len(members)
		// Worse recency is more days: compare reversed.
		r := quintiles(n, func(a, b int) int { return cmp.Compare(days[b], days[a]) })
		f := quintiles(n, func(a, b int) int { return cmp.Compare(members[a].Purchases, members[b].Purchases) })
		m := quintiles(n, func(a, b int) int { return members[a].Spend.Cmp(members[b].Spend) })
		for i := range out {
			out[i].R, out[i].F, out[i].M = r[i], f[i], m[i]
		}
	} else {
		for i := range members {
			out[i].R = 5 - rfmCutsBelow(th.RecencyDays, days[i], cmp.Compare[int64])
			out[i].F = 1 + rfmCutsAtOrBelow(th.Frequency, members[i].Purchases, cmp.Compare[int64])
			out[i].M = 1 + rfmCutsAtOrBelow(th.Monetary, members[i].Spend, decimal.Decimal.Cmp)
		}
	}
	rules := rfmRules()
	for i := range out {
		out[i].Segment = rfmSegmentIn(rules, out[i].R, out[i].F, out[i].M)
	}
	return out
}

// rfmRecencyDays is the number of whole days from last to asOf, never
// negative. time.Time.Sub saturates, so the result is bounded by about 292
// years.
func rfmRecencyDays(asOf, last time.Time) int64 {
	d := asOf.Sub(last)
	if d <= 0 {
		return 0
	}
	return int64(d / (24 * time.Hour))
}

// quintiles scores n items 1 to 5, where worse(a, b) compares items a and b
// by goodness: negative if a is worse than b, zero if they are equal. Item i
// scores quintileScore of the items strictly worse than i and of those equal
// to it.
func quintiles(n int, worse func(a, b int) int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, worse)
	scores := make([]int, n)
	for start := 0; start < n; {
		end := start + 1
		for end < n && worse(order[start], order[end]) == 0 {
			end++
		}
		score := quintileScore(start, end-start, n)
		for _, i := range order[start:end] {
			scores[i] = score
		}
		start = end
	}
	return scores
}

// quintileScore is min(5, 1 + floor(5 * p)) for the mid-rank percentile p =
// (worse + ties/2) / n of a value that worse of n items are strictly worse
// than and ties items (itself included) equal, in integers: 5 * p = 5 *
// (2 * worse + ties) / (2 * n).
func quintileScore(worse, ties, n int) int {
	return min(5, 1+5*(2*worse+ties)/(2*n))
}

// rfmCutsBelow counts the cut points strictly below v.
func rfmCutsBelow[T any](cuts []T, v T, compare func(a, b T) int) int {
	n := 0
	for _, c := range cuts {
		if compare(c, v) < 0 {
			n++
		}
	}
	return n
}

// rfmCutsAtOrBelow counts the cut points at or below v.
func rfmCutsAtOrBelow[T any](cuts []T, v T, compare func(a, b T) int) int {
	n := 0
	for _, c := range cuts {
		if compare(c, v) <= 0 {
			n++
		}
	}
	return n
}

// RFM segment names.
const (
	// SegmentChampions bought recently, often and for a lot.
	SegmentChampions = "champions"
	// SegmentLoyal buys regularly and recently, without being a champion.
	SegmentLoyal = "loyal"
	// SegmentPotentialLoyalists bought recently, for the second time or so.
	SegmentPotentialLoyalists = "potential_loyalists"
	// SegmentNewCustomers bought very recently, once or so.
	SegmentNewCustomers = "new_customers"
	// SegmentPromising bought recently, once or so.
	SegmentPromising = "promising"
	// SegmentNeedAttention bought a while ago, rarely.
	SegmentNeedAttention = "need_attention"
	// SegmentAtRisk used to buy often but has not bought for long.
	SegmentAtRisk = "at_risk"
	// SegmentCantLoseThem used to buy most often but has not bought for
	// longest.
	SegmentCantLoseThem = "cant_lose_them"
	// SegmentAboutToSleep bought rarely and not recently.
	SegmentAboutToSleep = "about_to_sleep"
	// SegmentHibernating bought rarely and long ago.
	SegmentHibernating = "hibernating"
	// SegmentLost bought once or so, long ago.
	SegmentLost = "lost"
)

// rfmRule is a box of (R, F, M) score cells, bounds inclusive, that belongs
// to one segment.
type rfmRule struct {
	name     string
	rLo, rHi int
	fLo, fHi int
	mLo, mHi int
}

// contains tells whether cell (r, f, m) is in the box.
func (b rfmRule) contains(r, f, m int) bool {
	return b.rLo <= r && r <= b.rHi && b.fLo <= f && f <= b.fHi && b.mLo <= m && m <= b.mHi
}

// rfmRules is the segment map: disjoint boxes that together cover all 125
// cells of scores 1..5, listed by segment in the order of RFMSegments.
// Monetary only separates champions from loyal members; elsewhere a segment
// spans M 1-5.
func rfmRules() []rfmRule {
	return []rfmRule{
		{SegmentChampions, 4, 5, 4, 5, 4, 5},
		{SegmentLoyal, 4, 5, 4, 5, 1, 3},
		{SegmentLoyal, 4, 5, 3, 3, 1, 5},
		{SegmentLoyal, 3, 3, 3, 5, 1, 5},
		{SegmentPotentialLoyalists, 4, 5, 2, 2, 1, 5},
		{SegmentNewCustomers, 5, 5, 1, 1, 1, 5},
		{SegmentPromising, 4, 4, 1, 1, 1, 5},
		{SegmentNeedAttention, 3, 3, 1, 2, 1, 5},
		{SegmentAtRisk, 2, 2, 3, 5, 1, 5},
		{SegmentAtRisk, 1, 1, 3, 3, 1, 5},
		{SegmentCantLoseThem, 1, 1, 4, 5, 1, 5},
		{SegmentAboutToSleep, 2, 2, 1, 2, 1, 5},
		{SegmentHibernating, 1, 1, 2, 2, 1, 5},
		{SegmentLost, 1, 1, 1, 1, 1, 5},
	}
}

// RFMSegment is the segment of the cell (r, f, m). It panics unless each
// score is within 1..5: every such cell is in exactly one segment.
func RFMSegment(r, f, m int) string {
	return rfmSegmentIn(rfmRules(), r, f, m)
}

// rfmSegmentIn is the name of the rule of rules that contains (r, f, m); it
// panics if there is none.
func rfmSegmentIn(rules []rfmRule, r, f, m int) string {
	for _, b := range rules {
		if b.contains(r, f, m) {
			return b.name
		}
	}
	panic(fmt.Sprintf("domain.RFMSegment: no segment for r=%d f=%d m=%d", r, f, m))
}

// RFMSegments lists the segment names in a stable order, roughly from best
// to worst: the order of their first rule in the segment map.
func RFMSegments() []string {
	var names []string
	for _, b := range rfmRules() {
		if !slices.Contains(names, b.name) {
			names = append(names, b.name)
		}
	}
	return names
}
