package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/money"
	"github.com/fidelis-loyalty/fidelis/services/internal/period"
)

func TestMemberRefsArePerPartner(t *testing.T) {
	s1, _ := NewSalt()
	s2, _ := NewSalt()
	a, b := &Partner{Salt: s1}, &Partner{Salt: s2}
	if first, again := a.MemberRef("m1"), a.MemberRef("m1"); first != again || first == a.MemberRef("m2") {
		t.Fatal("refs are not stable per member")
	}
	if a.MemberRef("m1") == b.MemberRef("m1") || strings.Contains(a.MemberRef("m1"), "m1") {
		t.Fatal("refs link across partners or reveal the member")
	}
}

func TestOfferBonusAndCheck(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	o := &Offer{ID: "o", OfferTerms: OfferTerms{Kind: OfferMultiplier, Multiplier: decimal.RequireFromString("1.5"), Tiers: []string{"gold"},
		CapPerMember: 2, CapPeriod: period.Month, MinInterval: time.Hour, BudgetPoints: 100}}
	if got := o.Bonus(33, money.RoundFloor); got != 16 {
		t.Fatalf("bonus %d, want 16 (half of 33, rounded down)", got)
	}
	gold := Target{Consent: true, Tier: "gold"}
	for name, tc := range map[string]struct {
		m     Target
		u     Usage
		bonus int64
		ok    bool
	}{
		"eligible":      {gold, Usage{}, 10, true},
		"no consent":    {Target{Tier: "gold"}, Usage{}, 10, false},
		"wrong tier":    {Target{Consent: true, Tier: "blue"}, Usage{}, 10, false},
		"capped":        {gold, Usage{Used: 2}, 10, false},
		"too soon":      {gold, Usage{Used: 1, LastAt: now.Add(-time.Minute)}, 10, false},
		"over budget":   {gold, Usage{}, 101, false},
		"after a while": {gold, Usage{Used: 1, LastAt: now.Add(-2 * time.Hour)}, 10, true},
	} {
		if err := o.Check(tc.m, tc.u, tc.bonus, now); (err == nil) != tc.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}
