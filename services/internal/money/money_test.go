package money

import (
	"testing"

	"github.com/shopspring/decimal"
)

func TestRound(t *testing.T) {
	for _, tc := range []struct {
		r    Rounding
		in   string
		want int64
	}{
		{RoundFloor, "12.99", 12}, {RoundCeil, "12.01", 13}, {RoundHalfUp, "12.5", 13},
		{RoundHalfEven, "12.5", 12}, {RoundHalfEven, "13.5", 14}, {RoundHalfUp, "12.49", 12},
		{RoundFloor, "-1.5", -2}, {RoundCeil, "-1.5", -1}, {RoundHalfUp, "-1.5", -2}, {RoundHalfEven, "-1.5", -2},
		{RoundFloor, "7", 7}, {RoundCeil, "7", 7},
		{"", "12.99", 12}, {"unknown", "12.99", 12},
	} {
		if got := tc.r.Round(decimal.RequireFromString(tc.in)); got != tc.want {
			t.Errorf("%q.Round(%s) = %d, want %d", tc.r, tc.in, got, tc.want)
		}
	}
}

// The names are stored with partners and written in programme
// configurations: they must never change.
func TestRoundingNames(t *testing.T) {
	for r, name := range map[Rounding]string{RoundFloor: "floor", RoundCeil: "ceil", RoundHalfUp: "half_up", RoundHalfEven: "half_even"} {
		if string(r) != name {
			t.Errorf("rounding %q is spelled %q", name, r)
		}
		if got, err := ParseRounding(name); err != nil || got != r {
			t.Errorf("ParseRounding(%q) = %q, %v", name, got, err)
		}
	}
	for _, bad := range []string{"", "up", "Floor", "half-up"} {
		if got, err := ParseRounding(bad); err == nil {
			t.Errorf("ParseRounding(%q) = %q, want an error", bad, got)
		}
	}
	if _, err := ParseRounding("up"); err == nil || err.Error() != `unknown rounding "up": want floor, ceil, half_up or half_even` {
		t.Errorf("ParseRounding(up): %v", err)
	}
}

// Micros are stored (partner transactions, spend projections): whole
// millionths, half away from zero.
func TestMicros(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1": 1_000_000, "12.345678": 12_345_678, "12.3456785": 12_345_679, "12.3456784": 12_345_678,
		"-0.0000005": -1, "-2.5": -2_500_000, "0.008": 8_000,
	} {
		if got := Micros(decimal.RequireFromString(in)); got != want {
			t.Errorf("Micros(%s) = %d, want %d", in, got, want)
		}
	}
	for v, want := range map[int64]string{0: "0", 1: "0.000001", 12_345_679: "12.345679", -2_500_000: "-2.5"} {
		if got := FromMicros(v); got.String() != want {
			t.Errorf("FromMicros(%d) = %s, want %s", v, got, want)
		}
		if Micros(FromMicros(v)) != v {
			t.Errorf("Micros(FromMicros(%d)) = %d", v, Micros(FromMicros(v)))
		}
	}
}
