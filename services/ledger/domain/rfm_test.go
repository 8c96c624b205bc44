package domain

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// rfmAsOf is the time the tests score members as of.
func rfmAsOf() time.Time { return time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC) }

// rfmDaysAgo is a last purchase d whole days before rfmAsOf().
func rfmDaysAgo(d int) time.Time { return rfmAsOf().Add(-time.Duration(d) * 24 * time.Hour) }

func TestRFMRulesCoverEveryCellOnce(t *testing.T) {
	rules := rfmRules()
	segments := RFMSegments()
	used := map[string]int{}
	for _, b := range rules {
		if b.rLo < 1 || b.rLo > b.rHi || b.rHi > 5 || b.fLo < 1 || b.fLo > b.fHi || b.fHi > 5 ||
			b.mLo < 1 || b.mLo > b.mHi || b.mHi > 5 {
			t.Errorf("rule %+v: bounds outside 1..5 or empty", b)
		}
		if !slices.Contains(segments, b.name) {
			t.Errorf("rule %+v: segment not listed by RFMSegments", b)
		}
	}
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			for m := 1; m <= 5; m++ {
				var in []string
				for _, b := range rules {
					if b.rLo <= r && r <= b.rHi && b.fLo <= f && f <= b.fHi && b.mLo <= m && m <= b.mHi {
						in = append(in, b.name)
					}
				}
				if len(in) != 1 {
					t.Errorf("cell r=%d f=%d m=%d is in %d rules %v, want exactly 1", r, f, m, len(in), in)
					continue
				}
				if got := RFMSegment(r, f, m); got != in[0] {
					t.Errorf("RFMSegment(%d, %d, %d) = %q, want %q", r, f, m, got, in[0])
				}
				used[in[0]]++
			}
		}
	}
	total := 0
	for _, n := range used {
		total += n
	}
	if total != 125 {
		t.Errorf("%d cells assigned, want 125", total)
	}
	seen := map[string]bool{}
	for _, s := range segments {
		if seen[s] {
			t.Errorf("RFMSegments lists %q twice", s)
		}
		seen[s] = true
		if used[s] == 0 {
			t.Errorf("segment %q has no cell", s)
		}
		if s == "" || strings.ToLower(s) != s || strings.ContainsAny(s, " -") {
			t.Errorf("segment %q is not snake_case", s)
		}
	}
	if len(segments) != 11 {
		t.Errorf("RFMSegments() = %v, want 11 segments", segments)
	}
	if !slices.Equal(segments, RFMSegments()) {
		t.Error("RFMSegments is not stable")
	}
}

func TestRFMSegmentCells(t *testing.T) {
	for _, c := range []struct {
		r, f, m int
		want    string
	}{
		{5, 5, 5, SegmentChampions},
		{4, 4, 4, SegmentChampions},
		{5, 5, 3, SegmentLoyal},
		{5, 3, 5, SegmentLoyal},
		{3, 5, 5, SegmentLoyal},
		{3, 3, 1, SegmentLoyal},
		{5, 2, 5, SegmentPotentialLoyalists},
		{4, 2, 1, SegmentPotentialLoyalists},
		{5, 1, 5, SegmentNewCustomers},
		{4, 1, 5, SegmentPromising},
		{3, 2, 5, SegmentNeedAttention},
		{3, 1, 1, SegmentNeedAttention},
		{2, 5, 5, SegmentAtRisk},
		{2, 3, 1, SegmentAtRisk},
		{1, 3, 5, SegmentAtRisk},
		{1, 5, 5, SegmentCantLoseThem},
		{1, 4, 1, SegmentCantLoseThem},
		{2, 2, 5, SegmentAboutToSleep},
		{2, 1, 1, SegmentAboutToSleep},
		{1, 2, 5, SegmentHibernating},
		{1, 1, 5, SegmentLost},
		{1, 1, 1, SegmentLost},
	} {
		if got := RFMSegment(c.r, c.f, c.m); got != c.want {
			t.Errorf("RFMSegment(%d, %d, %d) = %q, want %q", c.r, c.f, c.m, got, c.want)
		}
	}
	for _, c := range [][3]int{{0, 1, 1}, {1, 6, 1}, {1, 1, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RFMSegment(%d, %d, %d) did not panic", c[0], c[1], c[2])
				}
			}()
			RFMSegment(c[0], c[1], c[2])
		}()
	}
}

