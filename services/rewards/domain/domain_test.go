package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/period"
)

func TestVoucherCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		c, err := NewVoucherCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 21 || strings.Count(c, "-") != 4 {
			t.Fatalf("code %q is not XXXX-XXXX-XXXX-XXXX-C", c)
		}
		if seen[c] {
			t.Fatalf("code %q twice", c)
		}
		seen[c] = true
		n, err := NormalizeVoucherCode(strings.ToLower(strings.ReplaceAll(c, "-", "")))
		if err != nil || n != c {
			t.Fatalf("normalize %q: %q %v", c, n, err)
		}
		// Any single mistyped character is caught.
		for i := range c {
			if c[i] == '-' {
				continue
			}
			for _, r := range alphabet {
				if byte(r) == c[i] {
					continue
				}
				bad := c[:i] + string(r) + c[i+1:]
				if _, err := NormalizeVoucherCode(bad); err == nil {
					t.Fatalf("%q (from %q) accepted", bad, c)
				}
			}
		}
	}
	for _, bad := range []string{"", "ABC", "UUUU-UUUU-UUUU-UUUU-U", strings.Repeat("0", 18)} {
		if _, err := NormalizeVoucherCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRewardCheck(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	r := &Reward{State: StateActive, Terms: Terms{PointsCost: 100, StockTotal: 2, MemberLimit: 1, LimitPeriod: period.Month,
		MinTier: "silver", Segments: []string{"champions"}, ValidUntil: now.Add(time.Hour)}}
	tiers := []string{"blue", "silver", "gold"}
	if m := r.Check(MemberView{Available: 100, Tier: "gold", Segment: "champions"}, tiers, 0, now); !m.OK() {
		t.Fatalf("eligible member refused: %+v", m)
	}
	m := r.Check(MemberView{Available: 40, Tier: "blue", Segment: "lost"}, tiers, 1, now.Add(2*time.Hour))
	want := Missing{PointsShort: 60, TierNeeded: "silver", SegmentNotEligible: true, MemberLimitReached: true, OutsideValidity: true}
	if m != want {
		t.Fatalf("missing %+v, want %+v", m, want)
	}
	if err := m.Err(); !strings.Contains(err.Error(), "60 more points") || !strings.Contains(err.Error(), "tier silver") {
		t.Fatalf("refusal %v", err)
	}
	r.StockAllocated = 2
	if m := r.Check(MemberView{Available: 100, Tier: "gold", Segment: "champions"}, tiers, 0, now); !m.OutOfStock {
		t.Fatalf("out of stock not seen: %+v", m)
	}
}

func TestTermsValidate(t *testing.T) {
	ok := Terms{Type: TypeVoucherPercent, Percent: decimal.NewFromInt(15), VoucherValidity: time.Hour, PointsCost: 1, StockTotal: 1}
	if err := ok.Validate(nil); err != nil {
		t.Fatal(err)
	}
	over := ok
	over.Percent = decimal.NewFromInt(101)
	if err := over.Validate(nil); err == nil {
		t.Fatal("101% accepted")
	}
	partner := Terms{Type: TypePartner, VoucherValidity: time.Hour}
	if err := partner.Validate(nil); err == nil {
		t.Fatal("partner reward without partner accepted")
	}
}
