package storetest

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestEqual(t *testing.T) {
	type row struct {
		At     time.Time
		Amount decimal.Decimal
		Tags   []string
		Next   *row
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := row{At: at, Amount: decimal.RequireFromString("12.50"), Next: &row{At: at}}
	b := row{At: at.In(paris), Amount: decimal.RequireFromString("12.5"), Tags: []string{}, Next: &row{At: at}}
	if !Equal(a, b) {
		t.Errorf("Equal(%s, %s) = false", Show(a), Show(b))
	}
	for _, c := range []row{
		{At: at.Add(time.Microsecond), Amount: a.Amount, Next: a.Next},
		{At: at, Amount: decimal.RequireFromString("12.51"), Next: a.Next},
		{At: at, Amount: a.Amount, Tags: []string{"x"}, Next: a.Next},
		{At: at, Amount: a.Amount},
		{At: at, Amount: a.Amount, Next: &row{}},
	} {
		if Equal(a, c) {
			t.Errorf("Equal(%s, %s) = true", Show(a), Show(c))
		}
	}
	if !Equal(map[string]int{"a": 1}, map[string]int{"a": 1}) || Equal(map[string]int{"a": 1}, map[string]int{"b": 1}) {
		t.Error("maps")
	}
}