// rfmByMember indexes scores by member, failing on duplicates.
func rfmByMember(t *testing.T, scores []RFMScore) map[string]RFMScore {
	t.Helper()
	m := make(map[string]RFMScore, len(scores))
	for _, s := range scores {
		if _, dup := m[s.MemberID]; dup {
			t.Fatalf("member %s scored twice", s.MemberID)
		}
		m[s.MemberID] = s
	}
	return m
}

func TestScoreRFMQuintiles(t *testing.T) {
	var members []RFMInput
	for i := 1; i <= 10; i++ {
		purchases := int64(3)
		if i > 5 {
			purchases = 7
		}
		members = append(members, RFMInput{
			MemberID:     fmt.Sprintf("m%02d", i),
			LastPurchase: rfmDaysAgo(i - 1), // m01 bought most recently
			Purchases:    purchases,
			Spend:        decimal.NewFromInt(int64(i)),
		})
	}
	got := ScoreRFM(rfmAsOf(), members, nil)
	if len(got) != len(members) {
		t.Fatalf("got %d scores, want %d", len(got), len(members))
	}
	wantM := []int{1, 1, 2, 2, 3, 3, 4, 4, 5, 5}
	wantR := []int{5, 5, 4, 4, 3, 3, 2, 2, 1, 1}
	// The 5 members with 3 purchases share ranks 0-4 of 10, mid-rank
	// percentile (0 + 5/2) / 10: 1 + floor(1.25) = 2; the 5 with 7 share ranks
	// 5-9, (5 + 5/2) / 10: 1 + floor(3.75) = 4.
	wantF := []int{2, 2, 2, 2, 2, 4, 4, 4, 4, 4}
	for i, s := range got {
		if s.MemberID != members[i].MemberID {
			t.Fatalf("score %d is for %s, want input order (%s)", i, s.MemberID, members[i].MemberID)
		}
		if s.R != wantR[i] || s.F != wantF[i] || s.M != wantM[i] {
			t.Errorf("%s: R F M = %d %d %d, want %d %d %d", s.MemberID, s.R, s.F, s.M, wantR[i], wantF[i], wantM[i])
		}
		if want := RFMSegment(s.R, s.F, s.M); s.Segment != want {
			t.Errorf("%s: segment %q, want %q", s.MemberID, s.Segment, want)
		}
	}
}

func TestScoreRFMQuintileTies(t *testing.T) {
	// Spend 10 x1, 20 x3, 30 x4, 40 x2: mid-rank percentiles 0.05, 0.25,
	// 0.6, 0.9 of 10.
	spends := []int64{30, 10, 20, 40, 30, 20, 30, 20, 40, 30}
	want := map[int64]int{10: 1, 20: 2, 30: 4, 40: 5}
	var members []RFMInput
	for i, sp := range spends {
		members = append(members, RFMInput{
			MemberID:     fmt.Sprintf("m%02d", i),
			LastPurchase: rfmDaysAgo(3),
			Purchases:    1,
			Spend:        decimal.NewFromInt(sp),
		})
	}
	// Equal decimals of different exponents are the same value.
	members[0].Spend = decimal.RequireFromString("30.00")
	for i, s := range ScoreRFM(rfmAsOf(), members, nil) {
		if s.M != want[spends[i]] {
			t.Errorf("%s spend %d: M = %d, want %d", s.MemberID, spends[i], s.M, want[spends[i]])
		}
		// Members who all bought the same day, as often, are in the middle.
		if s.R != 3 || s.F != 3 {
			t.Errorf("%s: all-equal recency and frequency score R %d F %d, want 3 3", s.MemberID, s.R, s.F)
		}
	}
}

