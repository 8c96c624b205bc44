// Package money is the money vocabulary the Fidelis services share: an
// amount of a currency, how fractional points round to whole ones, and
// amounts stored as whole millionths. Amounts and rates are decimals
// (shopspring/decimal), never floats. It does no I/O.
package money

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Money is a decimal amount of a currency.
type Money struct {
	Amount   decimal.Decimal
	Currency string
}

// Rounding says how fractional points are turned into whole points. Its
// values are stored (a partner's rounding) and configured (a programme's):
// they never change.
type Rounding string

// Rounding modes.
const (
	RoundFloor    Rounding = "floor"
	RoundCeil     Rounding = "ceil"
	RoundHalfUp   Rounding = "half_up"
	RoundHalfEven Rounding = "half_even"
)

// ParseRounding reads a rounding mode by its name.
func ParseRounding(s string) (Rounding, error) {
	switch r := Rounding(s); r {
	case RoundFloor, RoundCeil, RoundHalfUp, RoundHalfEven:
		return r, nil
	}
	return "", fmt.Errorf("unknown rounding %q: want %s, %s, %s or %s", s, RoundFloor, RoundCeil, RoundHalfUp, RoundHalfEven)
}

// Round turns d into whole points; an unknown mode rounds down.
func (r Rounding) Round(d decimal.Decimal) int64 {
	switch r {
	case RoundCeil:
		return d.Ceil().IntPart()
	case RoundHalfUp:
		return d.Round(0).IntPart()
	case RoundHalfEven:
		return d.RoundBank(0).IntPart()
	default:
		return d.Floor().IntPart()
	}
}

// Micros turns an amount into whole millionths, rounding half away from
// zero: the form amounts are summed and stored in.
func Micros(d decimal.Decimal) int64 { return d.Shift(6).Round(0).IntPart() }

// FromMicros turns millionths back into an amount.
func FromMicros(v int64) decimal.Decimal { return decimal.New(v, -6) }
