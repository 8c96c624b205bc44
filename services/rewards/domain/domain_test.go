package domain

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
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

// A refusal names its first cause: the reward not redeemable now, then
// out of stock, then not for this member, then the limit, then points.
func TestMissingReason(t *testing.T) {
	for _, c := range []struct {
		m    Missing
		want fault.Reason
	}{
		{Missing{PointsShort: 5}, fault.InsufficientPoints},
		{Missing{PointsShort: 5, MemberLimitReached: true}, fault.RedemptionLimitReached},
		{Missing{MemberLimitReached: true, TierNeeded: "gold"}, fault.RewardNotRedeemable},
		{Missing{OutOfStock: true, SegmentNotEligible: true, PointsShort: 1}, fault.RewardOutOfStock},
		{Missing{OutOfStock: true, Inactive: true}, fault.RewardNotRedeemable},
		{Missing{OutsideValidity: true}, fault.RewardNotRedeemable},
	} {
		if got := fault.ReasonOf(c.m.Err()); got != c.want {
			t.Errorf("%+v: %s, want %s", c.m, got, c.want)
		}
	}
	if f, _ := fault.As(Missing{PointsShort: 5}.Err()); f.Metadata["points_short"] != "5" {
		t.Errorf("metadata %v", f.Metadata)
	}
}

// A masked update takes the named fields, and only them; no fields: all.
func TestTermsWith(t *testing.T) {
	old := Terms{Name: "Old", Description: "d", PointsCost: 10, Type: TypeFreeProduct, ProductSKU: "sku", StockTotal: 3}
	upd := Terms{Name: "New", PointsCost: 20, Type: TypeVoucherPercent, Percent: decimal.NewFromInt(5)}
	got := old.With(upd, []TermsField{FieldName, FieldBenefit})
	want := Terms{Name: "New", Description: "d", PointsCost: 10, Type: TypeVoucherPercent, Percent: decimal.NewFromInt(5), StockTotal: 3}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("masked %+v, want %+v", got, want)
	}
	if got := old.With(upd, nil); !reflect.DeepEqual(got, upd) {
		t.Fatalf("unmasked %+v, want %+v", got, upd)
	}
	// Every field, on its own, changes something.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	every := Terms{Name: "N", Description: "D", PointsCost: 1, Type: TypePartner, PartnerID: "p", ValidFrom: now, ValidUntil: now,
		VoucherValidity: time.Hour, StockTotal: 9, MemberLimit: 1, LimitPeriod: period.Day, MinTier: "gold", Segments: []string{"s"},
		StoreIDs: []string{"st"}, Channels: []Channel{ChannelPOS}}
	for _, f := range TermsFields {
		if got := (Terms{}).With(every, []TermsField{f}); reflect.DeepEqual(got, Terms{}) {
			t.Errorf("field %s changed nothing", f)
		}
	}
}

// An etag is the reward's version; an empty one asks for no check; a
// stale one is ABORTED with ETAG_MISMATCH.
func TestEtag(t *testing.T) {
	r := &Reward{ID: "r", Version: 3}
	if r.Etag() != "v3" || r.CheckEtag("") != nil || r.CheckEtag("v3") != nil {
		t.Fatalf("etag %q", r.Etag())
	}
	f, ok := fault.As(r.CheckEtag("v2"))
	if !ok || f.Kind != fault.KindAborted || f.Reason != fault.EtagMismatch {
		t.Fatalf("stale etag: %v", f)
	}
}