func TestScoreRFMRecencyDays(t *testing.T) {
	for _, c := range []struct {
		last time.Time
		want int64
	}{
		{rfmAsOf(), 0},
		{rfmAsOf().Add(time.Hour), 0}, // after asOf: never negative
		{rfmAsOf().Add(-23*time.Hour - 59*time.Minute), 0},
		{rfmAsOf().Add(-24 * time.Hour), 1},
		{rfmAsOf().Add(-47 * time.Hour), 1},
		{rfmAsOf().Add(-48 * time.Hour), 2},
		{rfmAsOf().AddDate(-1, 0, 0), 365},  // no 29 February in between
		{rfmAsOf().AddDate(-1, -5, 0), 517}, // 29 February 2024 in between
	} {
		if got := rfmRecencyDays(rfmAsOf(), c.last); got != c.want {
			t.Errorf("recency of %s = %d days, want %d", c.last, got, c.want)
		}
	}
	th := rfmTestThresholds()
	th.RecencyDays = []int64{0, 1, 2, 3}
	for _, c := range []struct {
		last time.Time
		want int
	}{
		{rfmAsOf().Add(time.Hour), 5},
		{rfmAsOf().Add(-23 * time.Hour), 5},
		{rfmAsOf().Add(-25 * time.Hour), 4},
		{rfmAsOf().Add(-71 * time.Hour), 3},
		{rfmAsOf().Add(-72 * time.Hour), 2},
		{rfmAsOf().Add(-96 * time.Hour), 1},
	} {
		got := ScoreRFM(rfmAsOf(), []RFMInput{{MemberID: "m", LastPurchase: c.last, Purchases: 1}}, th)
		if got[0].R != c.want {
			t.Errorf("last purchase %s: R = %d, want %d", c.last, got[0].R, c.want)
		}
	}
}

func TestScoreRFMEmpty(t *testing.T) {
	if got := ScoreRFM(rfmAsOf(), nil, nil); len(got) != 0 {
		t.Errorf("ScoreRFM(nil) = %v, want none", got)
	}
	one := ScoreRFM(rfmAsOf(), []RFMInput{{MemberID: "a", LastPurchase: rfmAsOf(), Purchases: 9, Spend: decimal.NewFromInt(99)}}, nil)
	// A lone buyer is as good as the middle, not lost.
	if s := one[0]; s.R != 3 || s.F != 3 || s.M != 3 || s.Segment != SegmentLoyal {
		t.Errorf("single member: %+v, want 3 3 3 loyal", s)
	}
}

func rfmTestThresholds() *RFMThresholds {
	return &RFMThresholds{
		RecencyDays: []int64{7, 30, 90, 180},
		Frequency:   []int64{2, 4, 8, 16},
		Monetary: []decimal.Decimal{
			decimal.NewFromInt(100), decimal.NewFromInt(500),
			decimal.NewFromInt(1000), decimal.NewFromInt(5000),
		},
	}
}

func TestScoreRFMThresholds(t *testing.T) {
	th := rfmTestThresholds()
	if err := th.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		days      int
		purchases int64
		spend     string
		r, f, m   int
	}{
		{0, 1, "0", 5, 1, 1},
		{7, 2, "100", 5, 2, 2},
		{8, 3, "99.99", 4, 2, 1},
		{30, 4, "100.00", 4, 3, 2},
		{31, 7, "499.99", 3, 3, 2},
		{90, 8, "500", 3, 4, 3},
		{91, 15, "999.999", 2, 4, 3},
		{180, 16, "1000", 2, 5, 4},
		{181, 17, "4999.99", 1, 5, 4},
		{1000, 1000, "5000", 1, 5, 5},
		{365, 0, "-20", 1, 1, 1},
	} {
		in := RFMInput{
			MemberID:     "m",
			LastPurchase: rfmDaysAgo(c.days),
			Purchases:    c.purchases,
			Spend:        decimal.RequireFromString(c.spend),
		}
		// Other members do not change threshold scores.
		others := []RFMInput{{MemberID: "x", LastPurchase: rfmAsOf(), Purchases: 100, Spend: decimal.NewFromInt(1e6)}}
		for _, members := range [][]RFMInput{{in}, append(others, in)} {
			s := ScoreRFM(rfmAsOf(), members, th)[len(members)-1]
			if s.R != c.r || s.F != c.f || s.M != c.m {
				t.Errorf("days %d purchases %d spend %s: R F M = %d %d %d, want %d %d %d",
					c.days, c.purchases, c.spend, s.R, s.F, s.M, c.r, c.f, c.m)
			}
			if want := RFMSegment(c.r, c.f, c.m); s.Segment != want {
				t.Errorf("days %d: segment %q, want %q", c.days, s.Segment, want)
			}
		}
	}
}

func TestRFMThresholdsValidate(t *testing.T) {
	var none *RFMThresholds
	if err := none.Validate(); err != nil {
		t.Errorf("nil thresholds: %v", err)
	}
	dec := func(vs ...string) []decimal.Decimal {
		var out []decimal.Decimal
		for _, v := range vs {
			out = append(out, decimal.RequireFromString(v))
		}
		return out
	}
	ok := rfmTestThresholds()
	ok.RecencyDays = []int64{0, 1, 2, 3}
	ok.Frequency = []int64{1, 2, 3, 4}
	ok.Monetary = dec("-10", "0", "0.01", "1")
	if err := ok.Validate(); err != nil {
		t.Errorf("valid thresholds: %v", err)
	}
	for name, c := range map[string]struct {
		mutate func(*RFMThresholds)
		field  string
	}{
		"recency missing":        {func(t *RFMThresholds) { t.RecencyDays = nil }, "recency_days"},
		"recency 3 cuts":         {func(t *RFMThresholds) { t.RecencyDays = []int64{1, 2, 3} }, "recency_days"},
		"recency 5 cuts":         {func(t *RFMThresholds) { t.RecencyDays = []int64{1, 2, 3, 4, 5} }, "recency_days"},
		"recency repeated":       {func(t *RFMThresholds) { t.RecencyDays = []int64{7, 30, 30, 180} }, "recency_days"},
		"recency descending":     {func(t *RFMThresholds) { t.RecencyDays = []int64{180, 90, 30, 7} }, "recency_days"},
		"recency negative":       {func(t *RFMThresholds) { t.RecencyDays = []int64{-1, 30, 90, 180} }, "recency_days"},
		"frequency 3 cuts":       {func(t *RFMThresholds) { t.Frequency = []int64{2, 4, 8} }, "frequency"},
		"frequency repeated":     {func(t *RFMThresholds) { t.Frequency = []int64{2, 4, 8, 8} }, "frequency"},
		"frequency zero":         {func(t *RFMThresholds) { t.Frequency = []int64{0, 4, 8, 16} }, "frequency"},
		"monetary missing":       {func(t *RFMThresholds) { t.Monetary = nil }, "monetary"},
		"monetary equal decimal": {func(t *RFMThresholds) { t.Monetary = dec("100", "100.00", "500", "1000") }, "monetary"},
		"monetary descending":    {func(t *RFMThresholds) { t.Monetary = dec("100", "500", "400", "1000") }, "monetary"},
	} {
		th := rfmTestThresholds()
		c.mutate(th)
		err := th.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.field+":") {
			t.Errorf("%s: Validate() = %v, want an error on %s", name, err, c.field)
			continue
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: ScoreRFM did not panic on invalid thresholds", name)
				}
			}()
			ScoreRFM(rfmAsOf(), []RFMInput{{MemberID: "m", LastPurchase: rfmAsOf(), Purchases: 1}}, th)
		}()
	}
}

// Every dimension at fault is reported, each on its own line.
func TestRFMThresholdsValidateReportsEveryDimension(t *testing.T) {
	th := &RFMThresholds{RecencyDays: []int64{-1, 30, 90, 180}, Frequency: []int64{2, 4, 8}, Monetary: nil}
	err := th.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"recency_days: cut points must be >= 0 days, got -1", "frequency: need 4 cut points, got 3", "monetary: need 4 cut points, got 0"}
	if !slices.Equal(lines, want) {
		t.Fatalf("Validate() =\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// rfmReferenceQuintile is the quintile rule computed directly, in O(n²) and
// in decimals: min(5, 1 + floor(5 * (worse + ties/2) / n)).
func rfmReferenceQuintile(n, i int, worse func(a, b int) int) int {
	below, ties := 0, 0
	for j := range n {
		switch c := worse(j, i); {
		case c < 0:
			below++
		case c == 0:
			ties++
		}
	}
	p := decimal.NewFromInt(int64(below)).Add(decimal.NewFromInt(int64(ties)).Div(decimal.NewFromInt(2)))
	return min(5, 1+int(p.Mul(decimal.NewFromInt(5)).Div(decimal.NewFromInt(int64(n))).Floor().IntPart()))
}

func TestScoreRFMDeterministicAndOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var members []RFMInput
	for i := range 237 {
		members = append(members, RFMInput{
			MemberID: fmt.Sprintf("m%03d", i),
			// Few distinct values, so ties are common.
			LastPurchase: rfmAsOf().Add(-time.Duration(rng.IntN(40*24)) * time.Hour),
			Purchases:    1 + rng.Int64N(12),
			Spend:        decimal.New(rng.Int64N(2000)-100, -1),
		})
	}
	for _, th := range []*RFMThresholds{nil, rfmTestThresholds()} {
		base := ScoreRFM(rfmAsOf(), members, th)
		want := rfmByMember(t, base)
		if !slices.Equal(base, ScoreRFM(rfmAsOf(), members, th)) {
			t.Fatal("ScoreRFM is not deterministic")
		}
		if th == nil {
			n := len(members)
			days := func(i int) int64 { return rfmRecencyDays(rfmAsOf(), members[i].LastPurchase) }
			worseR := func(a, b int) int { return int(days(b) - days(a)) }
			worseF := func(a, b int) int { return int(members[a].Purchases - members[b].Purchases) }
			worseM := func(a, b int) int { return members[a].Spend.Cmp(members[b].Spend) }
			counts := map[int]int{}
			for i, s := range base {
				r := rfmReferenceQuintile(n, i, worseR)
				f := rfmReferenceQuintile(n, i, worseF)
				m := rfmReferenceQuintile(n, i, worseM)
				if s.R != r || s.F != f || s.M != m {
					t.Errorf("%s: R F M = %d %d %d, reference %d %d %d", s.MemberID, s.R, s.F, s.M, r, f, m)
				}
				counts[s.M]++
			}
			for score := 1; score <= 5; score++ {
				if counts[score] == 0 {
					t.Errorf("no member scored M=%d over %d varied members", score, n)
				}
			}
		}
		for range 5 {
			shuffled := slices.Clone(members)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got := ScoreRFM(rfmAsOf(), shuffled, th)
			for i, s := range got {
				if s.MemberID != shuffled[i].MemberID {
					t.Fatalf("score %d is for %s, want input order (%s)", i, s.MemberID, shuffled[i].MemberID)
				}
				if s != want[s.MemberID] {
					t.Errorf("%s: shuffled %+v, original %+v", s.MemberID, s, want[s.MemberID])
				}
			}
		}
	}
}
